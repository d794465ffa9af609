"""Shared pieces of the end-to-end tests: start the built server against the
test stores (from provisioning/stores.sh's env file), talk to MariaDB through
the `mariadb` command-line client, wait for things."""

import json
import os
import random
import signal
import socket
import string
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def log(message):
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def store_env():
    """The SYMBOLSTREAM_* variables of the running test stores."""
    env = dict(os.environ)
    missing = [k for k in ("SYMBOLSTREAM_REDIS_PORT", "SYMBOLSTREAM_MARIADB_PORT") if k not in env]
    if missing:
        raise SystemExit(f"{', '.join(missing)} not set: run ./test.sh, or `source .data/test/env` after provisioning/stores.sh start --profile test")
    return env


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


class Server:
    """The built `symbolstream serve`, with its own Redis key prefix and MariaDB database."""

    def __init__(self, binary=None, flip=0.1, seed=7, extra_args=(), prefix=None, database=None, port=None):
        self.env = store_env()
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

    def start(self, wait=True, fresh_database=True):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if fresh_database:
            MariaDB(self.env, self.database).recreate()
        env = dict(self.env, SYMBOLSTREAM_MARIADB_DATABASE=self.database, SYMBOLSTREAM_REDIS_PREFIX=self.prefix)
        args = [self.binary, "serve", "--port", str(self.port), "--flip-probability", str(self.flip),
                "--seed", str(self.seed)] + self.extra_args
        self.process = subprocess.Popen(args, env=env, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout=30, need_mariadb=False):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}; see {self.log_path}")
            try:
                health = requests.get(self.url + "/health", timeout=1).json()
                if health["redis"]["status"] == "up" and (not need_mariadb or health["mariadb"]["status"] == "up"):
                    return health
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not healthy after {timeout}s; see {self.log_path}")

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

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
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


def fail(message):
    log("FAIL: " + message)
    sys.exit(1)
