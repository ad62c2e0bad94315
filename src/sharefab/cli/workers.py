"""Several server processes on one port, with connections spread by the kernel.

``uvicorn --workers N`` shares one listening socket between its processes, and whichever is
awake first accepts: a burst of new connections often all lands on one process. With
keep-alive clients that process then serves all of them (one core, under the GIL) while the
others idle; measured with 32 clients on 2 workers, one worker got every connection in some
runs. Here each worker process binds its *own* socket with ``SO_REUSEPORT``, and Linux spreads
new connections over the listening sockets by a hash of the connection's addresses.

The parent process starts the workers (``spawn``), forwards ``SIGINT``/``SIGTERM`` to them,
and stops them all when one exits, returning that worker's exit code.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from collections.abc import Callable
from types import FrameType

#: Pending connections per worker socket.
BACKLOG = 2048


def listening_socket(host: str, port: int, *, reuse_port: bool = True) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening (``SO_REUSEPORT`` if asked)."""
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(info[4])
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def check_port_free(host: str, port: int) -> None:
    """Raise ``OSError`` naming ``host:port`` when the workers could not bind it."""
    try:
        probe = socket.socket(
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0], socket.SOCK_STREAM
        )
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None


def run_workers(count: int, target: Callable[[int], None], *, poll_s: float = 0.2) -> int:
    """Run ``target(index)`` in ``count`` spawned processes until one exits or a signal
    arrives; returns the exit code (that of the first worker to exit, 0 after a signal)."""
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=target, args=(i,), name=f"sharefab-worker-{i}") for i in range(count)
    ]
    stopping: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for worker in workers:
            worker.start()
        code = 0
        while not stopping:
            ended = [w for w in workers if w.exitcode is not None]
            if ended:
                code = ended[0].exitcode or 0
                break
            time.sleep(poll_s)
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: uvicorn finishes open requests and stops
        for worker in workers:
            worker.join(30)
            if worker.is_alive():
                worker.kill()
                worker.join()
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
