#!/usr/bin/env python3
"""Faults of the scaled-out deployment, under load, and bad cluster
configurations: SymbolStream on the Redis Cluster stores profile
(SYMBOLSTREAM_CLUSTER_PROFILE: 3 primaries, 3 replicas, a short
cluster-node-timeout), two fronts behind HAProxy (harness.ClusterDeployment,
as provisioning/cluster.sh runs them).

Each fault runs under a steady load (harness.Load) that records every answer
as acknowledged, uncertain (503, HAProxy's 502/504, a timeout or a dropped
connection) or refused; afterwards the log is drained and MariaDB must hold
every acknowledged event exactly once with the answer the client got, and no
event that was neither acknowledged nor uncertain; `symbolstream verify` (on
the cluster) must find no difference (test_faults.check_archive).

Scenarios:
  primary_killed_ack1  kill -9 of the Redis primary holding the most shards,
                       fronts with --redis-replicas-ack 1: its replica takes
                       over; measured: the promotion, the time until every
                       request succeeds again (bounded); no acknowledged event
                       lost. The killed node is started again (a replica now).
  primary_killed_ack0  the same with --redis-replicas-ack 0: acknowledged events
                       the replica had not received are lost; the loss is
                       counted and reported (and repaired as far as MariaDB
                       has them: rebuild), not failed.
  front_killed         kill -9 of a front under load: HAProxy sends the traffic
                       to the other; only requests in flight on the killed
                       front are uncertain; the front comes back and serves.
  archiver_killed      fronts without archivers, two `symbolstream archive`
                       consumers; one killed -9 mid-batch and left dead: the
                       other takes over its pending entries
                       (--archiver-takeover-after 2) and finishes every shard.
  bad_seeds            --redis-cluster naming nothing listening, or a server
                       not in cluster mode: a clear error in the log (every
                       seed and why), 503 meanwhile.
  node_down_at_start   a front started while a primary is down: it starts,
                       says which node is unreachable, serves once the replica
                       took over.
  other_shard_count    a front with --shards 8 on a deployment of 16 refuses to
                       serve, naming both counts (it logs it and answers 503).

Run by ./test.sh; by hand (stores profile NAME started with --redis-cluster):
`SYMBOLSTREAM_CLUSTER_PROFILE=NAME SYMBOLSTREAM_BINARY=.build/debug/symbolstream
python3 Tests/fault/test_cluster_faults.py [scenario…]`. Loopback only; the whole
run is bounded (SIGALRM after 15 minutes).
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid as uuidlib
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (ROOT, ClusterDeployment, Load, MariaDB, cluster_env, cluster_nodes,  # noqa: E402
                     cluster_profile, fail, free_port, log)
from test_faults import check_archive, probe_initials, wait_until  # noqa: E402

rng = random.Random(int(os.environ.get("SYMBOLSTREAM_FAULT_SEED", "1515")))

# Generous bounds: the machine is shared and small (timings are noisy).
FAILOVER_BOUND = 30.0     # kill -9 of a primary until every request succeeds again
RECOVERY_BOUND = 20.0     # a node back (or a replica promoted) until every request succeeds again
STEADY = 3.0              # seconds of nothing but 200s that count as "recovered"


# ---------------------------------------------------------------- the cluster

def stores(command, node=None):
    """provisioning/stores.sh COMMAND [node] for the cluster profile."""
    args = [str(ROOT / "provisioning" / "stores.sh"), command] + ([str(node)] if node else []) + ["--profile", cluster_profile()]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, SYMBOLSTREAM_PROFILE=cluster_profile()))
    if out.returncode != 0:
        fail(f"stores.sh {command} {node or ''}: {out.stderr.strip()[-2000:]}")


def node_cli(env, node, *args):
    host, port = cluster_nodes(env)[node - 1]
    out = subprocess.run(["redis-cli", "-h", host, "-p", port, "--no-auth-warning", "-a", env.get("SYMBOLSTREAM_REDIS_PASSWORD", ""),
                          *args], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() if out.returncode == 0 else ""


def cluster_view(env, skip=()):
    """CLUSTER NODES as one live node sees it: {node number: (role, primary's
    number or None, [slot ranges], flags)}."""
    ports = {port: n for n, (_, port) in enumerate(cluster_nodes(env), start=1)}
    for node in range(1, len(ports) + 1):
        if node in skip:
            continue
        text = node_cli(env, node, "CLUSTER", "NODES")
        if not text:
            continue
        ids, rows = {}, []
        for line in text.splitlines():
            parts = line.split()
            port = parts[1].split("@")[0].rsplit(":", 1)[1]
            ids[parts[0]] = ports.get(port)
            rows.append(parts)
        view = {}
        for parts in rows:
            flags = parts[2].split(",")
            role = "primary" if "master" in flags else "replica"
            view[ids[parts[0]]] = (role, ids.get(parts[3]), parts[8:], flags)
        return view
    fail("no cluster node answers CLUSTER NODES")


def slot_owner(view, slot):
    for node, (role, _, ranges, flags) in view.items():
        if role != "primary" or "fail" in flags:
            continue
        for text in ranges:
            if text.startswith("["):
                continue
            low, _, high = text.partition("-")
            if int(low) <= slot <= int(high or low):
                return node
    return None


def shard_slots(env, deployment, shards=16):
    """The slot of each shard of the deployment (CLUSTER KEYSLOT of its keys)."""
    node = next(n for n in range(1, 7) if node_cli(env, n, "PING") == "PONG")
    return [int(node_cli(env, node, "CLUSTER", "KEYSLOT", f"{deployment.prefix}{{{shard}}}:log")) for shard in range(shards)]


def busiest_primary(env, deployment):
    """(node, its replica, shards it serves): the primary serving most of the deployment's shards."""
    view = cluster_view(env)
    slots = shard_slots(env, deployment)
    owners = Counter(slot_owner(view, slot) for slot in slots)
    node, served = owners.most_common(1)[0]
    replica = next(n for n, (role, primary, _, _) in view.items() if role == "replica" and primary == node)
    return node, replica, served


