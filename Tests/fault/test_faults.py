#!/usr/bin/env python3
"""Fault tests: break things for real under a steady load and prove that
nothing acknowledged is lost and nothing else gets in.

Each scenario runs the built server against the test stores (its own Redis key
prefix and MariaDB database) while a load generator sends initials, followups
(some before their initial) and retries from several threads, recording every
answer:
  - acknowledged: a 200 (the event must be in MariaDB exactly once, with the
    answer the client got);
  - uncertain: a 503, a timeout or a connection dropped after the request was
    sent (the event may or may not be stored; both are correct, and a later
    retry of such an initial must get the stored answer if there is one);
  - refused: the connection was refused, so nothing was sent (never stored).
After each scenario the log is drained into MariaDB, which must hold every
acknowledged event exactly once and nothing that was neither acknowledged nor
uncertain; then `symbolstream verify` must find Redis equal to a
recomputation from MariaDB.

Scenarios:
  kill_service    kill -9 of `serve` at random moments, 10 times, restarted each time
  redis_restart   Redis shut down and restarted mid-load: 503 within 1 s while it
                  is down, 200 again within 2 s of it being back, no service restart
  redis_freeze    Redis hung (SIGSTOP) rather than gone: the same bounds
  redis_crash_everysec, redis_crash_always
                  Redis killed -9 mid-load with each AOF fsync policy
  mariadb_outage  MariaDB stopped for 30 s mid-load: every ingest still answered 200,
                  the archive catches up (backlog 0) once it is back
  mariadb_crash   MariaDB killed -9 mid-load, restarted
  kill_archiver   `serve --no-archiver` plus a separate `symbolstream archive`,
                  killed -9 at random moments while it works through a backlog;
                  pending entries are re-delivered and inserted once
  redis_disk_full_everysec, redis_disk_full_always
                  a Redis of its own with its data on a small tmpfs (needs root),
                  filled up under load, killed -9 and restarted with space again:
                  every acknowledged event is in Redis, then in MariaDB once
  mariadb_freeze  MariaDB hung (SIGSTOP): /health, /pipeline and /metrics still
                  answer within a bound, `degraded`; every ingest answered 200
  redis_oom       Redis refusing writes (maxmemory reached, noeviction): /health
                  503 `refusing_writes`, ingest 503; both recover with memory

Run by ./test.sh; by hand: `set -a; . .data/test/env; set +a;
SYMBOLSTREAM_BINARY=.build/debug/symbolstream python3 Tests/fault/test_faults.py [scenario…]`.
Loopback only; the whole run is bounded (SIGALRM after 15 minutes).
"""

import atexit
import errno
import os
import random
import re
import signal
import string
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from harness import ROOT, Load, MariaDB, Server, fail, free_port, log, redis_cli  # noqa: E402

LETTERS = string.ascii_lowercase
rng = random.Random(int(os.environ.get("SYMBOLSTREAM_FAULT_SEED", "4242")))


def stores(command):
    """provisioning/stores.sh COMMAND for the profile the env file names."""
    profile = os.environ.get("SYMBOLSTREAM_PROFILE", "test")
    out = subprocess.run([str(ROOT / "provisioning" / "stores.sh"), command, "--profile", profile],
                         capture_output=True, text=True, timeout=180)
    if out.returncode != 0:
        fail(f"stores.sh {command}: {out.stderr.strip()}")


