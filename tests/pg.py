"""A throwaway PostgreSQL for the tests: initdb in a temporary folder as an unprivileged user, a unix socket.

`SIGNOFF_TEST_POSTGRES=postgresql://…` uses an existing server instead; `SIGNOFF_PG_TESTS=1` makes a missing
PostgreSQL a failure (else the PostgreSQL half of the contract suite is reported as not run)."""
from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from typing import Optional
from urllib.parse import quote

PG_USER = "signoff-pg"


def _bindir() -> Optional[str]:
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    found = shutil.which("initdb")
    return os.path.dirname(found) if found else None


def _as_user(cmd: list) -> list:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", PG_USER, "--"] + cmd


def _ensure_user() -> None:
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
                       check=True, capture_output=True)


class Cluster:
    """One PostgreSQL server: a base URL (`database` signoff) and a fresh schema per store."""

    def __init__(self) -> None:
        self.dir: Optional[str] = None
        self.proc: Optional[subprocess.Popen] = None
        existing = os.environ.get("SIGNOFF_TEST_POSTGRES")
        if existing:
            import psycopg
            self.base = existing
            psycopg.connect(existing, connect_timeout=10).close()   # fails here, reported as "no PostgreSQL"
            return
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (initdb not found): apt-get install postgresql")
        _ensure_user()
        self.dir = tempfile.mkdtemp(prefix="signoff-pg-")
        os.chmod(self.dir, 0o755)
        data = os.path.join(self.dir, "data")
        if os.geteuid() == 0:
            shutil.chown(self.dir, PG_USER)
        subprocess.run(_as_user([os.path.join(bindir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                                 "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]), check=True, capture_output=True)
        self.proc = subprocess.Popen(_as_user([
            os.path.join(bindir, "postgres"), "-D", data, "-k", self.dir, "-c", "listen_addresses=",
            "-c", "max_connections=400", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "shared_buffers=32MB"]),
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "log"), "w"))
        host = quote(self.dir, safe="")
        self.admin = f"postgresql://postgres@/postgres?host={host}&port=5432"
        self.base = f"postgresql://postgres@/signoff?host={host}&port=5432"
        import psycopg
        deadline = time.time() + 60
        while True:
            try:
                with psycopg.connect(self.admin, autocommit=True) as c:
                    c.execute("CREATE DATABASE signoff")
                break
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("the test PostgreSQL did not start: " + open(os.path.join(self.dir, "log")).read())
                time.sleep(0.1)

    def url(self, key: str) -> str:
        """The URL of a fresh (or, for the same key, the same) store: its own schema of the test database."""
        import psycopg
        schema = "t_" + hashlib.sha256(key.encode()).hexdigest()[:20]
        with psycopg.connect(self.base, autocommit=True) as c:
            c.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        sep = "&" if "?" in self.base else "?"
        return f"{self.base}{sep}options={quote('-csearch_path=' + schema, safe='')}"

    def stop(self) -> None:
        """Stop the server and remove its folder (nothing for an existing server)."""
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


_CLUSTER: Optional[Cluster] = None


def cluster() -> Cluster:
    """The session's cluster, started on first use."""
    global _CLUSTER
    if _CLUSTER is None:
        _CLUSTER = Cluster()
    return _CLUSTER


def stop() -> None:
    """Stop the session's cluster when one was started."""
    global _CLUSTER
    if _CLUSTER is not None:
        _CLUSTER.stop()
        _CLUSTER = None


def postgres_or_skip() -> Cluster:
    """The session's test PostgreSQL; a skip when there is none, a failure under SIGNOFF_PG_TESTS=1."""
    import pytest
    try:
        return cluster()
    except Exception as e:  # noqa: BLE001 - any reason PostgreSQL is not there is reported the same way
        if os.environ.get("SIGNOFF_PG_TESTS") == "1":
            pytest.fail(f"SIGNOFF_PG_TESTS=1 but no PostgreSQL: {e}")
        pytest.skip(f"no PostgreSQL ({e}); SIGNOFF_PG_TESTS=1 makes this a failure")