def timeline_after(load, start):
    return sorted(load.statuses_between(start, time.time() + 3600))


def wait_steady(loads, since, bound, what):
    """Until every request of `loads` sent during the last STEADY seconds
    succeeded (and some were sent); the end of the last failed request sent
    after `since` (or `since`). Fails after `bound` seconds."""
    deadline = since + bound + STEADY
    while time.time() < deadline:
        now = time.time()
        recent = [entry for load in loads for entry in load.statuses_between(now - STEADY, now)]
        if now - since >= STEADY and len(recent) >= 20 and all(status == 200 for _, _, status in recent):
            break
        time.sleep(0.1)
    else:
        bad = Counter(status for load in loads for _, _, status in load.statuses_between(time.time() - STEADY, time.time()))
        fail(f"{what}: requests still failing {bound:.0f} s later: last {STEADY:.0f} s {dict(bad)}")
    failed = [sent + took for load in loads for sent, took, status in load.statuses_between(since, time.time()) if status != 200]
    return max(failed) if failed else since


def failed_between(loads, start, end):
    statuses = [status for load in loads for _, _, status in load.statuses_between(start, end)]
    return Counter(str(s) for s in statuses if s != 200), len(statuses)


# ---------------------------------------------------------------- faults under load

def primary_killed(ack):
    def scenario():
        label = f"primary_killed_ack{ack}"
        env = cluster_env()
        deployment = ClusterDeployment(seed=40 + ack, extra_args=["--redis-replicas-ack", str(ack)]).start()
        uncertain = deployment.uncertain_statuses
        load = Load(deployment.url, seed=deployment.seed, uncertain_statuses=uncertain).start()
        probe = Load(deployment.url, threads=1, pause=0.02, uncertain_statuses=uncertain)
        probe_thread = threading.Thread(target=probe_initials, args=(probe,), daemon=True)
        probe_thread.start()
        time.sleep(3)
        victim, replica, shards = busiest_primary(env, deployment)
        log(f"{label}: killing primary node {victim} ({shards} of 16 shards); node {replica} is its replica")
        killed = time.time()
        stores("kill-redis-node", victim)

        def promoted():
            view = cluster_view(env, skip=(victim,))
            return view.get(replica, ("replica",))[0] == "primary"
        wait_until(promoted, FAILOVER_BOUND, f"node {replica} to take over from node {victim}")
        promoted_at = time.time()
        log(f"{label}: node {replica} promoted {promoted_at - killed:.1f} s after the kill")

        if ack == 0:
            recovered = wait_steady([load, probe], killed, FAILOVER_BOUND, label)
            failover = recovered - killed
            failures, total = failed_between([load, probe], killed, recovered)
            log(f"{label}: every request succeeds again {failover:.1f} s after the kill "
                f"({promoted_at - killed:.1f} s to the promotion); meanwhile {sum(failures.values())} of {total} requests "
                f"failed ({dict(failures)})")
            if failover > FAILOVER_BOUND:
                fail(f"{label}: {failover:.1f} s until every request succeeded again, bound {FAILOVER_BOUND:.0f} s")
            restarting = time.time()
            stores("start-redis-node", victim)
            back = time.time()
            log(f"{label}: node {victim} back as a replica in {back - restarting:.1f} s")
            wait_steady([load, probe], back, RECOVERY_BOUND, f"{label} (node {victim} back)")
        else:
            # The new primary has no replica until the killed node is back:
            # WAIT 1 cannot be satisfied, so its shards' writes are refused.
            time.sleep(2)
            refused, total = failed_between([load, probe], promoted_at + 1, time.time())
            log(f"{label}: with node {victim} down, {sum(refused.values())} of {total} requests refused after the "
                f"promotion ({dict(refused)}): no replica to acknowledge them")
            restarting = time.time()
            stores("start-redis-node", victim)
            back = time.time()
            log(f"{label}: node {victim} back as a replica in {back - restarting:.1f} s")
            recovered = wait_steady([load, probe], back, RECOVERY_BOUND, f"{label} (node {victim} back)")
            failover = recovered - killed
            log(f"{label}: every request succeeds again {max(0.0, recovered - back):.1f} s after node {victim} was back "
                f"({failover:.1f} s after the kill, {promoted_at - killed:.1f} s to the promotion)")
        time.sleep(1)
        probe.stop_event.set()
        probe_thread.join(timeout=10)
        load.stop(check=(ack == 1))
        load.acked.update(probe.acked)
        load.acked_order += [r for r in probe.acked_order if r not in load.acked_order]
        load.uncertain.update({k: v for k, v in probe.uncertain.items() if k not in load.acked})
        if ack == 1:
            check_archive(deployment, load, label)
        else:
            count_losses(deployment, load, label)
        log(f"{label}: failover measured {failover:.1f} s (promotion {promoted_at - killed:.1f} s)")
        deployment.stop()
    return scenario


