"""A listener that records every connection made to it: proof that nothing reached it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest


class Canary:
    def __init__(self) -> None:
        self.connections: list[tuple[str, int]] = []
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._connected = threading.Event()
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        v4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        v4.bind(("127.0.0.1", 0))
        self.port = v4.getsockname()[1]
        self._sockets.append(v4)
        with contextlib.suppress(OSError):  # IPv6 loopback, when the machine has it
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.bind(("::1", self.port))
            self._sockets.append(v6)
        for sock in self._sockets:
            sock.listen(16)
            sock.settimeout(0.2)
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, address = sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections.append(address[:2])
            self._connected.set()
            conn.close()

    def wait_for_connection(self, timeout: float) -> bool:
        """Whether a connection arrived within ``timeout`` seconds (the accept loop runs in its
        own thread, a moment after the connect)."""
        return self._connected.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        for sock in self._sockets:
            sock.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    listener = Canary()
    try:
        yield listener
    finally:
        listener.close()