def check_archive(server, load, label):
    """Every acknowledged event in MariaDB exactly once, nothing unaccounted for,
    and Redis equal to a recomputation from MariaDB."""
    server.command("archive", "--drain")
    mariadb = MariaDB(server.env, server.database)
    rows = mariadb.query("SELECT kind, uuid, COALESCE(symbol, '-'), COALESCE(guess, '-') FROM events")
    initials = Counter(r[1] for r in rows if r[0] == "initial")
    stored = {r[1]: (r[2], r[3]) for r in rows if r[0] == "initial"}
    followups = Counter(r[1] for r in rows if r[0] == "followup")
    problems = []
    for request_id, (symbol, answer) in load.acked.items():
        if initials[request_id] != 1:
            problems.append(f"acknowledged initial {request_id} stored {initials[request_id]} times")
        elif stored[request_id] != (symbol, "1" if answer == "True" else "0"):
            problems.append(f"initial {request_id}: stored {stored[request_id]}, acknowledged {symbol} {answer}")
    for request_id, count in initials.items():
        if request_id not in load.acked and request_id not in load.uncertain:
            problems.append(f"initial {request_id} stored but never sent with an unknown outcome or acknowledged")
        if count > 1:
            problems.append(f"initial {request_id} stored {count} times")
    for request_id in set(followups) | set(load.acked_followups):
        low = load.acked_followups[request_id]
        high = low + load.uncertain_followups[request_id]
        if not low <= followups[request_id] <= high:
            problems.append(f"followup {request_id}: {followups[request_id]} rows, {low} acknowledged, {high - low} uncertain")
    if problems:
        fail(f"{label}: {len(problems)} archive problems, first: {problems[:5]}")
    maybe = sum(1 for r in load.uncertain if r in initials)
    log(f"{label}: MariaDB holds all {len(load.acked)} acknowledged initials and "
        f"{sum(load.acked_followups.values())} followups exactly once ({len(rows)} rows; "
        f"{maybe} of {len(load.uncertain)} uncertain initials were stored)")
    out = server.command("verify", check=False)
    if out.returncode != 0:
        fail(f"{label}: verify found differences:\n{out.stdout[-4000:]}\n{out.stderr[-2000:]}")
    log(f"{label}: {out.stdout.strip().splitlines()[-1]}")