def count_losses(deployment, load, label):
    """With --redis-replicas-ack 0: acknowledged events the promoted replica
    never received are gone from Redis (and from MariaDB unless archived
    before the kill). Count them, check that nothing else is wrong, repair
    Redis from MariaDB (rebuild), and report."""
    deployment.command("archive", "--drain")
    rows = MariaDB(deployment.env, deployment.database).query(
        "SELECT kind, uuid, COALESCE(symbol, '-'), COALESCE(guess, '-') FROM events")
    initials = Counter(r[1] for r in rows if r[0] == "initial")
    followups = Counter(r[1] for r in rows if r[0] == "followup")
    session = requests.Session()
    lost_initials, lost_from_redis, problems = [], [], []
    for request_id, (symbol, answer) in load.acked.items():
        if initials[request_id] == 0:
            lost_initials.append(request_id)
        record = session.get(f"{deployment.url}/requests/{request_id}", timeout=10)
        if record.status_code == 404:
            lost_from_redis.append(request_id)
        elif record.status_code != 200:
            problems.append(f"/requests/{request_id}: {record.status_code}")
    lost_followups = sum(max(0, n - followups[r]) for r, n in load.acked_followups.items())
    for request_id, count in initials.items():
        if request_id not in load.acked and request_id not in load.uncertain:
            problems.append(f"initial {request_id} stored but never sent with an unknown outcome or acknowledged")
    for request_id in followups:
        if followups[request_id] > load.acked_followups[request_id] + load.uncertain_followups[request_id]:
            problems.append(f"followup {request_id}: {followups[request_id]} rows, more than sent")
    changed = [e for e in load.errors if "answered" in e]
    others = [e for e in load.errors if "answered" not in e]
    if others:
        fail(f"{label}: wrong answers besides retries of lost initials: {others[:5]}")
    duplicates = [r for r, n in initials.items() if n > 1]
    if len(duplicates) > len(lost_from_redis) or problems:
        fail(f"{label}: {problems[:5]} {len(duplicates)} uuids with two initial rows")
    log(f"{label}: LOST with --redis-replicas-ack 0: {len(lost_initials)} of {len(load.acked)} acknowledged initials and "
        f"{lost_followups} of {sum(load.acked_followups.values())} acknowledged followups missing from MariaDB; "
        f"{len(lost_from_redis)} acknowledged initials missing from Redis; {len(changed)} retries of a lost initial "
        f"answered anew, {len(duplicates)} uuids with two initial rows")
    out = deployment.command("verify", check=False)
    log(f"{label}: {out.stdout.strip().splitlines()[-1]}")
    if out.returncode != 0:
        if not (lost_initials or lost_from_redis or lost_followups):
            fail(f"{label}: verify found differences with no event lost:\n{out.stdout[-4000:]}")
        # What MariaDB has, Redis gets back: rebuild (service stopped).
        deployment.stop()
        deployment.command("rebuild")
        out = deployment.command("verify", check=False)
        log(f"{label}: after rebuild: {out.stdout.strip().splitlines()[-1]}")
        if out.returncode != 0 and not duplicates:
            fail(f"{label}: verify after rebuild:\n{out.stdout[-4000:]}")


