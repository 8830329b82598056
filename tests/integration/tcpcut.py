"""A TCP forwarder on loopback that a test can cut: every connection through it drops and new
ones are refused until the cut ends. Puts a real network outage between the engine and AMI
without touching either process."""
from __future__ import annotations

import contextlib
import socket
import threading
import time


class TcpCut:
    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (host, target_port)
        self.listener = socket.create_server((host, 0))
        self.port = self.listener.getsockname()[1]
        self.cut_until = 0.0
        self.links: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, seconds: float) -> None:
        """Drop every link now; refuse new ones for `seconds`."""
        with self.lock:
            self.cut_until = time.monotonic() + seconds
            links, self.links = self.links, set()
        for sock in links:
            _close(sock)

    def close(self) -> None:
        self.closed = True
        self.cut(0)
        _close(self.listener)

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if time.monotonic() < self.cut_until:
                _close(client)          # refused while the cut lasts
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            with self.lock:
                self.links |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
