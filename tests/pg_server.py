"""A throw-away PostgreSQL server for tests: Debian's initdb + pg_ctl in a temp directory.

Listens on 127.0.0.1 (a free port) and a unix socket in its own directory, with a password
user, so tests also see that the password never leaks. As root, the server runs as the
``postgres`` user (``runuser``): PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER, PASSWORD = "aga", "s3cret-Pw0rd"


def pg_binary(name: str) -> str | None:
    """``name`` from PATH, else the newest /usr/lib/postgresql/<ver>/bin (Debian)."""
    found = shutil.which(name)
    if found:
        return found
    paths = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    paths.sort(key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return paths[-1] if paths else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """``start()`` once (initdb), then ``stop()``/``start()`` as a test needs; ``destroy()``."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="aga-otel-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._initialised = False

    @property
    def available(self) -> bool:
        return bool(self.initdb and self.pg_ctl) and (
            not self.as_root or shutil.which("runuser") is not None
        )

    def dsn(self, password: str | None = PASSWORD, dbname: str = "postgres") -> str:
        auth = f"{USER}:{password}" if password is not None else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *cmd: str) -> None:
        if self.as_root:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            log = self.dir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{cmd[-3:]} failed: {out.stderr or out.stdout}\n{tail}")

    def start(self) -> None:
        if not self._initialised:
            pwfile = self.dir / "pw"
            pwfile.write_text(PASSWORD + "\n")
            if self.as_root:
                shutil.chown(self.dir, "postgres", "postgres")
                shutil.chown(pwfile, "postgres", "postgres")
            self.dir.chmod(0o700)
            self._run(self.initdb, "-D", str(self.data), "-U", USER, "--auth=scram-sha-256",
                      f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync")  # fmt: skip
            self._initialised = True
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c fsync=off "
                f"-c unix_socket_directories={self.dir} -c max_connections=40")  # fmt: skip
        self._run(self.pg_ctl, "-D", str(self.data), "-o", opts,
                  "-l", str(self.dir / "server.log"), "-w", "-t", "30", "start")  # fmt: skip

    def stop(self) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            if self._initialised:
                self.stop()
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
