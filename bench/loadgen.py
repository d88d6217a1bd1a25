"""The load generator both serving benchmarks share: asyncio + aiohttp, in a process of its own.

Two modes, each sending the same JSON body to one URL on loopback for ``--seconds``:

- ``closed``: ``--concurrency`` clients, each sending its next request when the last answered
  (throughput at saturation);
- ``open``: requests start on a fixed schedule of ``--rate`` per second whatever the answers do,
  and latency counts from the scheduled start, so a stalled server cannot hide its queue
  (no coordinated omission).

Prints one JSON line: requests, failures (with the first few reasons), requests/s, p50/p99/max
latency in ms and, when the answers carry ``model_version``, how many each version answered.
Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from urllib.parse import urlparse

import numpy as np


class Tally:
    def __init__(self):
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.versions: dict[str, int] = {}

    def record(self, started: float, status: int, body: bytes) -> None:
        took = time.perf_counter() - started
        if status != 200:
            self.failures.append(f"{status}: {body[:200]!r}")
            return
        self.latencies.append(took)
        if b'"model_version"' in body:
            version = str(json.loads(body)["model_version"])
            self.versions[version] = self.versions.get(version, 0) + 1

    def summary(self, seconds: float) -> dict:
        lat = np.array(self.latencies or [np.nan]) * 1000
        return {
            "requests": len(self.latencies) + len(self.failures),
            "failed": len(self.failures),
            "failures": self.failures[:5],
            "rps": round(len(self.latencies) / seconds, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "max_ms": round(float(np.max(lat)), 2),
            "answered_by_version": self.versions,
            "seconds": round(seconds, 2),
        }


async def _send(session, url: str, body: bytes, headers: dict, started: float, tally: Tally) -> None:
    import aiohttp

    try:
        async with session.post(url, data=body, headers=headers) as r:
            tally.record(started, r.status, await r.read())
    except (TimeoutError, aiohttp.ClientError) as exc:
        tally.failures.append(f"{type(exc).__name__}: {exc}")


async def run(url: str, body: bytes, mode: str, seconds: float, concurrency: int, rate: float, headers: dict) -> dict:
    import aiohttp

    assert urlparse(url).hostname in ("127.0.0.1", "localhost"), f"{url}: load goes to loopback only"
    headers = {"content-type": "application/json", **headers}
    tally = Tally()
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=max(concurrency, 64)), timeout=timeout
    ) as session:
        for _ in range(20):  # warm the connections and the server's first calls
            await _send(session, url, body, headers, time.perf_counter(), Tally())
        start = time.perf_counter()
        stop_at = start + seconds
        if mode == "closed":

            async def client() -> None:
                while time.perf_counter() < stop_at:
                    await _send(session, url, body, headers, time.perf_counter(), tally)

            await asyncio.gather(*(client() for _ in range(concurrency)))
        else:
            pending = []
            for i in range(int(rate * seconds)):
                scheduled = start + i / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(_send(session, url, body, headers, scheduled, tally)))
            await asyncio.gather(*pending)
        return tally.summary(time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--bearer", default="")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    body = open(args.body_file, "rb").read()
    headers = {"authorization": f"Bearer {args.bearer}"} if args.bearer else {}
    result = asyncio.run(run(args.url, body, args.mode, args.seconds, args.concurrency, args.rate, headers))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
