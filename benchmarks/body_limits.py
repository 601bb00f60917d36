"""What a large body sent without a token costs the server: the peak RSS (VmHWM) of the API under uvicorn
before and after one 16 MB JSON body posted to /snapshots/records with no Authorization header.

    .venv/bin/python benchmarks/body_limits.py                    # this checkout
    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/body_limits.py   # another one

The server runs in its own process on a fresh SQLite database (no Temporal needed: the route refuses
first), so its memory is the app's alone. Not a test: a number for the README and the security notes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

SERVER = """
import sys
import uvicorn
from api.app import create_app
from core.db import make_engine, migrate
from core.settings import Settings
url, var, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = make_engine(url)
migrate(engine)
uvicorn.run(create_app(engine, None, Settings(var_dir=var)), host="127.0.0.1", port=port, log_level="warning")
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _post(port: int, body: bytes) -> int | str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/snapshots/records", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)
    except (urllib.error.URLError, ConnectionError) as closed:  # answered and closed before the body was all sent
        return f"connection closed by the server ({closed})"


def main() -> None:
    lots = [{"sku": f"SKU-{n:07d}", "site": "SH01", "lot": f"L{n}", "serial": "", "qty": 1,
             "received_on": "2025-01-10", "qc_status": "released"} for n in range(140_000)]
    body = json.dumps({"as_of": "2026-11-25", "materials": [{"sku": "SKU-0000000"}], "lots": lots}).encode()
    with tempfile.TemporaryDirectory() as folder:
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-c", SERVER, f"sqlite:///{folder}/sw.db", folder, str(port)],
                                  env=os.environ.copy())
        try:
            for _ in range(1200):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                raise SystemExit("the server did not start")
            before = _peak_mib(server.pid)
            status = _post(port, body)
            time.sleep(0.5)
            after = _peak_mib(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{len(body) / 2**20:.1f} MiB JSON body, no token: answer {status}; server peak RSS {before:.0f} MiB before, "
          f"{after:.0f} MiB after (+{after - before:.0f} MiB)")


if __name__ == "__main__":
    main()
