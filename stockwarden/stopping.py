"""How the long-running commands (up, worker, serve) stop: on SIGINT (Ctrl-C) or SIGTERM (docker stop,
systemd) they finish in order instead of being interrupted wherever they are.

Left to asyncio, Ctrl-C cancels the main task at its next await, which may be the middle of the worker's
shutdown; the dev server was then stopped under a worker still polling it, and the process could hang in
the worker's retries (seen in CI: `up` still running 60 s after Ctrl-C). SIGTERM, left alone, killed the
worker between an activity's commit and its report. Here the signal only asks to stop; the command then
leaves its `async with` blocks in order. uvicorn installs its own handlers while it serves and, after its
graceful shutdown, raises the signal again for the handler it found: ours, which has nothing left to do.
A second signal once stopping has begun gets the previous handlers, so it still interrupts."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stopped_by_signals(stop: Callable[[], object]) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM call `stop` on the running event loop (from the main thread)."""
    loop = asyncio.get_running_loop()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stop)

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, was in previous.items():
            signal.signal(number, was)