def wait_until(condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    fail(f"timed out after {timeout}s waiting for {what}")


# ---------------------------------------------------------------- scenarios

def kill_service():
    server = Server(seed=11).start()
    load = Load(server.url, seed=server.seed).start()
    kills = 10
    for round_ in range(kills):
        time.sleep(rng.uniform(0.3, 1.5))
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        server.start(fresh_database=False)
    time.sleep(1)
    load.stop()
    if len(load.acked) < 200:
        fail(f"kill_service: only {len(load.acked)} initials acknowledged; the load did not run")
    log(f"kill_service: killed -9 and restarted {kills} times under load")
    check_archive(server, load, "kill_service")
    server.stop()


def redis_restart():
    server = Server(seed=12).start()
    load = Load(server.url, seed=server.seed).start()
    probe = Load(server.url, threads=1, pause=0.05)
    probe_thread = threading.Thread(target=probe_initials, args=(probe,), daemon=True)
    probe_thread.start()
    time.sleep(3)
    stores("stop-redis")
    down = time.time()
    time.sleep(0.5)
    health = requests.get(server.url + "/health", timeout=5)
    if health.status_code != 503 or health.json()["redis"]["status"] != "down":
        fail(f"redis_restart: /health with Redis down: {health.status_code} {health.text[:300]}")
    time.sleep(2.5)
    restarting = time.time()
    stores("start-redis")
    up = time.time()
    time.sleep(3)
    probe.stop_event.set()
    probe_thread.join(timeout=10)
    load.stop()

    check_outage(probe, "redis_restart", down, restarting, up)
    log(f"redis_restart: Redis took {up - restarting:.1f} s to start")
    load.acked.update(probe.acked)
    load.uncertain.update({k: v for k, v in probe.uncertain.items() if k not in load.acked})
    check_archive(server, load, "redis_restart")
    server.stop()


def redis_pid():
    profile = os.environ.get("SYMBOLSTREAM_PROFILE", "test")
    return int((ROOT / ".data" / profile / "redis.pid").read_text().strip())


def check_outage(probe, label, down, restarting, up):
    """While down: every probe a 503 within 1 s; back: a 200 within 2 s, then only 200s."""
    while_down = probe.statuses_between(down, restarting)
    if len(while_down) < 20:
        fail(f"{label}: only {len(while_down)} probes while Redis was down")
    wrong = [(s, round(t, 3)) for _, t, s in while_down if s != 503 or t >= 1.0]
    if wrong:
        fail(f"{label}: while Redis was down, answers other than a 503 within 1 s: {wrong[:10]}")
    slowest = max(t for _, t, _ in while_down)
    after = probe.statuses_between(up, time.time())
    first_ok = next((sent + took for sent, took, status in after if status == 200), None)
    if first_ok is None or first_ok - up > 2.0:
        fail(f"{label}: no 200 within 2 s of Redis being back: {[(round(s - up, 3), st) for s, _, st in after[:40]]}")
    late = [(round(s - up, 3), st) for s, _, st in after if s > first_ok and st != 200]
    if late:
        fail(f"{label}: errors after service resumed: {late[:10]}")
    log(f"{label}: {len(while_down)} requests while Redis was down, all 503, slowest {slowest * 1000:.0f} ms; "
        f"first 200 {(first_ok - up) * 1000:.0f} ms after Redis was back")


def redis_freeze():
    """Redis hangs (SIGSTOP: connections accepted, nothing answered) rather than
    going away: still a 503 within 1 s, and back within 2 s of SIGCONT."""
    server = Server(seed=15).start()
    load = Load(server.url, seed=server.seed).start()
    probe = Load(server.url, threads=1, pause=0.05)
    probe_thread = threading.Thread(target=probe_initials, args=(probe,), daemon=True)
    probe_thread.start()
    time.sleep(2)
    pid = redis_pid()
    os.kill(pid, signal.SIGSTOP)
    frozen = time.time()
    try:
        # A request sent at the moment of the freeze may wait for its command timeout.
        time.sleep(4)
    finally:
        thawing = time.time()
        os.kill(pid, signal.SIGCONT)
    thawed = time.time()
    time.sleep(3)
    probe.stop_event.set()
    probe_thread.join(timeout=10)
    load.stop()
    check_outage(probe, "redis_freeze", frozen, thawing, thawed)
    load.acked.update(probe.acked)
    load.uncertain.update({k: v for k, v in probe.uncertain.items() if k not in load.acked})
    check_archive(server, load, "redis_freeze")
    server.stop()


def redis_crash(policy):
    """Redis killed -9 under load, AOF fsync policy `policy`: every acknowledged
    event survives. With everysec that holds for a crash of the process (its
    AOF writes are in the kernel's page cache before a client gets its 200);
    an OS crash or power loss could lose the last second (docs/guarantees.md)."""
    def scenario():
        server = Server(seed=16 if policy == "always" else 17).start()
        if redis_cli(server.env, "CONFIG", "SET", "appendfsync", policy) != "OK":
            fail(f"redis_crash: cannot set appendfsync {policy}")
        load = Load(server.url, seed=server.seed).start()
        time.sleep(3)
        stores("kill-redis")
        time.sleep(1)
        stores("start-redis")  # rewrites redis.conf: back to the profile's policy
        time.sleep(3)
        load.stop()
        check_archive(server, load, f"redis_crash_{policy}")
        server.stop()
    return scenario


def mariadb_crash():
    """MariaDB killed -9 under load (inside an archive transaction, most
    likely): InnoDB rolls the open one back, the archiver writes it again."""
    server = Server(seed=18).start()
    server.wait_healthy(need_mariadb=True)
    load = Load(server.url, seed=server.seed).start()
    time.sleep(3)
    stores("kill-mariadb")
    time.sleep(1)
    stores("start-mariadb")
    wait_until(lambda: server.health()["archive"]["lag_seconds"] < 1.0, 60, "the archive to catch up after the crash")
    time.sleep(1)
    load.stop()
    server.wait_archived()
    check_archive(server, load, "mariadb_crash")
    server.stop()


def probe_initials(probe):
    session = requests.Session()
    while not probe.stop_event.is_set():
        probe.initial(session, str(uuidlib.uuid4()), rng.choice(LETTERS))
        time.sleep(probe.pause)


def mariadb_outage(outage=30):
    server = Server(seed=13).start()
    server.wait_healthy(need_mariadb=True)
    load = Load(server.url, pause=0.01, seed=server.seed).start()
    time.sleep(2)
    stores("stop-mariadb")
    down = time.time()
    time.sleep(outage / 2)
    health = server.health()
    if health["status"] != "degraded" or health["mariadb"]["status"] != "down" or health["archive"]["backlog"] <= 0:
        fail(f"mariadb_outage: /health with MariaDB down: {health}")
    log(f"mariadb_outage: /health degraded, backlog {health['archive']['backlog']}, lag {health['archive']['lag_seconds']} s")
    time.sleep(outage - (time.time() - down))
    restarting = time.time()
    stores("start-mariadb")
    up = time.time()
    during = load.statuses_between(down, restarting)
    not_ok = Counter(status for _, _, status in during if status != 200)
    if not_ok or len(during) < 100:
        fail(f"mariadb_outage: {len(during)} requests while MariaDB was down, not 200: {dict(not_ok)}")
    log(f"mariadb_outage: MariaDB down {restarting - down:.1f} s; all {len(during)} requests meanwhile answered 200")

    def caught_up():
        archive = server.health()["archive"]
        return archive["lag_seconds"] < 1.0 and archive["backlog"] < 5
    wait_until(caught_up, 60, "the archive to catch up after MariaDB came back")
    log(f"mariadb_outage: archive caught up {time.time() - up:.1f} s after MariaDB was back (load still running)")
    time.sleep(1)
    load.stop()
    server.wait_archived()
    check_archive(server, load, "mariadb_outage")
    server.stop()


def kill_archiver(kills=6):
    server = Server(seed=14, extra_args=["--no-archiver"]).start()
    server.wait_healthy(need_mariadb=True)
    server.command("migrate")
    load = Load(server.url, seed=server.seed).start()
    time.sleep(6)  # a backlog to work through
    backlog = server.health()["archive"]["backlog"]
    env = server.run_env(SYMBOLSTREAM_LOG_LEVEL="debug")  # as the server's (unprivileged) user
    log_path = ROOT / ".artifacts" / f"archiver-{server.prefix.rstrip(':')}.log"
    redelivered = 0
    mid_batch = 0
    for round_ in range(kills + 1):
        with open(log_path, "w") as output:
            archiver = subprocess.Popen(server.argv("archive", "--archive-batch", "20"), env=env,
                                        stdout=output, stderr=subprocess.STDOUT)
        if round_ == kills:
            break
        # Kill it once it is busy: after its first batch, at a random moment.
        wait_until(lambda: "archived batch" in log_path.read_text(errors="replace") or archiver.poll() is not None,
                   30, "the archiver's first batch")
        time.sleep(rng.uniform(0.0, 0.3))
        archiver.send_signal(signal.SIGKILL)
        archiver.wait()
        text = log_path.read_text(errors="replace")
        if "re-archiving entries left pending" in text:
            redelivered += 1
        # Read, not yet acknowledged: the entries it held are pending (in
        # one shard's log or several).
        shards = int(redis_cli(server.env, "HGET", f"{server.prefix}meta", "shards"))
        pending = sum(int(redis_cli(server.env, "XPENDING", f"{server.prefix}{{{shard}}}:log", "archiver").split("\n")[0] or 0)
                      for shard in range(shards))
        if pending > 0:
            mid_batch += 1
    time.sleep(2)
    load.stop()
    wait_until(lambda: server.health()["archive"]["backlog"] == 0, 60, "the last archiver to drain the log")
    archiver.send_signal(signal.SIGTERM)
    if archiver.wait(timeout=20) != 0:
        fail("kill_archiver: the archiver did not stop cleanly on SIGTERM")
    if "re-archiving entries left pending" in log_path.read_text(errors="replace"):
        redelivered += 1
    log(f"kill_archiver: backlog {backlog} entries; killed -9 {kills} times, {mid_batch} of them holding "
        f"unacknowledged entries; {redelivered} restarts re-archived pending entries")
    if mid_batch == 0 or redelivered == 0:
        fail("kill_archiver: no kill landed inside a batch; the test proved nothing")
    check_archive(server, load, "kill_archiver")
    server.stop()


def check_in_redis(server, load, label):
    """Every acknowledged event is in Redis (before any archive or repair):
    each acknowledged initial's record with the answer the client got, and at
    least the acknowledged followups of every uuid."""
    session = requests.Session()
    problems = []
    for request_id in set(load.acked) | set(load.acked_followups):
        response = session.get(f"{server.url}/requests/{request_id}", timeout=10)
        if response.status_code != 200:
            problems.append(f"{request_id}: /requests {response.status_code}")
            continue
        record = response.json()
        if request_id in load.acked:
            symbol, answer = load.acked[request_id]
            if (record["symbol"], record["guess"]) != (symbol, answer == "True"):
                problems.append(f"{request_id}: Redis has {record['symbol']} {record['guess']}, acknowledged {symbol} {answer}")
        if len(record["followups"]) < load.acked_followups[request_id]:
            problems.append(f"{request_id}: {len(record['followups'])} followups in Redis, {load.acked_followups[request_id]} acknowledged")
    if problems:
        fail(f"{label}: {len(problems)} acknowledged events not in Redis, first: {problems[:5]}")
    log(f"{label}: Redis holds every acknowledged event ({len(load.acked)} initials, "
        f"{sum(load.acked_followups.values())} followups)")


class TmpfsRedis:
    """A redis-server of its own (AOF, `appendfsync` policy) whose data dir is
    a small tmpfs under the profile's data folder, so that its disk can be
    filled for real. Mounting needs root (CI runs as root); `close` kills the
    server and unmounts, and runs on every way out (with, atexit, a failure)."""

    def __init__(self, env, policy, size="16m"):
        profile = os.environ.get("SYMBOLSTREAM_PROFILE", "test")
        self.base = ROOT / ".data" / profile / f"diskfull-{policy}"
        self.data = self.base / "redis"
        self.filler = self.data / "filler"
        self.log_path = self.base / "redis.log"
        self.env = env
        self.policy = policy
        self.size = size
        self.port = free_port()
        self.process = None
        self.mounted = False

    @staticmethod
    def can_mount():
        return os.geteuid() == 0

    def __enter__(self):
        self.data.mkdir(parents=True, exist_ok=True)
        subprocess.run(["umount", str(self.data)], capture_output=True)  # a leftover of an interrupted run
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0700", "tmpfs", str(self.data)],
                       check=True, capture_output=True, text=True)
        self.mounted = True
        _cleanups.append(self.close)
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        if self.log_path.exists():
            self.log_path.rename(self.log_path.with_suffix(f".{int(time.time() * 1000)}.log"))
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data),
             "--appendonly", "yes", "--appendfsync", self.policy, "--save", "", "--maxmemory-policy", "noeviction",
             "--hash-max-listpack-entries", "512", "--logfile", str(self.log_path),
             "--requirepass", self.env.get("SYMBOLSTREAM_REDIS_PASSWORD", "")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        env = dict(self.env, SYMBOLSTREAM_REDIS_PORT=str(self.port))
        wait_until(lambda: redis_cli(env, "PING") == "PONG", 30, "the tmpfs Redis to load its AOF")

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
        if self.process:
            self.process.wait(timeout=10)

    def fill(self):
        """Takes every free byte of the tmpfs; returns how many."""
        written = 0
        chunk = b"\0" * 65536
        with open(self.filler, "wb", buffering=0) as filler:
            while True:
                try:
                    written += filler.write(chunk)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
        return written

    def free(self):
        self.filler.unlink(missing_ok=True)

    def log_text(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self):
        self.kill()
        if self.mounted:
            out = subprocess.run(["umount", str(self.data)], capture_output=True, text=True)
            if out.returncode != 0:
                subprocess.run(["umount", "-l", str(self.data)], capture_output=True)
            self.mounted = False


