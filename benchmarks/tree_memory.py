"""The memory of a process together with all its descendants, for benchmarks whose work runs in child
processes that getrusage does not see (children of a fork server are not the caller's).

    with TreeMemory(folder) as memory: ...;  memory.peak_mib

Sampling runs in another process (`python -m benchmarks.tree_memory PID DONE_FILE`): a thread in the
measured process would change what it measures (rules/processes.py forks only a single-threaded caller).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path


def _tree_resident_mib(root: int) -> float:
    """Resident memory of `root` and its descendants now, leaving out this sampler."""
    parents: dict[int, int] = {}
    resident: dict[int, float] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        with suppress(OSError, ValueError, KeyError):
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            parents[int(status.parent.name)] = int(fields["PPid"])
            resident[int(status.parent.name)] = int(fields.get("VmRSS", "0 kB").split()[0]) / 1024
    tree, grown = {root}, True
    while grown:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grown = bool(found)
    tree.discard(os.getpid())
    return sum(resident.get(pid, 0.0) for pid in tree)


class TreeMemory:
    """The largest sum of resident memory over this process and its descendants, every 100 ms."""

    def __init__(self, folder: Path) -> None:
        self.peak_mib = 0.0
        self._done = folder / "tree-memory.done"

    def __enter__(self) -> TreeMemory:
        self._sampler = subprocess.Popen([sys.executable, "-m", "benchmarks.tree_memory", str(os.getpid()),
                                          str(self._done)], stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)  # its first sample is taken before the measured work starts
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.touch()
        self.peak_mib = float(self._sampler.communicate(timeout=30)[0])


def main() -> None:
    root, done, peak = int(sys.argv[1]), Path(sys.argv[2]), 0.0
    while not done.exists():
        peak = max(peak, _tree_resident_mib(root))
        time.sleep(0.1)
    print(peak)


if __name__ == "__main__":
    main()
