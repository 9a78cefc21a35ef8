"""A TCP server on loopback for the drills that need an upstream to misbehave:

- ``hang``: accepts every connection and never sends a byte (nor reads one): a TLS handshake
  never completes;
- ``tls-hang``: completes the TLS handshake with the test certificate, reads the request, and
  never answers it;
- ``pass``: relays the bytes both ways to ``target`` (a real server), unchanged.

The mode may change at any time; it applies to connections accepted after the change.
Connections held open are closed by ``stop``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path


class Relay:
    def __init__(self, host: str, *, mode: str = "hang", target: tuple[str, int] | None = None,
                 cert: tuple[Path, Path] | None = None) -> None:  # fmt: skip
        self.host, self.mode, self.target = host, mode, target
        self.accepted = 0
        self._tls = None
        if cert is not None:
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(str(cert[0]), str(cert[1]))
        self._server = socket.create_server((host, 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.append(sock)

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            self._keep(conn)
            mode = self.mode
            if mode == "pass":
                threading.Thread(target=self._relay, args=(conn,), daemon=True).start()
            elif mode == "tls-hang":
                threading.Thread(target=self._tls_hang, args=(conn,), daemon=True).start()
            # "hang": kept open, never read, never written, until stop()

    def _tls_hang(self, conn: socket.socket) -> None:
        assert self._tls is not None, "tls-hang needs a certificate"
        with contextlib.suppress(OSError, ssl.SSLError):
            conn.settimeout(30)
            wrapped = self._tls.wrap_socket(conn, server_side=True)
            self._keep(wrapped)
            wrapped.settimeout(1)
            while not self._stopped.is_set():  # read what comes, answer nothing
                try:
                    if not wrapped.recv(65536):
                        return
                except TimeoutError:
                    continue

    def _relay(self, conn: socket.socket) -> None:
        assert self.target is not None
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            conn.close()
            return
        self._keep(upstream)
        threading.Thread(target=self._pump, args=(upstream, conn), daemon=True).start()
        self._pump(conn, upstream)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            source.settimeout(None)
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        self._stopped.set()
        self._server.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.close()
            self._open.clear()
        self._thread.join(timeout=5)
