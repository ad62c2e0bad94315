"""``sharefab serve --workers N``: N server processes on one port, stopped together."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(db: Path, port: int, workers: int) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "sharefab", "serve", "--db", f"sqlite:///{db}"]
    cmd += ["--port", str(port), "--workers", str(workers), "--no-webhooks"]
    env = {**os.environ, "SHAREFAB_ENV": "test"}
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _wait_healthy(port: int, proc: subprocess.Popen[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become healthy")


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing")
def test_two_workers_serve_one_port_and_stop_together(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path / "w.db", port, 2)
    try:
        _wait_healthy(port, proc)
        for _ in range(40):  # a new connection each time: every one is answered
            with httpx.Client() as client:
                assert client.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/signin").status_code == 200  # pages too
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "2 worker processes" in out
    assert len(set(re.findall(r"Finished server process \[(\d+)\]", out))) == 2, out
    assert "Traceback" not in out, out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing")
def test_a_dead_worker_stops_the_server(tmp_path: Path) -> None:
    port = _free_port()
    proc = _serve(tmp_path / "w.db", port, 2)
    try:
        _wait_healthy(port, proc)
        serving = [
            pid
            for pid in _children(proc.pid)
            if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
        ]
        assert len(serving) == 2
        os.kill(serving[0], signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out
    assert "a worker process exited with -9; stopped the others" in out
    assert not any(Path(f"/proc/{pid}").exists() for pid in serving)


def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _serve(tmp_path / "w.db", port, 2)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in out
    assert "Traceback" not in out
