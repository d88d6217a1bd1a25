"""PostgreSQL 15 and Redis on loopback for the distributed-mode tests.

Both come from Debian packages; when they are missing the set-up installs them with apt (CI
runs as root on a fresh machine). Each test session gets its own throw-away cluster and
server on free ports, so nothing depends on a system service having been started by hand.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ml_tasks.core.polling import WaitTimeout, wait_until

from .stack_helpers import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PACKAGES = ("postgresql-15", "redis-server")


class ServiceSetupError(RuntimeError):
    pass


def apt_install(packages: tuple[str, ...], needed: str) -> None:
    """Install Debian packages (CI runs as root on a fresh machine); elsewhere, say what to run."""
    if os.geteuid() != 0:
        raise ServiceSetupError(
            f"{needed} needed: run `sudo apt-get install -y {' '.join(packages)}` "
            "(the tests install it themselves only when running as root, as in CI)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
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
    user: str = "conveyor"

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
    services = Services(pg_port, redis_port)
    redis = None
    try:
        _run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data / "db"), "-U", "postgres", "-A", "trust",
                           "-E", "UTF8"]), "initdb")
        _run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "postgres.log"), "-w",
                           "-o", f"-p {pg_port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data}"
                           " -c max_connections=200", "start"]), "starting PostgreSQL")
        psql = ["psql", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c"]
        _run(psql + [f"CREATE ROLE {services.user} LOGIN"], "creating the database role")
        for name in databases:
            _run(psql + [f"CREATE DATABASE {name} OWNER {services.user}"], f"creating database {name}")
        redis = subprocess.Popen(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", tempfile.gettempdir()],
            stdout=open(data / "redis.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        def accepting() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", redis_port)) == 0

        try:
            wait_until(accepting, 30, f"redis-server on port {redis_port}", every=0.3,
                       give_up=lambda: "it exited" if redis.poll() is not None else None)
        except WaitTimeout as exc:
            raise ServiceSetupError(f"{exc}:\n{(data / 'redis.log').read_text()[-2000:]}") from None
        yield services
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(timeout=20)
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data / "db"), "-m", "fast", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)
