"""The services of the distributed deployment, each on loopback, for the distributed soak and the tests.

PostgreSQL 15 and Redis come from Debian packages; when they are missing the set-up installs them
with apt (CI runs as root on a fresh machine). The S3 API is moto's server behind a
:class:`~soak.link.Link` (so a fault can cut the network to it without losing its objects), and the
Spark standalone cluster is started from the pyspark distribution itself. Each run gets its own
throw-away services on free ports, so nothing depends on a system service started by hand.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from ml_tasks.core.polling import WaitTimeout, wait_until
from ml_tasks.platform.stack.environment import free_port
from soak.link import Link

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PACKAGES = ("postgresql-15", "redis-server")


class ServiceSetupError(RuntimeError):
    pass


def apt_install(packages: tuple[str, ...], needed: str) -> None:
    """Install Debian packages (CI runs as root on a fresh machine); elsewhere, say what to run."""
    if os.geteuid() != 0:
        raise ServiceSetupError(
            f"{needed} needed: run `sudo apt-get install -y {' '.join(packages)}` "
            "(the tests install it themselves only when running as root, as in CI)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise ServiceSetupError(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


def ensure_installed() -> None:
    """Install PostgreSQL 15 and Redis from Debian's packages when they are absent."""
    if (PG_BIN / "initdb").exists() and shutil.which("redis-server"):
        return
    apt_install(PACKAGES, "PostgreSQL 15 and Redis are")


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise ServiceSetupError(f"{what} failed: {' '.join(cmd)}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


@dataclass(frozen=True)
class Services:
    pg_port: int
    redis_port: int
    data: Path
    user: str = "conveyor"

    def restart_postgres(self) -> None:
        """``pg_ctl restart -m immediate``: every connection dropped at once, as a crashed database's are."""
        _run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data / "db"),
                    "-l",
                    str(self.data / "postgres.log"),
                    "-w",
                    "-m",
                    "immediate",
                    "restart",
                ]
            ),
            "restarting PostgreSQL",
        )

    def database_uri(self, name: str, driver: str = "postgresql+psycopg2") -> str:
        return f"{driver}://{self.user}@127.0.0.1:{self.pg_port}/{name}"

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"


@contextmanager
def postgres_and_redis(databases: tuple[str, ...] = ("airflow", "mlflow")):
    """A PostgreSQL 15 cluster with ``databases`` and a Redis server, both on loopback."""
    ensure_installed()
    data = Path(tempfile.mkdtemp(prefix="conveyor-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    pg_port, redis_port = free_port(), free_port()
    services = Services(pg_port, redis_port, data)
    redis = None
    try:
        _run(
            _as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(data / "db"), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
            ),
            "initdb",
        )
        _run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(data / "db"),
                    "-l",
                    str(data / "postgres.log"),
                    "-w",
                    "-o",
                    f"-p {pg_port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data}"
                    " -c max_connections=200",
                    "start",
                ]
            ),
            "starting PostgreSQL",
        )
        psql = ["psql", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c"]
        _run(psql + [f"CREATE ROLE {services.user} LOGIN"], "creating the database role")
        for name in databases:
            _run(psql + [f"CREATE DATABASE {name} OWNER {services.user}"], f"creating database {name}")
        redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                tempfile.gettempdir(),
            ],
            stdout=open(data / "redis.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def accepting() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", redis_port)) == 0

        try:
            wait_until(
                accepting,
                30,
                f"redis-server on port {redis_port}",
                every=0.3,
                give_up=lambda: "it exited" if redis.poll() is not None else None,
            )
        except WaitTimeout as exc:
            raise ServiceSetupError(f"{exc}:\n{(data / 'redis.log').read_text()[-2000:]}") from None
        yield services
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=20)
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-m", "fast", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(data, ignore_errors=True)


S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "conveyor-soak",
    "AWS_SECRET_ACCESS_KEY": "conveyor-soak-secret",  # pragma: allowlist secret
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextmanager
def s3_server(work: Path, buckets: tuple[str, ...] = ("conveyor-lake", "conveyor-artifacts")):
    """moto's S3 server behind a :class:`Link`; yields the link (its ``url`` is the endpoint clients use).
    The credentials of :data:`S3_CREDENTIALS` must be in the environment of every client."""
    import boto3

    port = free_port()
    log = open(work / "moto.log", "wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    direct = f"http://127.0.0.1:{port}"
    link = Link(port)
    try:
        wait_until(
            lambda: requests.get(direct, timeout=2) is not None,
            60,
            "the moto S3 server",
            every=0.5,
            transient=(requests.RequestException,),
        )
        s3 = boto3.client(
            "s3",
            endpoint_url=direct,
            **{k.lower(): v for k, v in S3_CREDENTIALS.items() if k != "AWS_DEFAULT_REGION"},
            region_name="us-east-1",
        )
        for bucket in buckets:
            s3.create_bucket(Bucket=bucket)
        yield link
    finally:
        link.close()
        server.terminate()
        server.wait(timeout=20)


class AlertReceiver:
    """A webhook on a fixed loopback port that a fault can stop and start again; ``received`` keeps
    every JSON alert in order."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict] = []
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alerts"

    def start(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Receiver)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> AlertReceiver:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