def front_killed():
    label = "front_killed"
    deployment = ClusterDeployment(seed=50, extra_args=["--archiver-takeover-after", "3"]).start()
    load = Load(deployment.url, seed=deployment.seed, uncertain_statuses=deployment.uncertain_statuses).start()
    time.sleep(3)
    killed = time.time()
    deployment.kill_front(1)
    time.sleep(5)
    failures, total = failed_between([load], killed, killed + 5)
    recovered = wait_steady([load], killed, RECOVERY_BOUND, label)
    log(f"{label}: front 1 killed -9 under load; {sum(failures.values())} of {total} requests in the next 5 s not "
        f"answered 200 ({dict(failures)}); every request succeeds again {max(0.0, recovered - killed):.2f} s after the kill")
    served = deployment.fronts[1].health()["requests"]
    restarted = time.time()
    deployment.start_front(1)
    deployment.wait_healthy()
    time.sleep(3)
    after, total_after = failed_between([load], restarted, time.time())
    if after:
        fail(f"{label}: {dict(after)} of {total_after} requests failed after front 1 came back")
    accepted = deployment.fronts[0].health()["requests"]
    if accepted.get("initials_accepted", 0) == 0:
        fail(f"{label}: front 1 took no traffic after it came back: {accepted}")
    log(f"{label}: front 1 back, serving again ({accepted.get('initials_accepted')} initials since; front 2 had "
        f"{served.get('initials_accepted')}); all {total_after} requests since answered 200")
    load.stop()
    if len(load.acked) < 200:
        fail(f"{label}: only {len(load.acked)} initials acknowledged; the load did not run")
    check_archive(deployment, load, label)
    deployment.stop()


