"""A network link on loopback between clients and one server, which a fault can cut or slow down.

Clients connect to ``link.url``; each connection is piped to the server's port. :meth:`Link.cut`
drops every open connection and refuses new ones (the server keeps running and keeps its state, as
a server behind a failed switch does); :meth:`Link.restore` lets traffic through again.
:meth:`Link.slow` holds each chunk a client sends for a while, so a long sequence of requests (the
object copies of a publish on S3) takes long enough for a fault to land inside it.
"""

from __future__ import annotations

import socket
import threading
import time

from ml_tasks.platform.stack.environment import free_port


class Link:
    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.port = free_port()
        self.delay = 0.0
        self.is_cut = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        self._listener.settimeout(0.5)
        self._closed = False
        threading.Thread(target=self._accept, daemon=True, name="link-accept").start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        self.is_cut = True
        with self._lock:
            for conn in list(self._open):
                _close(conn)
            self._open.clear()

    def restore(self) -> None:
        self.is_cut, self.delay = False, 0.0

    def slow(self, seconds_per_chunk: float) -> None:
        self.delay = seconds_per_chunk

    def close(self) -> None:
        self._closed = True
        self.cut()
        _close(self._listener)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.is_cut:
                _close(client)  # refused: the client sees its connection reset at once
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.server_port), timeout=10)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data or self.is_cut:
                    break
                if upstream and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)
            _close(src)
            _close(dst)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
