"""Shared pieces of the end-to-end tests: start the built server against the
test stores (from provisioning/stores.sh's env file), talk to MariaDB through
the `mariadb` command-line client, wait for things.

The server and its one-shot commands run as an unprivileged user, as in
production (the Vagrant VM's unit runs it as `vagrant`): when the tests run as
root, through `setpriv` as SYMBOLSTREAM_SERVE_USER (default `nobody`); otherwise
as the user running the tests. A server found running as root fails the test
(issue 12: a socket option only root may set made every non-root deployment
answer 503, and nothing saw it because every test ran as root). Only a test
that needs root for `serve` itself may ask for it, with Server(privileged=True);
none does. The test process itself stays root where it needs to (it stops,
kills and freezes the stores)."""

import atexit
import functools
import os
import pwd
import random
import shutil
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
CHART_JS = "/usr/share/javascript/chart.js/chart.min.js"  # what `serve` reads by default (libjs-chart.js)


def log(message):
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def store_env():
    """The SYMBOLSTREAM_* variables of the running test stores."""
    env = dict(os.environ)
    missing = [k for k in ("SYMBOLSTREAM_REDIS_PORT", "SYMBOLSTREAM_MARIADB_PORT") if k not in env
               and not (k == "SYMBOLSTREAM_REDIS_PORT" and "SYMBOLSTREAM_REDIS_CLUSTER" in env)]
    if missing:
        raise SystemExit(f"{', '.join(missing)} not set: run ./test.sh, or `source .data/test/env` after provisioning/stores.sh start --profile test")
    return env