def xpending(env, deployment, consumer=None, shards=16):
    """Entries pending in the archiver group over every shard (of one consumer)."""
    total = 0
    view = cluster_view(env)
    for shard in range(shards):
        key = f"{deployment.prefix}{{{shard}}}:log"
        slot = int(node_cli(env, next(n for n in view if "fail" not in view[n][3]), "CLUSTER", "KEYSLOT", key))
        node = slot_owner(view, slot)
        if consumer is None:
            out = node_cli(env, node, "XPENDING", key, "archiver")
            total += int((out.splitlines() or ["0"])[0] or 0)
        else:
            out = node_cli(env, node, "XPENDING", key, "archiver", "-", "+", "100000", consumer)
            total += len([line for line in out.splitlines() if "-" in line and line[0].isdigit()])
    return total


def archiver_killed(attempts=10):
    label = "archiver_killed"
    env = cluster_env()
    deployment = ClusterDeployment(seed=60, extra_args=["--no-archiver"]).start()
    deployment.command("migrate")
    run_env = dict(deployment.env, SYMBOLSTREAM_MARIADB_DATABASE=deployment.database, SYMBOLSTREAM_REDIS_PREFIX=deployment.prefix,
                   SYMBOLSTREAM_LOG_LEVEL="debug")

    def archiver(name):
        path = ROOT / ".artifacts" / f"archiver-{name}-{deployment.prefix.rstrip(':')}.log"
        process = subprocess.Popen([deployment.binary, "archive", "--archiver-consumer", name, "--archive-batch", "20",
                                    "--archiver-takeover-after", "2"],
                                   env=run_env, stdout=open(path, "a"), stderr=subprocess.STDOUT)
        return process, path

    load = Load(deployment.url, seed=deployment.seed, uncertain_statuses=deployment.uncertain_statuses).start()
    survivor, survivor_log = archiver("archiver-2")
    for attempt in range(1, attempts + 1):
        victim, victim_log = archiver("archiver-1")
        wait_until(lambda: victim_log.read_text(errors="replace").count("archived batch") >= 2 or victim.poll() is not None,
                   30, "archiver-1's first batches")
        time.sleep(rng.uniform(0.0, 0.2))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed = time.time()
        held = xpending(env, deployment, "archiver-1")
        if held > 0:
            break
        log(f"{label}: attempt {attempt}: archiver-1 held no unacknowledged entry when killed; again")
    else:
        fail(f"{label}: no kill landed inside a batch in {attempts} attempts; the test proved nothing")
    log(f"{label}: archiver-1 killed -9 holding {held} unacknowledged log entries (attempt {attempt}); not restarted")
    wait_until(lambda: xpending(env, deployment, "archiver-1") == 0, 60, "archiver-2 to take over archiver-1's entries")
    taken = time.time() - killed
    time.sleep(1)
    load.stop()
    wait_until(lambda: deployment.health()["archive"]["backlog"] == 0, 60, "archiver-2 to drain every shard")
    text = survivor_log.read_text(errors="replace")
    if "took over entries abandoned by another consumer" not in text:
        fail(f"{label}: archiver-2 never says it took entries over; see {survivor_log}")
    log(f"{label}: archiver-2 took over archiver-1's entries {taken:.1f} s after the kill (takeover after 2 s) "
        f"and drained every shard")
    survivor.send_signal(signal.SIGTERM)
    if survivor.wait(timeout=20) != 0:
        fail(f"{label}: archiver-2 did not stop cleanly on SIGTERM")
    check_archive(deployment, load, label)
    deployment.stop()


# ---------------------------------------------------------------- bad configuration

