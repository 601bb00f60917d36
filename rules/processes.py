"""Scanning on every core: SKU ranges of one scan evaluated by child processes.

The rule engine and the facts around it are Python, so a scan in one process uses one core however
many the machine has (threads share one interpreter lock). Children come from a fork server that has
imported the scan's modules once, so starting one costs milliseconds, not the half second of importing
SQLAlchemy, pydantic and durable-rules again; and they are never forked from the caller, which may run
threads (a Temporal worker, the API) that a fork would copy mid-step.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from multiprocessing.context import BaseContext
from typing import Any

from sqlalchemy import Engine

from inventory.db import make_engine


@lru_cache(maxsize=1)
def _context() -> BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():  # Windows
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["rules.scan"])
    return context


def cores(wanted: int) -> int:
    """`wanted` processes, or one per core this process may use when 0."""
    if wanted > 0:
        return wanted
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@lru_cache(maxsize=4)
def child_engine(url: str) -> Engine:
    """The database engine of a child process, made once per URL and reused for every range it takes."""
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
