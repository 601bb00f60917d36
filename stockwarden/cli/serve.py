"""The long-running processes of a deployment: the Temporal worker, the API and pages, the codec server for
the Temporal UI; each runs until SIGINT or SIGTERM and then stops in order."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import Engine
from temporalio.client import Client

from core.settings import get_settings
from core.temporal import connect
from stockwarden.cli.common import database, reported, say, secret_checked
from stockwarden.stopping import stopped_by_signals
from stockwarden.temporal import build_worker, ensure_checkpoint_schedule, ensure_dispatcher, ensure_scan_schedule

if TYPE_CHECKING:
    import uvicorn  # imported when serving: the other commands start faster without it


def api_server(engine: Engine, client: Client, host: str | None = None, port: int | None = None) -> uvicorn.Server:
    """uvicorn serving the app; where to listen defaults to the host and port of STOCKWARDEN_PUBLIC_URL."""
    import uvicorn

    from api.app import create_app

    settings = get_settings()
    public_host, _, public_port = settings.public_url.removeprefix("http://").removeprefix("https://").partition(":")
    return uvicorn.Server(uvicorn.Config(create_app(engine, client, settings), host=host or public_host or "127.0.0.1",
                                         port=port or int(public_port.split("/")[0] or 8000), log_level="warning"))


async def serve_until_stopped(server: uvicorn.Server) -> None:
    """uvicorn's serve() until SIGINT or SIGTERM, which then return here rather than interrupt what follows."""
    with stopped_by_signals(lambda: setattr(server, "should_exit", True)):
        await server.serve()


def worker_command() -> None:
    """Run a Temporal worker for Stockwarden's workflows and activities until interrupted."""
    secret_checked()
    settings = get_settings()
    engine = database()

    async def serve() -> None:
        client = await connect()
        await ensure_scan_schedule(client, settings.task_queue, settings.scan_cron, settings.scan_partitions)
        await ensure_dispatcher(client, settings.task_queue, settings.notify_interval_seconds, settings.digest_hour)
        await ensure_checkpoint_schedule(client, settings.task_queue, settings.audit_checkpoint_cron)
        stop = asyncio.Event()
        async with build_worker(client, engine, settings.task_queue):
            with stopped_by_signals(stop.set):
                say(f"Worker on {settings.temporal_address}, namespace {settings.temporal_namespace}, "
                    f"task queue {settings.task_queue}; scans scheduled '{settings.scan_cron}', audit "
                    f"checkpoints '{settings.audit_checkpoint_cron}' (UTC). "
                    f"Ctrl-C or SIGTERM stops.")
                await stop.wait()
            say("Stopping: activities in flight finish first.")

    try:
        with reported("no worker runs"):
            asyncio.run(serve())
    except KeyboardInterrupt:  # before the worker ran; afterwards Ctrl-C stops it in order (stopping.py)
        say("Interrupted before the worker ran.")
        raise typer.Exit(130) from None
    say("Worker stopped.")


def serve_command(
    host: Annotated[str | None, typer.Option("--host", help="Listen here (default: STOCKWARDEN_PUBLIC_URL's host; "
                                             "0.0.0.0 in a container).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen on this port (default: the public URL's).")] = None,
) -> None:
    """Serve the API and the pages against the configured database and Temporal (production; workers run
    apart with `stockwarden worker`). Tokens come from `stockwarden token create`."""
    secret_checked()
    engine = database()
    settings = get_settings()

    async def serve() -> None:
        client = await connect()
        say(f"API and pages at {settings.public_url} (listening on {host or 'the public host'}:{port or 'its port'}); "
            f"Temporal {settings.temporal_address}")
        await serve_until_stopped(api_server(engine, client, host, port))

    try:
        with reported("the API is not served"):
            asyncio.run(serve())
    except KeyboardInterrupt:  # before uvicorn took over the signals
        say("Interrupted before the API was served.")
        raise typer.Exit(130) from None
    say("API stopped.")


def codec_server_command(
    host: Annotated[str, typer.Option("--host", help="Listen here; beyond localhost only with "
                                      "STOCKWARDEN_CODEC_SERVER_TOKEN set.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Listen on this port.")] = 8081,
) -> None:
    """Serve the codec endpoint for the Temporal UI and CLI (POST /encode, /decode): it shows cases' payloads
    in clear to whoever may call it, so it needs a bearer token, or listens on localhost only."""
    secret_checked()
    import uvicorn

    from core.codec import PayloadEncryption
    from core.temporal import converter
    from stockwarden.codec_server import LOOPBACK, create_codec_app

    settings = get_settings()
    if host not in LOOPBACK and not settings.codec_server_token:
        say(f"error: the codec server decrypts every payload; to listen on {host} set "
            "STOCKWARDEN_CODEC_SERVER_TOKEN (its callers send it as 'Authorization: Bearer <token>'), or keep "
            "the default --host 127.0.0.1.")
        raise typer.Exit(2)
    codec = converter(settings).payload_codec
    assert isinstance(codec, PayloadEncryption)  # the converter of the secret key always encrypts
    app_ = create_codec_app(codec, settings.codec_server_token, settings.codec_server_origin)
    guard = "a bearer token" if settings.codec_server_token else "no token: localhost only"
    say(f"Codec server on http://{host}:{port} ({guard}; the UI's origin {settings.codec_server_origin}). "
        f"Ctrl-C stops.")
    server = uvicorn.Server(uvicorn.Config(app_, host=host, port=port, log_level="warning"))
    asyncio.run(serve_until_stopped(server))
    say("Codec server stopped.")