def serve_until(args, env, seconds, expect_exit):
    """Runs `symbolstream serve ARGS`; its exit status (None if still running
    after `seconds`, then stopped) and output."""
    path = ROOT / ".artifacts" / f"badconfig-{uuidlib.uuid4().hex[:8]}.log"
    with open(path, "w") as output:
        process = subprocess.Popen(args, env=env, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.time() + seconds
    while time.time() < deadline and process.poll() is None:
        time.sleep(0.1)
    code = process.poll()
    if code is None and not expect_exit:
        return None, process, path
    if code is None:
        process.kill()
        process.wait()
    return code, None, path


def bad_seeds():
    label = "bad_seeds"
    env = cluster_env()
    binary = os.environ.get("SYMBOLSTREAM_BINARY", str(ROOT / ".build" / "debug" / "symbolstream"))
    dead = [free_port(), free_port()]
    seeds = ",".join(f"127.0.0.1:{p}" for p in dead)
    port = free_port()
    run_env = dict(env, SYMBOLSTREAM_REDIS_CLUSTER=seeds, SYMBOLSTREAM_MARIADB_DATABASE="og_badseeds")
    code, process, path = serve_until([binary, "serve", "--port", str(port), "--no-archiver"], run_env, 5, expect_exit=False)
    if process is None:
        fail(f"{label}: serve with seeds {seeds} exited {code}; it should serve 503 until Redis is there: {path.read_text()[-2000:]}")
    try:
        health = requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
        initial = requests.post(f"http://127.0.0.1:{port}/initial", params={"uuid": str(uuidlib.uuid4()), "symbol": "e"}, timeout=5)
    finally:
        process.terminate()
        process.wait(timeout=20)
    said = path.read_text(errors="replace")
    error = health.json()["redis"].get("error", "")
    # The log and /health name a seed and why it failed (/health once said
    # only "not connected yet").
    if not all(f"127.0.0.1:{p}" in said for p in dead) or "refused" not in said.lower():
        fail(f"{label}: the log does not say that no seed answers ({seeds}, connection refused): {said[-1500:]}")
    if not any(f"127.0.0.1:{p}" in error for p in dead) or "refused" not in error.lower():
        fail(f"{label}: /health's Redis error does not say that the seeds refuse connections: {error[:500]}")
    log(f"{label}: /health meanwhile: {error[:200]}")
    if health.status_code != 503 or initial.status_code != 503:
        fail(f"{label}: /health {health.status_code}, /initial {initial.status_code}; expected 503s")
    log(f"{label}: serve with seeds {seeds}: 503 meanwhile; the log says: "
        f"{next(line for line in said.splitlines() if 'refused' in line.lower())[:300]}")

    out = subprocess.run([binary, "verify"], env=run_env, capture_output=True, text=True, timeout=60)
    if out.returncode == 0 or not all(f"127.0.0.1:{p}" in out.stderr for p in dead):
        fail(f"{label}: verify with seeds {seeds} exited {out.returncode}: {out.stderr[-1500:]}")
    log(f"{label}: verify exits {out.returncode}: {out.stderr.strip().splitlines()[-1][:300]}")

    standalone = os.environ.get("SYMBOLSTREAM_REDIS_PORT")
    if standalone:
        run_env = dict(run_env, SYMBOLSTREAM_REDIS_CLUSTER=f"127.0.0.1:{standalone}")
        out = subprocess.run([binary, "verify"], env=run_env, capture_output=True, text=True, timeout=60)
        if out.returncode == 0 or "not in cluster mode" not in out.stderr:
            fail(f"{label}: verify with a standalone Redis as seed exited {out.returncode}: {out.stderr[-1500:]}")
        log(f"{label}: a standalone Redis as seed: {out.stderr.strip().splitlines()[-1][:300]}")


def node_down_at_start():
    label = "node_down_at_start"
    env = cluster_env()
    deployment = ClusterDeployment(seed=70, fronts=1).start()
    victim, replica, shards = busiest_primary(env, deployment)
    deployment.stop()
    stores("kill-redis-node", victim)
    killed = time.time()
    front = ClusterDeployment(seed=71, fronts=1, prefix=deployment.prefix, database=deployment.database)
    front.fronts[0].start(wait=False, fresh_database=False)
    try:
        url = front.fronts[0].url
        wait_until(lambda: reachable(url), 30, "the front to listen")
        listening = time.time()
        # Until the replica took over, the dead primary's shards answer 503, naming it.
        said = front.fronts[0].log_path.read_text(errors="replace")
        host, port = cluster_nodes(env)[victim - 1]
        health = requests.get(url + "/health", timeout=5)
        statuses = Counter()
        deadline = time.time() + FAILOVER_BOUND
        while time.time() < deadline:
            response = requests.post(url + "/initial", params={"uuid": str(uuidlib.uuid4()), "symbol": "e"}, timeout=5)
            statuses[response.status_code] += 1
            if response.status_code == 200 and statuses[200] >= 20 and health_up(url):
                break
            time.sleep(0.02)
        else:
            fail(f"{label}: the front did not serve within {FAILOVER_BOUND:.0f} s of the kill: {dict(statuses)}")
        serving = time.time()
        mentioned = f"{host}:{port}" in said or f"{host}:{port}" in health.text
        log(f"{label}: node {victim} killed; a front started {listening - killed:.1f} s later listened, "
            f"served {serving - killed:.1f} s after the kill ({dict(statuses)}); "
            f"/health meanwhile {health.status_code}: {health.json()['redis'].get('error', 'up')[:300]}")
        if not mentioned and health.status_code != 200:
            fail(f"{label}: neither the log nor /health names the unreachable node {host}:{port}: {said[-2000:]} {health.text}")
    finally:
        front.stop()
        stores("start-redis-node", victim)
    MariaDB(deployment.env, deployment.database).query(f"DROP DATABASE `{deployment.database}`", database=False)


def reachable(url):
    try:
        requests.get(url + "/health", timeout=1)
        return True
    except requests.RequestException:
        return False


def health_up(url):
    try:
        return requests.get(url + "/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def other_shard_count():
    label = "other_shard_count"
    deployment = ClusterDeployment(seed=80, fronts=1, extra_args=["--shards", "16"]).start()
    try:
        port = free_port()
        run_env = dict(deployment.env, SYMBOLSTREAM_MARIADB_DATABASE=deployment.database, SYMBOLSTREAM_REDIS_PREFIX=deployment.prefix)
        started = time.time()
        # serve refuses: it exits non-zero with a message naming both counts.
        code, _, path = serve_until([deployment.binary, "serve", "--port", str(port), "--shards", "8"], run_env, 10, expect_exit=True)
        said = path.read_text(errors="replace")
        if code is None or code == 0 or "16 shards" not in said or "--shards 8" not in said:
            fail(f"{label}: serve --shards 8 on a deployment of 16 {'was still up after 10 s' if code is None else f'exited {code}'}: {said[-2000:]}")
        line = next(line for line in said.splitlines() if "16 shards" in line)
        log(f"{label}: serve --shards 8 exits {code} after {time.time() - started:.1f} s: {line[:400]}")
        out = deployment.command("verify", "--shards", "8", check=False)
        if out.returncode == 0 or "16 shards" not in out.stdout:
            fail(f"{label}: verify --shards 8 exited {out.returncode}: {out.stdout[-1500:]}")
        log(f"{label}: verify --shards 8 reports: {next(l for l in out.stdout.splitlines() if '16 shards' in l)[:300]}")
        if not health_up(deployment.url):
            fail(f"{label}: the deployment stopped serving")
    finally:
        deployment.stop()
    MariaDB(deployment.env, deployment.database).query(f"DROP DATABASE `{deployment.database}`", database=False)


SCENARIOS = {
    "primary_killed_ack1": primary_killed(1),
    "primary_killed_ack0": primary_killed(0),
    "front_killed": front_killed,
    "archiver_killed": archiver_killed,
    "bad_seeds": bad_seeds,
    "node_down_at_start": node_down_at_start,
    "other_shard_count": other_shard_count,
}


def main():
    signal.signal(signal.SIGALRM, lambda *_: fail("cluster fault tests took longer than 15 minutes"))
    signal.alarm(900)
    chosen = sys.argv[1:] or list(SCENARIOS)
    for name in chosen:
        started = time.time()
        log(f"--- {name}")
        SCENARIOS[name]()
        log(f"--- {name} passed in {time.time() - started:.0f} s")
    log("PASS")


if __name__ == "__main__":
    main()
