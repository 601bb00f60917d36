"""Running the installed console program as a person would: `python -m stockwarden.cli ...` in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockwarden.cli", *args], env={**os.environ, **env},
                          cwd=cwd, capture_output=True, text=True, timeout=300)