def redis_cli(env, *args, check=False):
    """One redis-cli command against the test stores' Redis; its output."""
    out = subprocess.run(["redis-cli", "-h", env.get("SYMBOLSTREAM_REDIS_HOST", "127.0.0.1"), "-p", env["SYMBOLSTREAM_REDIS_PORT"],
                          "--no-auth-warning", "-a", env.get("SYMBOLSTREAM_REDIS_PASSWORD", ""), *args],
                         check=check, capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def expected_summary(symbol, times, followups):
    """What /dashboard/symbol (or one object of /dashboard/range) must say
    for a symbol whose initials came at `times` and had `followups`."""
    return {"symbol": symbol, "count": len(times), "earliest": min(times) if times else None,
            "latest": max(times) if times else None, "followups": followups}


class MariaDB:
    """Plain SQL through the `mariadb` client, as an analyst would run it."""

    def __init__(self, env, database):
        self.env = env
        self.database = database

    def _args(self, database=True):
        args = ["mariadb", "--batch", "--skip-column-names", "--protocol=TCP",
                "-h", self.env.get("SYMBOLSTREAM_MARIADB_HOST", "127.0.0.1"),
                "-P", self.env["SYMBOLSTREAM_MARIADB_PORT"],
                "-u", self.env.get("SYMBOLSTREAM_MARIADB_USER", "og")]
        if database:
            args.append(self.database)
        return args

    def query(self, sql, database=True):
        env = dict(self.env, MYSQL_PWD=self.env.get("SYMBOLSTREAM_MARIADB_PASSWORD", "og"))
        out = subprocess.run(self._args(database), input=sql, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            raise RuntimeError(f"mariadb: {out.stderr.strip()}")
        return [line.split("\t") for line in out.stdout.splitlines()]

    def recreate(self):
        self.query(f"DROP DATABASE IF EXISTS `{self.database}`; CREATE DATABASE `{self.database}`;", database=False)


class Identity:
    """Who the server runs as: uid, gid, name and home, and the command prefix that switches to it."""

    def __init__(self, uid, gid, name, home):
        self.uid, self.gid, self.name, self.home = uid, gid, name, home

    @property
    def prefix(self):
        # The production unit sets NoNewPrivileges=yes; --clear-groups drops root's
        # supplementary groups, so the user has exactly its own rights.
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--no-new-privs", "--"]

    def __str__(self):
        return f"{self.name} (uid {self.uid})"


@functools.lru_cache(maxsize=None)
def serve_identity():
    """The unprivileged user the server runs as when the tests run as root, or
    None when the tests already run unprivileged (the server then runs as that
    user). SYMBOLSTREAM_SERVE_USER names it (a name or a uid; default nobody);
    root is refused."""
    wanted = os.environ.get("SYMBOLSTREAM_SERVE_USER", "nobody")
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwuid(int(wanted)) if wanted.isdigit() else pwd.getpwnam(wanted)
    except KeyError:
        raise SystemExit(f"SYMBOLSTREAM_SERVE_USER={wanted}: no such user")
    if entry.pw_uid == 0:
        raise SystemExit(f"SYMBOLSTREAM_SERVE_USER={wanted} is root: the server must run unprivileged, as in production")
    if shutil.which("setpriv") is None:
        raise SystemExit("setpriv (util-linux) is needed to run the server unprivileged")
    return Identity(entry.pw_uid, entry.pw_gid, entry.pw_name, entry.pw_dir)


@functools.lru_cache(maxsize=None)
def can_access(identity, path, test="-r"):
    """Whether `identity` passes `test -r|-w|-x path` (as that user, not as root)."""
    if identity is None:
        return subprocess.run(["test", test, path]).returncode == 0
    return subprocess.run([*identity.prefix, "test", test, path]).returncode == 0


def blocking_ancestor(identity, path):
    """The first folder on the way to `path` that `identity` cannot enter, or None."""
    for parent in reversed(Path(path).parents):
        if not can_access(identity, str(parent), "-x"):
            return parent
    return None


def check_reachable(identity, path, test, what):
    """Fails loudly, naming the folder in the way, when the server's user cannot use `path`."""
    if can_access(identity, path, test):
        return
    where = blocking_ancestor(identity, path)
    why = f"{where} is not searchable for it (mode {oct(where.stat().st_mode & 0o7777)})" if where else "its mode forbids it"
    fail(f"the server runs as {identity}, who cannot {'run' if test == '-x' else 'read'} {what} {path}: {why}. "
         f"Put the checkout (or SYMBOLSTREAM_BINARY) where other users can reach it; test.sh copies the binary "
         f"to a reachable folder when the checkout is not")


def process_ids(pid):
    """(real, effective, saved, filesystem) uids of a live process, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return tuple(int(field) for field in line.split()[1:5])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


_started = []


@atexit.register
def _kill_leftovers():
    """A failed test exits at once; its servers must not outlive it."""
    for process in _started:
        if process.poll() is None:
            process.kill()


def poll_healthy(url, process, name, log_path, timeout, need_mariadb):
    """Polls `url`/health until Redis (and MariaDB if asked) is up; fails
    early if `process` (the server, or HAProxy in front of fronts) exits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log_path}")
        try:
            health = requests.get(url + "/health", timeout=1).json()
            if health["redis"]["status"] == "up" and (not need_mariadb or health["mariadb"]["status"] == "up"):
                return health
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not healthy after {timeout}s; see {log_path}")


class Server:
    """The built `symbolstream serve`, with its own Redis key prefix and MariaDB database."""

    def __init__(self, binary=None, flip=0.1, seed=7, extra_args=(), prefix=None, database=None, port=None,
                 privileged=False):
        self.env = store_env()
        # None: as the user running the tests (root only if privileged, else unprivileged already).
        self.identity = None if privileged else serve_identity()
        self.privileged = privileged
        self.binary = binary or os.environ.get("SYMBOLSTREAM_BINARY", str(ROOT / ".build" / "debug" / "symbolstream"))
        self.port = port or free_port()
        self.prefix = prefix or "e2e" + "".join(random.choices(string.ascii_lowercase, k=6)) + ":"
        self.database = database or "og_" + self.prefix.rstrip(":")
        self.flip = flip
        self.seed = seed
        self.extra_args = list(extra_args)
        self.process = None
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ROOT / ".artifacts" / f"server-{self.prefix.rstrip(':')}.log"

    def argv(self, *args):
        """The command line that runs the built binary with `args` as the server's user."""
        if self.identity is not None:
            check_reachable(self.identity, self.binary, "-x", "the binary")
            return [*self.identity.prefix, self.binary, *args]
        return [self.binary, *args]

    def run_env(self, **overrides):
        """The environment of the server and its one-shot commands: the stores' settings
        with this server's prefix and database, as the server's user would have it."""
        env = dict(self.env, SYMBOLSTREAM_MARIADB_DATABASE=self.database, SYMBOLSTREAM_REDIS_PREFIX=self.prefix)
        if self.identity is not None:
            env.update(HOME=self.identity.home, USER=self.identity.name, LOGNAME=self.identity.name)
            socket_path = env.get("SYMBOLSTREAM_MARIADB_SOCKET", "")
            # stores.sh keeps the MariaDB socket in a folder only the stores' owner may
            # enter; another user connects over TCP on loopback (the profile's port).
            if socket_path and not can_access(self.identity, socket_path, "-w"):
                del env["SYMBOLSTREAM_MARIADB_SOCKET"]
        env.update(overrides)
        return env

    def start(self, wait=True, fresh_database=True):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if fresh_database:
            MariaDB(self.env, self.database).recreate()
        if self.identity is not None and os.path.exists(CHART_JS):
            check_reachable(self.identity, CHART_JS, "-r", "Chart.js")
        args = self.argv("serve", "--port", str(self.port), "--flip-probability", str(self.flip),
                         "--seed", str(self.seed), *self.extra_args)
        self.process = subprocess.Popen(args, env=self.run_env(), stdout=open(self.log_path, "ab"),
                                        stderr=subprocess.STDOUT)
        _started.append(self.process)
        if wait:
            self.wait_healthy()
        return self

    def check_user(self):
        """Fails loudly when the running server is root and was not asked to be, or is not the
        user it should be. Returns its uid (None if it has exited)."""
        # Right after start the process may still be setpriv (root until it switches
        # users): wait for the exec of the binary itself.
        binary = os.path.realpath(self.binary)
        deadline = time.time() + 5
        while True:
            try:
                running = os.path.realpath(os.readlink(f"/proc/{self.process.pid}/exe"))
            except OSError:
                return None  # exited (or a zombie)
            if running == binary or time.time() > deadline:
                break
            time.sleep(0.05)
        if running != binary:
            fail(f"the server process (pid {self.process.pid}) runs {running}, not {binary}")
        ids = process_ids(self.process.pid)
        if ids is None:
            return None
        expected = self.identity.uid if self.identity is not None else os.geteuid()
        if 0 in ids and not self.privileged:
            fail(f"the server (pid {self.process.pid}) runs as root (uids {ids}); it must run unprivileged, "
                 f"as production does (Server(privileged=True) only for a test that needs root)")
        if set(ids) != {expected}:
            fail(f"the server (pid {self.process.pid}) runs with uids {ids}, expected {expected}")
        return ids[0]

    def wait_healthy(self, timeout=30, need_mariadb=False):
        health = poll_healthy(self.url, self.process, "server", self.log_path, timeout, need_mariadb)
        self.check_user()
        return health

    def health(self):
        return requests.get(self.url + "/health", timeout=5).json()

    def wait_archived(self, timeout=60):
        """Until every logged event is in MariaDB."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            health = self.health()
            if health["archive"].get("backlog") == 0:
                return health
            time.sleep(0.2)
        raise RuntimeError(f"archive backlog not drained after {timeout}s: {self.health()['archive']}")

    def command(self, *args, timeout=300, check=True):
        """Runs a one-shot command of the built binary (`verify`, `rebuild`,
        `archive --drain`…) against this server's prefix and database."""
        out = subprocess.run(self.argv(*args), env=self.run_env(), capture_output=True, text=True, timeout=timeout)
        if check and out.returncode != 0:
            fail(f"symbolstream {' '.join(args)} exited {out.returncode}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.check_user()  # also for servers started with wait=False
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise RuntimeError(f"server ignored {sig} for {timeout}s")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Load:
    """A steady load from a few threads, every answer recorded: fresh initials,
    followups (some before their initial), retries that must get the first
    answer again, and retries of initials whose outcome was unknown.

    An answer is acknowledged (a 200: the event must be stored, with that
    answer), uncertain (a 503, a timeout or a connection dropped after the
    request went out: it may or may not be stored) or refused (nothing was
    sent: never stored)."""

    def __init__(self, url, threads=4, pause=0.004, seed=1, uncertain_statuses=(503,)):
        self.url = url
        # Answers that leave the outcome unknown: the service's 503; behind
        # a load balancer also its 502 and 504 (a front died or stalled with
        # the request in flight): `deployment.uncertain_statuses`.
        self.uncertain_statuses = tuple(uncertain_statuses)
        self.seed = seed
        self.threads = threads
        self.pause = pause
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.workers = []
        self.acked = {}               # uuid -> (symbol, "True"/"False")
        self.acked_order = []         # the same uuids, in the order first acknowledged
        self.acked_followups = Counter()
        self.uncertain = {}           # uuid -> symbol of initials with an unknown outcome
        self.uncertain_followups = Counter()
        self.early = []               # uuids that got a followup before any initial
        self.timeline = []            # (sent at, seconds taken, status or error kind)
        self.errors = []

    def start(self):
        for index in range(self.threads):
            worker = threading.Thread(target=self.run, args=(index,), daemon=True)
            worker.start()
            self.workers.append(worker)
        return self

    def stop(self, check=True):
        self.stop_event.set()
        for worker in self.workers:
            worker.join(timeout=30)
        log(f"load: {len(self.acked)} initials and {sum(self.acked_followups.values())} followups acknowledged, "
            f"{len(self.uncertain)} initials and {sum(self.uncertain_followups.values())} followups uncertain; "
            f"statuses {dict(Counter(status for _, _, status in self.timeline))}")
        if check and self.errors:
            fail(f"{len(self.errors)} wrong answers, first: {self.errors[:5]}")

    def post(self, session, path, params):
        """(status or 'refused'/'lost', text)."""
        started = time.time()
        try:
            response = session.post(self.url + path, params=params, timeout=5)
            status, text = response.status_code, response.text
        except requests.ConnectionError as error:
            status, text = ("refused" if "refused" in str(error).lower() else "lost"), ""
        except requests.Timeout:
            status, text = "lost", ""
        with self.lock:
            self.timeline.append((started, time.time() - started, status))
        if status not in (200, "refused", "lost") and status not in self.uncertain_statuses:
            self.error(f"POST {path} {params}: {status} {text!r}")
        return status, text

    def error(self, message):
        with self.lock:
            self.errors.append(message)

    def initial(self, session, request_id, symbol):
        status, text = self.post(session, "/initial", {"uuid": request_id, "symbol": symbol})
        with self.lock:
            if status == 200:
                if text not in ("True", "False"):
                    self.errors.append(f"initial {request_id}: {text!r}")
                known = self.acked.get(request_id)
                if known and known[1] != text:
                    self.errors.append(f"retry of {request_id} answered {text}, first {known[1]}")
                if not known:
                    self.acked_order.append(request_id)
                self.acked[request_id] = (symbol, text)
                self.uncertain.pop(request_id, None)
            elif (status == "lost" or status in self.uncertain_statuses) and request_id not in self.acked:
                self.uncertain[request_id] = symbol

    def followup(self, session, request_id):
        status, text = self.post(session, "/followup", {"uuid": request_id})
        with self.lock:
            if status == 200:
                if text != "hooray":
                    self.errors.append(f"followup {request_id}: {text!r}")
                self.acked_followups[request_id] += 1
            elif status == "lost" or status in self.uncertain_statuses:
                self.uncertain_followups[request_id] += 1

    def run(self, index):
        local = random.Random(self.seed * 1000 + index)
        session = requests.Session()
        while not self.stop_event.is_set():
            roll = local.random()
            with self.lock:
                acked = [(r, self.acked[r]) for r in self.acked_order[-200:]] if roll >= 0.7 else []
                uncertain = list(self.uncertain.items())[:1] if roll >= 0.97 else []
                early = self.early.pop(0) if self.early and roll < 0.05 else None
            if early:
                # The initial of a request whose followup came first.
                self.initial(session, early, local.choice(string.ascii_lowercase))
            elif roll < 0.67:
                self.initial(session, str(uuidlib.UUID(int=local.getrandbits(128), version=4)), local.choice(string.ascii_lowercase))
            elif roll < 0.7:
                request_id = str(uuidlib.UUID(int=local.getrandbits(128), version=4))
                self.followup(session, request_id)
                with self.lock:
                    self.early.append(request_id)
            elif roll < 0.92 and acked:
                self.followup(session, local.choice(acked)[0])
            elif roll < 0.97 and acked:
                request_id, (symbol, _) = local.choice(acked)
                self.initial(session, request_id, symbol)  # a retry: must get the same answer
            elif uncertain:
                request_id, symbol = uncertain[0]
                self.initial(session, request_id, symbol)  # retry after an unknown outcome
            time.sleep(self.pause)

    def statuses_between(self, start, end):
        with self.lock:
            return [(sent, took, status) for sent, took, status in self.timeline if start <= sent < end]



def fail(message):
    log("FAIL: " + message)
    sys.exit(1)


# ---------------------------------------------------------------- the cluster

def cluster_profile():
    """The Redis Cluster stores profile the cluster deployment runs on
    (SYMBOLSTREAM_CLUSTER_PROFILE, as for provisioning/cluster.sh)."""
    profile = os.environ.get("SYMBOLSTREAM_CLUSTER_PROFILE")
    if not profile:
        raise SystemExit("SYMBOLSTREAM_CLUSTER_PROFILE not set: run ./test.sh, or start a Redis Cluster stores profile "
                         "(provisioning/stores.sh start --profile NAME --redis-cluster) and name it")
    return profile


def cluster_env():
    """The SYMBOLSTREAM_* variables of the cluster stores profile (its env
    file): the seeds in SYMBOLSTREAM_REDIS_CLUSTER, its MariaDB. No Redis
    host or port: a front must find every node through the seeds."""
    path = Path(os.environ.get("SYMBOLSTREAM_DATA_ROOT", ROOT / ".data")) / cluster_profile() / "env"
    if not path.exists():
        raise SystemExit(f"no {path}: start the profile (provisioning/stores.sh start --profile {cluster_profile()} --redis-cluster)")
    env = {k: v for k, v in os.environ.items() if k not in ("SYMBOLSTREAM_REDIS_HOST", "SYMBOLSTREAM_REDIS_PORT")}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, value = line[len("export "):].split("=", 1)
            env[key] = value[1:-1].replace("'\\''", "'") if value.startswith("'") else value
    if "SYMBOLSTREAM_REDIS_CLUSTER" not in env:
        raise SystemExit(f"profile {cluster_profile()} is not a Redis Cluster profile (no SYMBOLSTREAM_REDIS_CLUSTER in {path})")
    return env


def cluster_nodes(env):
    """[(host, port)] of every node the seeds name (node N of stores.sh is the N-th)."""
    return [tuple(seed.rsplit(":", 1)) for seed in env["SYMBOLSTREAM_REDIS_CLUSTER"].split(",")]


def redis_cli_each(env, *args, check=False, primaries=False):
    """One redis-cli command on every Redis server of a deployment's stores:
    the one server, or every node of the cluster that answers (with
    `primaries`, only the primaries); the outputs, in node order. For
    server-wide commands (CLIENT PAUSE, …)."""
    if "SYMBOLSTREAM_REDIS_CLUSTER" not in env:
        return [redis_cli(env, *args, check=check)]

    def node_cli(host, port, *arguments, check=False):
        return subprocess.run(["redis-cli", "-h", host, "-p", port, "--no-auth-warning", "-a", env.get("SYMBOLSTREAM_REDIS_PASSWORD", ""),
                               *arguments], check=check, capture_output=True, text=True, timeout=30).stdout.strip()

    outputs = []
    for host, port in cluster_nodes(env):
        role = node_cli(host, port, "ROLE").split("\n")[0]
        if not role or (primaries and role != "master"):
            continue
        outputs.append(node_cli(host, port, *args, check=check))
    return outputs


def free_consecutive_ports(count):
    """`count` consecutive free ports (fronts: provisioning/cluster.sh numbers them from one port)."""
    for _ in range(200):
        base = random.randint(20000, 60000 - count)
        try:
            sockets = []
            for offset in range(count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports")


class ClusterDeployment:
    """SymbolStream scaled out as provisioning/cluster.sh runs it, on the
    Redis Cluster stores profile: `fronts` `serve` processes (the built
    binary, `--redis-cluster` seeds, each its own archiver consumer name
    `front-N`), sharing one Redis key prefix and one MariaDB database, behind
    HAProxy with cluster.sh's configuration (`cluster.sh haproxy-config`), all
    on free ports. It has what the suites use of a `Server` (url, port, env,
    prefix, database, binary, start(), stop(), health(), wait_healthy(),
    wait_archived(), command(…)), plus `fronts` (each a `Server`),
    kill_front(n) and start_front(n)."""

    # HAProxy answers 502 when a front dies with the request in flight (it
    # may have been stored) and 504 when one stalls: as uncertain as a 503.
    uncertain_statuses = (502, 503, 504)

    def __init__(self, binary=None, flip=0.1, seed=7, extra_args=(), prefix=None, database=None, port=None, fronts=2):
        self.env = cluster_env()
        self.prefix = prefix or "e2c" + "".join(random.choices(string.ascii_lowercase, k=6)) + ":"
        self.database = database or "og_" + self.prefix.rstrip(":")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.front_port = free_consecutive_ports(fronts)
        self.seed = seed
        self.fronts = []
        for n in range(1, fronts + 1):
            front = Server(binary=binary, flip=flip, seed=seed + n - 1, prefix=self.prefix, database=self.database,
                           port=self.front_port + n - 1,
                           extra_args=list(extra_args) + ["--archiver-consumer", f"front-{n}"])
            front.env = dict(self.env)
            front.log_path = ROOT / ".artifacts" / f"front-{n}-{self.prefix.rstrip(':')}.log"
            self.fronts.append(front)
        self.binary = self.fronts[0].binary
        self.haproxy = None
        self.haproxy_config = ROOT / ".artifacts" / f"haproxy-{self.prefix.rstrip(':')}.cfg"
        self.haproxy_log = ROOT / ".artifacts" / f"haproxy-{self.prefix.rstrip(':')}.log"

    def start(self, wait=True, fresh_database=True):
        if fresh_database:
            MariaDB(self.env, self.database).recreate()
        for front in self.fronts:
            front.start(wait=wait, fresh_database=False)
        self.start_haproxy()
        if wait:
            self.wait_healthy()
        return self

    def start_haproxy(self):
        env = dict(os.environ, SYMBOLSTREAM_PORT=str(self.port), SYMBOLSTREAM_FRONT_PORT=str(self.front_port))
        out = subprocess.run([str(ROOT / "provisioning" / "cluster.sh"), "haproxy-config", "--fronts", str(len(self.fronts))],
                             env=env, capture_output=True, text=True, timeout=30)
        if out.returncode != 0:
            raise RuntimeError(f"cluster.sh haproxy-config: {out.stderr.strip()}")
        self.haproxy_config.parent.mkdir(parents=True, exist_ok=True)
        self.haproxy_config.write_text(out.stdout)
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        # -db: in the foreground, so that this process owns it (and kills it on exit).
        self.haproxy = subprocess.Popen([haproxy, "-db", "-f", str(self.haproxy_config)],
                                        stdout=open(self.haproxy_log, "ab"), stderr=subprocess.STDOUT)
        _started.append(self.haproxy)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.haproxy.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.haproxy.returncode}; see {self.haproxy_log}")
            try:
                requests.get(self.url + "/health", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"haproxy not answering on {self.url} after 30 s; see {self.haproxy_log}")

    def wait_healthy(self, timeout=30, need_mariadb=False):
        """Until every running front and HAProxy in front of them say Redis is up."""
        for front in self.fronts:
            if front.process is not None and front.process.poll() is None:
                front.wait_healthy(timeout=timeout, need_mariadb=need_mariadb)
        return poll_healthy(self.url, self.haproxy, "haproxy", self.haproxy_log, timeout, need_mariadb)

    def health(self):
        return requests.get(self.url + "/health", timeout=5).json()

    def wait_archived(self, timeout=60):
        """Until every logged event is in MariaDB (the backlog is the cluster's, whichever front answers)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            health = self.health()
            if health["archive"].get("backlog") == 0:
                return health
            time.sleep(0.2)
        raise RuntimeError(f"archive backlog not drained after {timeout}s: {self.health()['archive']}")

    def command(self, *args, timeout=300, check=True):
        """A one-shot command (`verify`, `archive --drain`, `rebuild`…) on the cluster, this prefix and database."""
        return self.fronts[0].command(*args, timeout=timeout, check=check)

    def kill_front(self, n):
        """kill -9 of front n (1-based), as `cluster.sh kill-front n`."""
        front = self.fronts[n - 1]
        front.process.send_signal(signal.SIGKILL)
        front.process.wait()

    def start_front(self, n):
        self.fronts[n - 1].start(fresh_database=False)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops every front at once (SIGTERM: each finishes its requests and
        archive batch), then HAProxy; the worst exit status of the fronts."""
        codes = []
        threads = [threading.Thread(target=lambda f=front: codes.append(f.stop(sig=sig, timeout=timeout))) for front in self.fronts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.haproxy is not None and self.haproxy.poll() is None:
            self.haproxy.terminate()
            try:
                self.haproxy.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.haproxy.kill()
        known = [code for code in codes if code is not None]
        return max(known, key=abs) if known else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def deployment(**kwargs):
    """What the end-to-end suites run against: a `Server`, or with
    SYMBOLSTREAM_E2E_DEPLOYMENT=cluster a `ClusterDeployment` (two fronts
    behind HAProxy on the cluster stores profile). Same arguments."""
    kind = os.environ.get("SYMBOLSTREAM_E2E_DEPLOYMENT", "server")
    if kind == "cluster":
        return ClusterDeployment(**kwargs)
    if kind != "server":
        raise SystemExit(f"SYMBOLSTREAM_E2E_DEPLOYMENT={kind}: server or cluster")
    return Server(**kwargs)


def fronts_of(deployment):
    """The `serve` processes of a deployment (a Server is its own front)."""
    return getattr(deployment, "fronts", [deployment])


def requests_counted(deployment):
    """/health's `requests` counters summed over the fronts: each process
    counts what it answered."""
    total = {}
    for front in fronts_of(deployment):
        for key, value in front.health()["requests"].items():
            if isinstance(value, dict):
                inner = total.setdefault(key, {})
                for k, v in value.items():
                    inner[k] = inner.get(k, 0) + v
            else:
                total[key] = total.get(key, 0) + value
    return total
