"""Throwaway PostgreSQL and MariaDB servers for the test suite.

Each server is a real, unprivileged process listening on 127.0.0.1 on a free
port, with its data directory and unix socket in a short-lived temp directory.
When the tests run as root (CI), the servers run as the `postgres` / `mysql`
system users, because neither server agrees to run as root.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "dbsynth"
PASSWORD = "s3cret-pw"
HOST = "127.0.0.1"
START_TIMEOUT = 60.0

PG_BINDIR = Path(os.environ.get("DBSYNTH_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
# Unix socket paths are limited to 107 bytes, so keep the temp dirs in /tmp
# rather than under a possibly long $TMPDIR or pytest basetemp.
SHORT_TMP = "/tmp"


class ServerError(RuntimeError):
    """A server could not be set up, started, or talked to."""


class ServerUnavailable(ServerError):
    """The server binaries are not installed."""


def free_port() -> int:
    """Ask the kernel for a currently unused TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def is_root() -> bool:
    return os.geteuid() == 0


def tail(path: Path, nbytes: int = 4000) -> str:
    """The end of a log file, for error messages."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"<no log at {path}: {exc}>"
    return data[-nbytes:].decode("utf-8", "replace")


def run(cmd: list[str], *, what: str, input: str | None = None, env=None, cwd=None) -> str:
    """Run a command, return stdout; raise ServerError with its output on failure."""
    try:
        proc = subprocess.run(
            cmd, input=input, capture_output=True, env=env, cwd=cwd,
            text=True, encoding="utf-8", errors="replace",
        )
    except FileNotFoundError as exc:
        raise ServerUnavailable(f"{what}: {exc}") from exc
    if proc.returncode != 0:
        raise ServerError(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-5000:]}"
        )
    return proc.stdout


def _make_tmpdir(prefix: str, owner: str | None) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=SHORT_TMP))
    if owner:
        pw = pwd.getpwnam(owner)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def _clean_env() -> dict[str, str]:
    # Stray PG*/MYSQL_* variables from the caller's shell would redirect our clients.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PG", "MYSQL_", "MARIADB_"))}
    env["PGCLIENTENCODING"] = "UTF8"
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


def pg_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pg_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def my_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def my_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


class PostgresServer:
    """A private PostgreSQL 15 cluster.

    Local (unix socket) connections use trust auth, so the helpers need no
    password; TCP connections on 127.0.0.1 require a scram-sha-256 password so
    that a wrong password really fails.
    """

    def __init__(self, bindir: Path | str = PG_BINDIR):
        self.bindir = Path(bindir)
        self.user, self.password, self.host = USER, PASSWORD, HOST
        self.port: int | None = None
        self.root: Path | None = None
        self._running = False

    # -- lifecycle -----------------------------------------------------------
    def _bin(self, name: str) -> str:
        return str(self.bindir / name)

    def _as_server_user(self, cmd: list[str]) -> list[str]:
        # PostgreSQL refuses to run as root: drop to the `postgres` account.
        return ["runuser", "-u", "postgres", "--", *cmd] if is_root() else cmd

    def start(self) -> "PostgresServer":
        """Create, start and set up the cluster; on failure nothing is left running."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> "PostgresServer":
        missing = [b for b in ("initdb", "pg_ctl", "postgres", "psql")
                   if not (self.bindir / b).exists()]
        if missing:
            raise ServerUnavailable(
                f"PostgreSQL binaries {missing} not found in {self.bindir}; "
                "install them with `apt-get install -y postgresql` "
                "(or set DBSYNTH_PG_BINDIR)")
        if is_root() and shutil.which("runuser") is None:
            raise ServerUnavailable("running as root needs `runuser` to drop to the postgres user")

        self.root = _make_tmpdir("dbs-pg-", "postgres" if is_root() else None)
        atexit.register(self.stop)
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        env = _clean_env()
        run(self._as_server_user([
                self._bin("initdb"), "-D", str(self.data), "-U", "postgres",
                "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]),
            what="initdb", env=env, cwd=self.root)

        # A throwaway cluster: durability settings off for speed.
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as f:
            f.write(
                "\n# dbsynth test server\n"
                f"listen_addresses = '{HOST}'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 200\n"
            )
        with open(self.data / "pg_hba.conf", "w", encoding="utf-8") as f:
            f.write(
                "local all all trust\n"
                "host all all 127.0.0.1/32 scram-sha-256\n"
                "host all all ::1/128 scram-sha-256\n"
            )

        # The port is picked before the server binds it; retry on the rare race.
        for attempt in range(3):
            self.port = free_port()
            proc = subprocess.run(
                self._as_server_user([
                    self._bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                    "-w", "-t", str(int(START_TIMEOUT)), "-o", f"-p {self.port}", "start"]),
                capture_output=True, text=True, env=env, cwd=self.root)
            if proc.returncode == 0:
                self._running = True
                break
            log = tail(self.log)
            self._pg_ctl_stop("immediate")  # in case it timed out while still starting
            if "Address already in use" in log and attempt < 2:
                continue
            raise ServerError(
                f"PostgreSQL did not start on port {self.port}: {proc.stdout}{proc.stderr}\n"
                f"--- server log ({self.log}) ---\n{log}")

        self.psql("postgres",
                  f"CREATE ROLE {pg_ident(self.user)} SUPERUSER LOGIN "
                  f"PASSWORD {pg_literal(self.password)};", user="postgres")
        # Prove the TCP + password path works before handing the server out.
        run([self._bin("psql"), "-X", "-w", "-At", "-h", HOST, "-p", str(self.port),
             "-U", self.user, "-d", "postgres", "-c", "SELECT 1"],
            what="psql over TCP", env={**env, "PGPASSWORD": self.password})
        return self

    def _pg_ctl_stop(self, mode: str) -> bool:
        proc = subprocess.run(
            self._as_server_user([self._bin("pg_ctl"), "-D", str(self.data),
                                  "-m", mode, "-w", "-t", "60", "stop"]),
            capture_output=True, text=True, env=_clean_env(), cwd=self.root)
        return proc.returncode == 0

    def stop(self) -> None:
        """Stop the server and delete its directory; safe to call twice."""
        if self._running:
            if not self._pg_ctl_stop("fast"):
                self._pg_ctl_stop("immediate")
            self._running = False
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- helpers -------------------------------------------------------------
    def dsn(self, dbname: str, user: str | None = None, password: str | None = None) -> str:
        """SQLAlchemy URL for a TCP (password-authenticated) connection."""
        return (f"postgresql+psycopg://{user or self.user}:{password or self.password}"
                f"@{HOST}:{self.port}/{dbname}")

    def psql(self, dbname: str, sql: str, user: str | None = None) -> str:
        """Run SQL through psql over the unix socket; return unaligned tuples-only output.

        SQL goes through stdin, not -c, so that several statements (and
        CREATE DATABASE) run outside one implicit transaction.
        """
        return run([self._bin("psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                    "-h", str(self.root), "-p", str(self.port),
                    "-U", user or self.user, "-d", dbname, "-f", "-"],
                   what=f"psql on {dbname}", input=sql, env=_clean_env())

    def run_sql_file(self, dbname: str, path: Path | str) -> str:
        """Load a SQL script into a database with psql, stopping at the first error."""
        return run([self._bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                    "-h", str(self.root), "-p", str(self.port),
                    "-U", self.user, "-d", dbname, "-f", str(path)],
                   what=f"loading {path} into {dbname}", env=_clean_env())

    def create_database(self, name: str) -> str:
        """Create an empty database owned by `dbsynth`; return its DSN."""
        self.psql("postgres", f"CREATE DATABASE {pg_ident(name)} OWNER {pg_ident(self.user)};")
        return self.dsn(name)

    def create_role(self, name: str, password: str) -> None:
        """Create a plain (non-superuser) login role."""
        self.psql("postgres", f"CREATE ROLE {pg_ident(name)} LOGIN PASSWORD {pg_literal(password)};")


class MariaDBServer:
    """A private MariaDB server with `local_infile` enabled.

    Helpers connect as MariaDB `root` over the unix socket (no password);
    the `dbsynth` account, with a password and all privileges, is for the code
    under test over TCP.
    """

    def __init__(self):
        self.user, self.password, self.host = USER, PASSWORD, HOST
        self.port: int | None = None
        self.root: Path | None = None
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def _which(name: str) -> str | None:
        # /usr/sbin is not on a non-root user's PATH on Debian.
        return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")

    def start(self) -> "MariaDBServer":
        """Create, start and set up the server; on failure nothing is left running."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> "MariaDBServer":
        bins = {n: self._which(n) for n in ("mariadbd", "mariadb-install-db", "mariadb")}
        missing = [n for n, p in bins.items() if p is None]
        if missing:
            raise ServerUnavailable(
                f"MariaDB binaries {missing} not found; "
                "install them with `apt-get install -y mariadb-server`")
        self.mariadbd, self.client = bins["mariadbd"], bins["mariadb"]

        self.root = _make_tmpdir("dbs-my-", "mysql" if is_root() else None)
        atexit.register(self.stop)
        self.data = self.root / "data"
        self.socket = self.root / "mysqld.sock"
        self.log = self.root / "error.log"
        user_opt = ["--user=mysql"] if is_root() else []
        # --no-defaults everywhere: /etc/mysql/my.cnf would point at the system socket/datadir.
        run([bins["mariadb-install-db"], "--no-defaults", f"--datadir={self.data}", *user_opt,
             "--auth-root-authentication-method=normal", "--skip-test-db",
             "--skip-name-resolve"],
            what="mariadb-install-db", env=_clean_env(), cwd=self.root)

        for attempt in range(3):
            self.port = free_port()
            try:
                self._launch(user_opt)
                break
            except ServerError:
                log = tail(self.log)
                self._kill()
                if ("Address already in use" in log or "already have another server" in log) \
                        and attempt < 2:
                    continue
                raise

        # ''@localhost-style anonymous accounts would shadow dbsynth@localhost.
        self.sql(
            "DELETE FROM mysql.global_priv WHERE User = '';"
            + "".join(
                f"CREATE USER {my_literal(self.user)}@{my_literal(h)} "
                f"IDENTIFIED BY {my_literal(self.password)};"
                f"GRANT ALL PRIVILEGES ON *.* TO {my_literal(self.user)}@{my_literal(h)} "
                "WITH GRANT OPTION;"
                for h in (HOST, "localhost"))
            + "FLUSH PRIVILEGES;")
        return self

    def _launch(self, user_opt: list[str]) -> None:
        logf = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                [self.mariadbd, "--no-defaults", f"--datadir={self.data}",
                 f"--port={self.port}", f"--bind-address={HOST}", f"--socket={self.socket}",
                 f"--pid-file={self.root / 'mysqld.pid'}", f"--log-error={self.log}",
                 "--local-infile=1",
                 # Debian's config sets utf8mb4; --no-defaults would fall back to latin1.
                 "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
                 # A throwaway server: trade durability for speed.
                 "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
                 "--skip-log-bin", *user_opt],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.root, env=_clean_env(),
                start_new_session=True,  # keep ^C in the test terminal from hitting it directly
            )
        finally:
            logf.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(
                    f"mariadbd exited with {self.proc.returncode} on port {self.port}\n"
                    f"--- server log ({self.log}) ---\n{tail(self.log)}")
            if self.socket.exists():
                probe = subprocess.run(self._client_cmd() + ["-e", "SELECT 1"],
                                       capture_output=True, env=_clean_env())
                if probe.returncode == 0:
                    return
            time.sleep(0.1)
        raise ServerError(
            f"mariadbd not ready after {START_TIMEOUT:.0f}s on port {self.port}\n"
            f"--- server log ({self.log}) ---\n{tail(self.log)}")

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM is a clean shutdown for mariadbd
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        """Stop the server and delete its directory; safe to call twice."""
        self._kill()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- helpers -------------------------------------------------------------
    def _client_cmd(self, database: str | None = None) -> list[str]:
        cmd = [self.client, "--no-defaults", f"--socket={self.socket}", "--user=root",
               "--default-character-set=utf8mb4", "--local-infile=1", "--batch",
               "--skip-column-names"]
        return cmd + ([database] if database else [])

    def dsn(self, database: str = "", user: str | None = None, password: str | None = None) -> str:
        """SQLAlchemy URL for a TCP (password-authenticated) connection."""
        return (f"mysql+pymysql://{user or self.user}:{password or self.password}"
                f"@{HOST}:{self.port}/{database}")

    def sql(self, statement: str, database: str | None = None) -> str:
        """Run SQL with the mariadb client as root; return tab-separated rows."""
        return run(self._client_cmd(database), input=statement,
                   what="mariadb client", env=_clean_env())

    def run_sql_file(self, path: Path | str, database: str | None = None) -> str:
        """Feed a SQL script to the mariadb client, stopping at the first error."""
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        return run(self._client_cmd(database), input=text,
                   what=f"loading {path}", env=_clean_env())

    def create_database(self, name: str) -> str:
        """Create an empty utf8mb4 database; return its DSN."""
        self.sql(f"CREATE DATABASE {my_ident(name)} CHARACTER SET utf8mb4;")
        return self.dsn(name)


def strip_create_database(sql: str) -> str:
    """Drop DROP/CREATE DATABASE and psql `\\c` lines, so a script loads into any database."""
    return re.sub(r"(?im)^\s*(?:DROP\s+DATABASE|CREATE\s+DATABASE|\\c(?:onnect)?\s)[^\n]*$",
                  "", sql)
