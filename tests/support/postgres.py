"""A real, throwaway PostgreSQL server for tests: Debian's server binaries (the `postgresql`
package `make test` installs when it can), a fresh cluster in a temporary folder, listening
on 127.0.0.1 on a free port with a password, stopped and deleted afterwards. Skipped, with
the reason, where the machine cannot run one."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD = "throwaway-Secret-42"  # a test checks it never reaches a message or a file
SUPERUSER = "postgres"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{PASSWORD}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str, template: str = "template1") -> str:
        """A new database, a copy of `template` (empty by default); its address (with the
        password)."""
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    @contextlib.contextmanager
    def connect(self, database: str = "postgres") -> Iterator:
        import psycopg2

        connection = psycopg2.connect(self.url(database), connect_timeout=5)
        connection.autocommit = True
        try:
            yield connection
        finally:
            connection.close()


def _binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else Debian's newest version."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: initdb refuses root, so root hands it to the `postgres` user."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unused_port() -> int:
    """A loopback port nothing listens on (for a server that is down)."""
    return _free_port()


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[PostgresServer]:
    """Start a PostgreSQL server of its own; stop it and delete its files afterwards."""
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL's server binaries (initdb, pg_ctl) are not installed: `make test` "
            "installs Debian's postgresql package when run as root with apt-get"
        )
    user = _server_user()
    if user is None:
        pytest.skip("running as root and there is no `postgres` user to run the server as")
    # Directly under /tmp: pytest's own temporary folders are closed to other users.
    root = Path(tempfile.mkdtemp(prefix="groundswell-pg-"))
    as_user = {}
    if os.geteuid() == 0:
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    data, log = root / "data", root / "server.log"
    env = {**os.environ, "HOME": str(root), "LC_ALL": "C.UTF-8"}

    def run(*argv: str) -> None:
        done = subprocess.run(
            argv, cwd=root, env=env, capture_output=True, text=True, timeout=60, **as_user
        )
        if done.returncode:
            raise RuntimeError(f"{argv[0]} failed:\n{done.stdout}\n{done.stderr}")

    try:
        password_file = root / "password"
        password_file.write_text(PASSWORD + "\n")
        if as_user:
            os.chown(password_file, user.pw_uid, user.pw_gid)
        run(
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            f"--pwfile={password_file}",
            "--auth-local=trust",
            "--auth-host=md5",
            "-E",
            "UTF8",
            "--no-sync",
        )
        port = _free_port()
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        _cheap_password_checks(root, port)
        try:
            yield PostgresServer("127.0.0.1", port)
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _cheap_password_checks(socket_dir: Path, port: int) -> None:
    """Store the password as md5: Dagster opens a connection per write, and a SCRAM check
    costs each of them milliseconds of hashing, which made a run three times slower."""
    import psycopg2

    connection = psycopg2.connect(
        host=str(socket_dir), port=port, user=SUPERUSER, dbname="postgres"
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET password_encryption = 'md5'")
            cursor.execute(f"ALTER USER {SUPERUSER} PASSWORD %s", (PASSWORD,))
    finally:
        connection.close()


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server per test module."""
    with throwaway_postgres() as server:
        yield server
