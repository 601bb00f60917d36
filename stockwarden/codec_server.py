"""The codec server for the Temporal UI and CLI (`stockwarden codec-server`): POST /encode and /decode
with {"payloads": [...]} (the Payloads message as protobuf JSON), so that an operator sees cases in clear.

It decrypts what Temporal's store keeps from view, so it is guarded: with STOCKWARDEN_CODEC_SERVER_TOKEN
set every request must carry `Authorization: Bearer <token>` (the `temporal` CLI sends it with
--codec-auth, the UI with its access token); without one it serves localhost only (`stockwarden
codec-server` refuses to listen elsewhere). Cross-origin requests are answered for the UI's origin alone.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload, Payloads

from core.codec import PayloadEncryption

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_BODY = 16 * 1024 * 1024
"""Bytes of one request; the UI asks for a page of events at a time."""


def create_codec_app(codec: PayloadEncryption, token: str = "", origin: str = "http://localhost:8080") -> FastAPI:
    app = FastAPI(title="Stockwarden codec server", docs_url=None, redoc_url=None, openapi_url=None)

    async def apply(request: Request, step: Callable[[Sequence[Payload]], Awaitable[list[Payload]]]) -> Response:
        if token and not hmac.compare_digest(request.headers.get("authorization", "").encode(),
                                             f"Bearer {token}".encode()):
            return JSONResponse({"detail": "a bearer token is needed (STOCKWARDEN_CODEC_SERVER_TOKEN)"}, 401,
                                headers={"WWW-Authenticate": "Bearer"})
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"detail": f"more than {MAX_BODY:,} bytes"}, 413)
        try:
            payloads = json_format.Parse(body, Payloads())
        except (json_format.ParseError, DecodeError, UnicodeDecodeError) as exc:
            return JSONResponse({"detail": f"not a JSON Payloads message: {exc}"}, 400)
        done = Payloads(payloads=await step(payloads.payloads))
        return Response(json_format.MessageToJson(done), media_type="application/json")

    @app.post("/encode")
    async def encode(request: Request) -> Response:
        return await apply(request, codec.encode)

    @app.post("/decode")
    async def decode(request: Request) -> Response:
        return await apply(request, codec.decode)

    # outermost, so that a refusal (401) carries the CORS headers too and the UI can say why
    app.add_middleware(CORSMiddleware, allow_origins=[origin], allow_methods=["POST"], allow_credentials=True,
                       allow_headers=["content-type", "x-namespace", "authorization"])
    return app
