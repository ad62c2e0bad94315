"""Server side of the HTTP benchmarks: run the real server (``sharefab serve``, API and pages,
``--workers`` processes each on its own ``SO_REUSEPORT`` socket) in a subprocess on a free
port, and helpers to measure it. The webhook dispatcher and the access log are off (the
benchmarks measure request handling).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

API = "/api/v1"
BENCH_SECRET = "benchmark-secret-key-0123456789abcdefghij"
ROOT = Path(__file__).resolve().parent.parent


class ServerURL(str):
    """The base URL of a running benchmark server, with the server's process id."""

    pid: int


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of each live child of process ``pid`` (uvicorn's worker processes)."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf(
                "SC_CLK_TCK"
            )
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of process ``pid`` and its live children (uvicorn's worker processes)."""
    return cpu_seconds(pid) + sum(children_cpu_seconds(pid).values())


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(url: str, *, workers: int = 1, timeout_s: float = 120.0) -> Iterator[ServerURL]:
    """Start ``sharefab serve`` (``workers`` processes, no access log, no webhook dispatcher)
    on ``url``'s database; yield the base URL (with ``.pid``: with one worker, the process
    serving requests; with several, their parent); stop it afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "SHAREFAB_DATABASE_URL": url,
        "SHAREFAB_SECRET_KEY": BENCH_SECRET,
        "SHAREFAB_ENV": "test",
    }
    cmd = [
        sys.executable, "-m", "sharefab", "serve", "--db", url, "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--no-webhooks", "--no-access-log",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    base = ServerURL(f"http://127.0.0.1:{port}")
    base.pid = proc.pid
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}{API}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not become healthy in time")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def login(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    """The bearer header of ``email``."""
    response = client.post(
        f"{API}/auth/token", data={"username": email, "password": password}, timeout=30
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` (inclusive method)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def summary_ms(values: Sequence[float]) -> str:
    """``p50 / p95 / mean`` in milliseconds."""
    p50, p95 = percentile(values, 0.50) * 1000, percentile(values, 0.95) * 1000
    return f"{p50:8.1f} {p95:8.1f} {statistics.fmean(values) * 1000:8.1f}"