_cleanups = []
atexit.register(lambda: _run_cleanups())


def _run_cleanups():
    while _cleanups:
        _cleanups.pop()()


def redis_disk_full(policy):
    """Redis's disk fills under load. What Redis 7.0 does then
    (flushAppendOnlyFile): with `always` it exits before replying to the
    commands whose write failed; with `everysec` it replies, keeps them in
    memory only and refuses writes (MISCONF) until a retry of the write
    succeeds. The service must acknowledge nothing that is not in the AOF:
    after Redis is killed -9 and restarted with space again, every
    acknowledged event is in Redis, and then once in MariaDB."""
    def scenario():
        if not TmpfsRedis.can_mount():
            log(f"redis_disk_full_{policy}: SKIPPED: mounting a tmpfs needs root")
            return
        server = Server(seed=19 if policy == "everysec" else 20)
        with TmpfsRedis(server.env, policy) as redis:
            redis.start()
            server.env["SYMBOLSTREAM_REDIS_PORT"] = str(redis.port)
            server.start()
            server.wait_healthy(need_mariadb=True)
            load = Load(server.url, seed=server.seed).start()
            time.sleep(2)
            filled_at = time.time()
            filled = redis.fill()
            wait_until(lambda: "writing to the AOF" in redis.log_text() or "Short write" in redis.log_text(),
                       30, "Redis to fail an AOF write")
            failed_at = time.time()
            log(f"redis_disk_full_{policy}: tmpfs filled ({filled} bytes) under load; Redis failed an AOF write "
                f"{failed_at - filled_at:.2f} s later")
            time.sleep(0.5)
            health = requests.get(server.url + "/health", timeout=10)
            redis_state = health.json()["redis"]
            if policy == "everysec":
                # Redis refuses writes (and /health must say so, 503).
                if health.status_code != 503 or redis_state["status"] != "refusing_writes" or "MISCONF" not in redis_state.get("error", ""):
                    fail(f"redis_disk_full_{policy}: /health with the disk full: {health.status_code} {health.text[:400]}")
            else:
                wait_until(lambda: redis.process.poll() is not None, 10, "Redis (appendfsync always) to exit")
                if "Can't recover from AOF write error" not in redis.log_text():
                    fail(f"redis_disk_full_{policy}: Redis exited without its AOF message: {redis.log_text()[-1000:]}")
                if health.status_code != 503:
                    fail(f"redis_disk_full_{policy}: /health with Redis gone: {health.status_code} {health.text[:400]}")
            log(f"redis_disk_full_{policy}: /health {health.status_code}, redis {redis_state}")
            time.sleep(2)  # the load goes on against the full disk
            full = load.statuses_between(failed_at + 0.2, time.time())
            if not full or any(status == 200 for _, _, status in full):
                fail(f"redis_disk_full_{policy}: answers while the disk was full: {Counter(s for _, _, s in full)}")
            redis.kill()
            redis.free()
            redis.start()
            back = time.time()
            server.wait_healthy()
            time.sleep(2)
            load.stop()
            after = load.statuses_between(back, time.time())
            if sum(1 for _, _, status in after if status == 200) < 20:
                fail(f"redis_disk_full_{policy}: no service after Redis came back: {Counter(s for _, _, s in after)}")
            log(f"redis_disk_full_{policy}: {len(full)} requests while the disk was full, none acknowledged "
                f"({dict(Counter(s for _, _, s in full))}); Redis killed -9 and restarted with space")
            check_in_redis(server, load, f"redis_disk_full_{policy}")
            check_archive(server, load, f"redis_disk_full_{policy}")
            server.stop()


    return scenario


