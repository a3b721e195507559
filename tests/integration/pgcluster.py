"""Test servers beyond conftest's single PostgreSQL (issue 14): a primary with a
synchronous streaming standby, and PgBouncer in transaction mode. All run as
the unprivileged user conftest.PG uses, in throwaway directories."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import BIN, PG, PG_BIN, _pg_user, clean_env, free_port  # noqa: E402

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _as_user(user, argv):
    return ["runuser", "-u", user, "--"] + argv if user else argv


class Node(PG):
    """One PostgreSQL server: a fresh primary (initdb) or, with primary=, a
    streaming standby of it (pg_basebackup -R). conftest.PG's interface (url,
    psql, rows, start, stop), plus promote and is_primary."""

    def __init__(self, root, name, primary=None, sync_standby=None):
        self.user = _pg_user()
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        if self.user:
            shutil.chown(self.dir, self.user)
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        self.name = name
        if primary is None:
            self._run([str(PG_BIN / "initdb"), "-D", self.data, "-U", "ivs", "-A", "trust",
                       "--no-sync", "-E", "UTF8", "--locale=C"])
        else:
            self._run([str(PG_BIN / "pg_basebackup"), "-D", self.data, "-R", "-X", "stream",
                       "--no-sync", "-c", "fast", "-d",
                       f"host=127.0.0.1 port={primary.port} user=ivs application_name={name}"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            # later lines win over what pg_basebackup copied from the primary
            f.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.dir}'\nfsync = off\n"
                    "synchronous_commit = on\nfull_page_writes = off\n"
                    "max_connections = 200\nlog_min_messages = warning\n"
                    f"cluster_name = '{name}'\nwal_level = replica\nmax_wal_senders = 10\n"
                    "hot_standby = on\n"
                    f"synchronous_standby_names = '{sync_standby or ''}'\n")
        self.start()

    def _run(self, argv, check=True):
        r = subprocess.run(_as_user(self.user, argv), capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {r.stderr}{r.stdout}")
        return r

    def pg_ctl(self, *args, check=True):
        return self._run([str(PG_BIN / "pg_ctl"), "-D", self.data, *args], check=check)

    def promote(self):
        self.pg_ctl("-w", "-t", "30", "promote")

    def is_primary(self):
        return self.psql("SELECT NOT pg_is_in_recovery()") == "t"

    def log(self):
        try:
            with open(os.path.join(self.dir, "log")) as f:
                return f.read()
        except OSError:
            return ""


class Pair:
    """A primary and a synchronous streaming standby ('standby1')."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="ivs-pgpair-")
        if _pg_user():
            shutil.chown(self.root, _pg_user())
        self.primary = Node(self.root, "primary", sync_standby="standby1")
        self.standby = Node(self.root, "standby1", primary=self.primary)
        deadline = time.time() + 15
        while time.time() < deadline:
            st = self.primary.psql("SELECT sync_state FROM pg_stat_replication "
                                   "WHERE application_name = 'standby1'")
            if st == "sync":
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("standby never became synchronous:\n" + self.standby.log())

    def url(self, db, **params):
        q = "&".join(f"{k}={v}" for k, v in
                     dict(dict(target_session_attrs="read-write"), **params).items())
        return (f"postgresql://ivs@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}"
                f"/{db}?{q}")

    def destroy(self):
        self.primary.stop("immediate")
        self.standby.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PgBouncer:
    """PgBouncer in front of a PostgreSQL on 127.0.0.1:<pg.port>, on its own
    loopback port, auth_type=trust (user ivs in the auth file)."""

    def __init__(self, pg, pool_mode="transaction", pool_size=4, max_client_conn=400):
        self.user = _pg_user()
        self.dir = tempfile.mkdtemp(prefix="ivs-pgbouncer-")
        self.port = free_port()
        self.pg = pg
        ini = os.path.join(self.dir, "pgbouncer.ini")
        with open(os.path.join(self.dir, "userlist.txt"), "w") as f:
            f.write('"ivs" ""\n')
        with open(ini, "w") as f:
            f.write(f"""[databases]
* = host=127.0.0.1 port={pg.port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.dir}/userlist.txt
pool_mode = {pool_mode}
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = {max_client_conn}
max_db_connections = {pool_size}
server_reset_query =
server_check_delay = 0
logfile = {self.dir}/pgbouncer.log
pidfile = {self.dir}/pgbouncer.pid
admin_users = ivs
log_connections = 0
log_disconnections = 0
""")
        if self.user:
            for p in os.listdir(self.dir):
                shutil.chown(os.path.join(self.dir, p), self.user)
            shutil.chown(self.dir, self.user)
        self.proc = subprocess.Popen(_as_user(self.user, [PGBOUNCER, ini]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while True:
            r = subprocess.run(["psql", "-X", "-q", "-A", "-t", self.url("postgres"),
                                "-c", "SELECT 1"], capture_output=True, text=True)
            if r.returncode == 0:
                break
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("pgbouncer did not start: " + r.stderr + self.log())
            time.sleep(0.05)

    def url(self, db):
        return f"host=127.0.0.1 port={self.port} user=ivs dbname={db}"

    def admin(self, cmd):
        """A pgbouncer console command (SHOW POOLS, ...) as rows."""
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", self.url("pgbouncer"), "-c", cmd],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        return [line.split("|") for line in r.stdout.splitlines() if line]

    def log(self):
        try:
            with open(os.path.join(self.dir, "pgbouncer.log")) as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # the runuser child passes SIGTERM on
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def migrate(url, timeout=30):
    """Runs `ivs-syncd migrate` against url; returns the CompletedProcess."""
    return subprocess.run([BIN, "migrate"], env=clean_env(DATABASE_URL=url),
                          capture_output=True, text=True, timeout=timeout)
