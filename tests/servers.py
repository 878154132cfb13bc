"""Throw-away servers for the tests and benchmarks: a PostgreSQL cluster and a Chroma server.

Each lives in a temporary directory on a free loopback port and is stopped (and its
files removed) when the context exits. Nothing here is mocked: these are Debian's
``postgres`` and chromadb's own ``chroma run``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["ChromaServer", "PostgresServer", "free_port", "postgres_bin_dir"]

PG_USER, PG_PASSWORD = "neuroforge", "nf-test-password"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin_dir() -> Path | None:
    """Folder of Debian's PostgreSQL server programs (newest version), ``None`` if absent."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class PostgresServer:
    """A private PostgreSQL cluster: password auth on 127.0.0.1, fsync off (it is thrown
    away). As root the server runs as the ``postgres`` user, as PostgreSQL demands."""

    def __init__(self) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="nf-pg-"))
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")

    def __enter__(self) -> PostgresServer:
        self.root.chmod(0o755)
        data, pwfile = self.root / "data", self.root / "pw"
        pwfile.write_text(PG_PASSWORD)
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        self._run("initdb", "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", password: str = PG_PASSWORD) -> str:
        """A SQLAlchemy URL (psycopg 3 driver) of ``database`` on this server."""
        return (f"postgresql+psycopg://{PG_USER}:{password}@127.0.0.1:{self.port}/{database}")

    def new_database(self) -> str:
        """Create an empty database with a fresh name; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with self._admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database ``url`` names, ending its open connections."""
        name = url.rsplit("/", 1)[-1]
        with self._admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(f"host=127.0.0.1 port={self.port} user={PG_USER} "
                               f"password={PG_PASSWORD} dbname=postgres", autocommit=True)


class ChromaServer:
    """``chroma run`` on a free loopback port with its own data folder."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="nf-chroma-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's HTTP address."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ChromaServer:
        chroma = Path(sys.executable).parent / "chroma"
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        self.process = subprocess.Popen(
            [str(chroma), "run", "--path", str(self.root / "data"), "--host", "127.0.0.1",
             "--port", str(self.port)], stdout=(self.root / "log").open("wb"),
            stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("chroma run exited: "
                                   + (self.root / "log").read_text(errors="replace")[-500:])
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError("chroma run did not answer within 60 s")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
