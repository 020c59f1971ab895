"""The PostgreSQL server `yoked dev` starts when ``DATABASE_URL`` is not set. Development only.

It is PostgreSQL 15, the major version compose and production run, from the machine's server
binaries (``initdb``, ``pg_ctl``): Debian and Ubuntu's ``postgresql-15`` package
(``/usr/lib/postgresql/15/bin``), Homebrew's ``postgresql@15``, the PGDG RPMs, or a version-15
``pg_config`` on ``PATH``. ``scripts/dev`` installs the Debian package when it is missing.

The cluster lives in ``.yoked/pgdata`` (git-ignored) and listens on 127.0.0.1 only, on a free
port chosen at start (no Unix socket, so a long path cannot break it), with trust
authentication for the ``postgres`` role, and durability turned off (a development database).
The server is a separate process: :func:`stop` ends it (``yoked dev stop``), and whoever started
it is expected to call it. Run as root, the server runs as the ``postgres`` system user, since
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from yoked_actors.errors import SettingsError

MAJOR = 15
#: Where the server binaries of PostgreSQL 15 are usually installed.
BIN_CANDIDATES = (
    Path(f"/usr/lib/postgresql/{MAJOR}/bin"),  # Debian, Ubuntu
    Path(f"/opt/homebrew/opt/postgresql@{MAJOR}/bin"),  # Homebrew, Apple silicon
    Path(f"/usr/local/opt/postgresql@{MAJOR}/bin"),  # Homebrew, Intel
    Path(f"/usr/pgsql-{MAJOR}/bin"),  # PGDG RPMs
)
INSTALL_HINT = (
    f"install PostgreSQL {MAJOR} (Debian/Ubuntu: apt-get install postgresql-{MAJOR}; "
    f"macOS: brew install postgresql@{MAJOR}) or set DATABASE_URL to a database of yours"
)
#: Lines added to the new cluster's postgresql.conf.
CONFIG = """
# yoked dev: loopback TCP only, no durability (a development database).
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
"""
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Server:
    """A running development server: where its data is, its port, and whether this call
    started it (False: it was already running and is reused)."""

    pgdata: Path
    port: int
    started: bool

    def libpq_url(self, database: str) -> str:
        """The libpq (psycopg) URL of ``database`` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on this server."""
        return self.libpq_url(database).replace("postgresql://", "postgresql+psycopg://", 1)


def find_binaries() -> Path:
    """The directory holding PostgreSQL 15's ``initdb`` and ``pg_ctl``; SettingsError if none."""
    candidates = list(BIN_CANDIDATES)
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout
        candidates.append(Path(bindir.strip()))
    for directory in candidates:
        if (directory / "initdb").is_file() and _major(directory) == MAJOR:
            return directory
    raise SettingsError(
        f"DATABASE_URL is not set and the PostgreSQL {MAJOR} server binaries (initdb, pg_ctl) "
        f"were not found; {INSTALL_HINT}"
    )


def _major(bindir: Path) -> int | None:
    """The major version of the ``initdb`` in ``bindir`` ("initdb (PostgreSQL) 15.8" -> 15)."""
    try:
        out = subprocess.run(
            [str(bindir / "initdb"), "--version"], capture_output=True, text=True, check=True
        ).stdout
        return int(out.split()[-1].split(".")[0])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        return None


def _run_as() -> str | None:
    """The system user the server runs as: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "postgres"], check=True, capture_output=True)
    return "postgres"


def _pg(bindir: Path, pgdata: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``bindir/args[0]`` as the server's user, in ``pgdata`` (our own directory may be
    closed to that user)."""
    return subprocess.run(
        [str(bindir / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        user=_run_as(),
        cwd=pgdata,
        timeout=START_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def _prepare(pgdata: Path) -> None:
    """Create ``pgdata`` for the server's user: owned by it, its parents traversable."""
    pgdata.mkdir(parents=True, exist_ok=True)
    user = _run_as()
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    for parent in pgdata.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)  # traverse only: nothing becomes readable


def running_port(pgdata: Path) -> int | None:
    """The port of the server running on ``pgdata``, or None when none is."""
    pid_file = pgdata / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # it exists, owned by another user
        return port
    return port


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(pgdata: Path) -> Server:
    """Start the server on ``pgdata`` (creating the cluster the first time), or reuse the one
    already running there. Raises SettingsError when it cannot."""
    pgdata = pgdata.resolve()
    port = running_port(pgdata)
    if port is not None:
        return Server(pgdata, port, started=False)
    bindir = find_binaries()
    _prepare(pgdata)
    if not (pgdata / "PG_VERSION").exists():
        done = _pg(bindir, pgdata, "initdb", "-D", str(pgdata), "-U", "postgres", "--auth=trust",
                   "--encoding=UTF8", "--no-instructions")  # fmt: skip
        if done.returncode:
            raise SettingsError(f"initdb failed in {pgdata}: {done.stderr.strip()}")
        with (pgdata / "postgresql.conf").open("a") as conf:
            conf.write(CONFIG)
    elif (version := (pgdata / "PG_VERSION").read_text().strip()) != str(MAJOR):
        raise SettingsError(
            f"{pgdata} holds a PostgreSQL {version} cluster, not {MAJOR}; "
            f"remove it (rm -rf {pgdata}) and `yoked dev` creates a new one"
        )
    port = _free_port()
    log = pgdata / "server.log"
    done = _pg(bindir, pgdata, "pg_ctl", "-D", str(pgdata), "-l", str(log), "-w",
               "-t", str(START_TIMEOUT_S), "-o", f"-p {port}", "start")  # fmt: skip
    if done.returncode:
        raise SettingsError(f"PostgreSQL did not start; see {log}: {done.stderr.strip()}")
    return Server(pgdata, port, started=True)


def stop(pgdata: Path) -> bool:
    """Stop the server running on ``pgdata`` (fast shutdown, waits). False if none was."""
    pgdata = pgdata.resolve()
    if running_port(pgdata) is None:
        return False
    done = _pg(find_binaries(), pgdata, "pg_ctl", "-D", str(pgdata), "-m", "fast", "-w", "stop")
    if done.returncode and running_port(pgdata) is not None:
        raise SettingsError(f"could not stop PostgreSQL on {pgdata}: {done.stderr.strip()}")
    return True
