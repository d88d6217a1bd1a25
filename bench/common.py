"""Small helpers every benchmark uses: printing as it goes, a free loopback port."""

from __future__ import annotations

import socket


def say(msg: str) -> None:
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
