"""Helpers for tests against a real Mosquitto: a private broker process, numbered streams."""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from sharefab.iot.devices import BrokerConfig, write_broker_files

PG_ONLY = pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 5.0) -> None:
    """Wait until something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on port {port}")


class MosquittoProcess:
    """A private ``mosquitto`` on a free port with persistence in a temp directory."""

    def __init__(self, directory: Path, **config: int) -> None:
        binary = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
        )
        if binary is None:
            raise FileNotFoundError("mosquitto")
        self.binary = binary
        self.port = free_port()
        data = directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        cfg = BrokerConfig(
            port=self.port,
            persistence_dir=str(data),
            auth=False,
            user=getpass.getuser(),
            **config,  # type: ignore[arg-type]
        )
        self.conf = write_broker_files(directory, cfg, session=None, ingest_password=None)["conf"]
        self.log = directory / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the broker and wait until it listens."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        wait_port(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the broker (SIGTERM: a clean stop that saves its persistence file)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)
        self.proc = None


async def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``predicate()`` until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return bool(predicate())