def mariadb_pid():
    profile = os.environ.get("SYMBOLSTREAM_PROFILE", "test")
    return int((ROOT / ".data" / profile / "mariadb.pid").read_text().strip())


def mariadb_freeze(freeze=12, bound=3.0):
    """MariaDB hung (SIGSTOP: connections accepted, nothing answered): the
    routes that report on it answer within `bound` seconds every time (a
    dependency check waits at most 1 s, and a hung one is not sent again),
    `/health` 200 `degraded`; every ingest is answered 200 meanwhile."""
    server = Server(seed=21).start()
    server.wait_healthy(need_mariadb=True)
    load = Load(server.url, seed=server.seed).start()
    time.sleep(2)
    pid = mariadb_pid()
    os.kill(pid, signal.SIGSTOP)
    frozen = time.time()
    timings = Counter()
    slowest = {}
    try:
        session = requests.Session()
        while time.time() - frozen < freeze:
            for path in ("/health", "/pipeline", "/metrics"):
                started = time.time()
                try:
                    response = session.get(server.url + path, timeout=bound * 3)
                except requests.RequestException as error:
                    fail(f"mariadb_freeze: {path} with MariaDB hung: {error!r} after {time.time() - started:.1f} s")
                took = time.time() - started
                slowest[path] = max(slowest.get(path, 0), took)
                timings[path] += 1
                if took > bound or response.status_code != 200:
                    fail(f"mariadb_freeze: {path} took {took:.2f} s (bound {bound} s): {response.status_code} {response.text[:300]}")
                if path == "/metrics":
                    up = re.search(r'^symbolstream_dependency_up\{dependency="mariadb"\} (\S+)$', response.text, re.M)
                    if not up or float(up.group(1)) != 0:
                        fail(f"mariadb_freeze: /metrics says MariaDB up: {up.group(0) if up else 'no sample'}")
                else:
                    body = response.json()
                    if body["status"] != "degraded" or body["mariadb"]["status"] != "down" or body["redis"]["status"] != "up":
                        fail(f"mariadb_freeze: {path} with MariaDB hung: {response.text[:400]}")
            time.sleep(0.3)
    finally:
        thawing = time.time()
        os.kill(pid, signal.SIGCONT)
    log(f"mariadb_freeze: MariaDB hung {thawing - frozen:.1f} s; {sum(timings.values())} reports, slowest "
        + ", ".join(f"{path} {took * 1000:.0f} ms" for path, took in slowest.items()))
    during = load.statuses_between(frozen, thawing)
    not_ok = Counter(status for _, _, status in during if status != 200)
    if not_ok or len(during) < 100:
        fail(f"mariadb_freeze: {len(during)} requests while MariaDB was hung, not 200: {dict(not_ok)}")
    log(f"mariadb_freeze: all {len(during)} requests meanwhile answered 200")
    wait_until(lambda: server.health()["mariadb"]["status"] == "up", 60, "/health to see MariaDB again")
    time.sleep(1)
    load.stop()
    server.wait_archived()
    check_archive(server, load, "mariadb_freeze")
    server.stop()


