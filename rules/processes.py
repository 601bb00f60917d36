"""Scanning on every core: SKU ranges of one scan evaluated by child processes.

The rule engine and the facts around it are Python, so a scan in one process uses one core however
many the machine has (threads share one interpreter lock). A caller with a single thread (the
`stockwarden scan` command) is forked: children start at once with the policy already compiled. A
caller with other threads (a Temporal worker, the API, a client's Rust runtime) is never forked, since
a fork copies their locks mid-step; its children come from a fork server that imported the scan's
modules once, which costs that half second only on the first scan.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from core.db import make_engine


def _only_thread() -> bool:
    """Whether this process runs one thread, counting threads Python did not start (Linux)."""
    tasks = Path("/proc/self/task")
    return tasks.is_dir() and sum(1 for _ in tasks.iterdir()) == 1


@lru_cache(maxsize=1)
def _fork_server() -> BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():  # Windows
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["rules.scan"])
    return context


def _context() -> BaseContext:
    if "fork" in multiprocessing.get_all_start_methods() and _only_thread():
        return multiprocessing.get_context("fork")
    return _fork_server()


def cores(wanted: int) -> int:
    """`wanted` processes, or one per core this process may use when 0."""
    if wanted > 0:
        return wanted
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@lru_cache(maxsize=4)
def child_engine(url: str) -> Engine:
    """The database engine of a child process, made once per URL and reused for every range it takes
    (a forked child never touches the connections it inherited)."""
    return make_engine(url)


def in_processes(function: Callable[..., Any], calls: Iterable[tuple[Any, ...]], processes: int) -> list[Any]:
    """function(*call) for every call, in `processes` children; results in the order of `calls`. The
    first failure is raised here once the calls already running have ended; the others never start."""
    with ProcessPoolExecutor(processes, mp_context=_context()) as pool:
        futures = [pool.submit(function, *call) for call in calls]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