def redis_oom():
    """Redis refusing writes (maxmemory reached, noeviction: OOM) while it
    still answers reads: /health must be 503 `refusing_writes` (events cannot
    be taken), not `ok`; ingest 503; both recover once there is memory."""
    server = Server(seed=22).start()
    server.wait_healthy(need_mariadb=True)
    load = Load(server.url, seed=server.seed).start()
    time.sleep(2)
    if redis_cli(server.env, "CONFIG", "SET", "maxmemory", "1") != "OK":
        fail("redis_oom: cannot set maxmemory")
    try:
        refused = time.time()
        time.sleep(0.5)
        health = requests.get(server.url + "/health", timeout=10)
        redis_state = health.json()["redis"]
        if health.status_code != 503 or redis_state["status"] != "refusing_writes" or not redis_state.get("error", "").startswith("OOM"):
            fail(f"redis_oom: /health with Redis out of memory: {health.status_code} {health.text[:400]}")
        log(f"redis_oom: /health 503, redis {redis_state}")
        time.sleep(2)
        during = load.statuses_between(refused + 0.1, time.time())
    finally:
        redis_cli(server.env, "CONFIG", "SET", "maxmemory", "0")
    restored = time.time()
    if not during or any(status == 200 for _, _, status in during):
        fail(f"redis_oom: answers while Redis refused writes: {Counter(s for _, _, s in during)}")
    wait_until(lambda: requests.get(server.url + "/health", timeout=10).status_code == 200, 5, "/health 200 after memory was freed")
    log(f"redis_oom: {len(during)} requests while Redis refused writes, all 503; /health 200 "
        f"{time.time() - restored:.2f} s after maxmemory was lifted")
    time.sleep(2)
    load.stop()
    if not any(status == 200 for _, _, status in load.statuses_between(restored + 1, time.time())):
        fail("redis_oom: no 200 after memory was freed")
    server.wait_archived()
    check_archive(server, load, "redis_oom")
    server.stop()


SCENARIOS = {
    "kill_service": kill_service,
    "redis_restart": redis_restart,
    "redis_freeze": redis_freeze,
    "redis_crash_everysec": redis_crash("everysec"),
    "redis_crash_always": redis_crash("always"),
    "mariadb_outage": mariadb_outage,
    "mariadb_crash": mariadb_crash,
    "kill_archiver": kill_archiver,
    "redis_disk_full_everysec": redis_disk_full("everysec"),
    "redis_disk_full_always": redis_disk_full("always"),
    "mariadb_freeze": mariadb_freeze,
    "redis_oom": redis_oom,
}


def main():
    signal.signal(signal.SIGALRM, lambda *_: fail("fault tests took longer than 15 minutes"))
    signal.signal(signal.SIGTERM, lambda *_: fail("terminated"))  # exits through the cleanups
    signal.alarm(900)
    chosen = sys.argv[1:] or list(SCENARIOS)
    try:
        for name in chosen:
            started = time.time()
            log(f"--- {name}")
            SCENARIOS[name]()
            log(f"--- {name} passed in {time.time() - started:.0f} s")
    finally:
        _run_cleanups()  # a failure exits through here too (SystemExit): tmpfs unmounted
    log("PASS")


if __name__ == "__main__":
    main()
