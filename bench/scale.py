#!/usr/bin/env python3
"""The scale-out benchmarks, side by side in one run (`bench/run.sh --scale`):

  shards   the sharded layout with 16 shards (the cluster default) against
           one shard (the default on one Redis) on the same standalone Redis:
           POST /initial and /dashboard/symbol, each in turns with the no-op
           ceiling, as ratios to it;
  memory   Redis bytes per request at the density of live traffic (20k/s),
           16 shards;
  cluster  the Redis Cluster deployment of provisioning/cluster.sh (3
           primaries, 3 replicas, HAProxy, 2 fronts) on this machine:
           throughput and latency through HAProxy, CPU per event of every
           Redis primary, of the fronts and of HAProxy, and the failover time
           after kill -9 of a primary under load.

It rewrites the "Scaling out" section of BENCHMARKS.md (between the markers
below) and leaves the rest, which the full run (`bench/run.sh`) writes, as it
was; the section names its own command and date.
"""

import argparse
import datetime
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import run
from run import BIN, DATA, NOOP_URL, ROOT, Process, get_json, interleaved, log, wait_http, wrk_run

BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"
CLUSTER_PORT = 5310        # HAProxy; the fronts on 5311, 5312
CLUSTER_PROFILE = "cluster"  # stores.sh profile: Redis 7001-7006, MariaDB 3309
NODE_TIMEOUT_MS = 1000


def serve(env, name, port, database, prefix, shards):
    run.mariadb(env, f"DROP DATABASE IF EXISTS `{database}`; CREATE DATABASE `{database}`;")
    server = Process(name, [str(BIN / "symbolstream"), "serve", "--port", str(port), "--shards", str(shards)],
                     env=dict(env, SYMBOLSTREAM_MARIADB_DATABASE=database, SYMBOLSTREAM_REDIS_PREFIX=prefix,
                              SYMBOLSTREAM_LOG_LEVEL="warning"))
    wait_http(f"http://127.0.0.1:{port}/health")
    return server


def case_shards(results, env, args):
    """16 shards against 1 on one Redis, each server with its own prefix and
    database, in turns with the no-op (no-op, 16, 1, no-op, …)."""
    log("sharded layout: 16 shards against 1 on the same Redis, in turns with the no-op")
    sixteen = serve(env, "shards-16", 5301, "og_bench_s16", "b16:", 16)
    one = serve(env, "shards-1", 5306, "og_bench_s1", "b1:", 1)
    try:
        urls = {"16": "http://127.0.0.1:5301", "1": "http://127.0.0.1:5306"}
        ingest = interleaved([("noop", wrk_run(NOOP_URL, "initial.lua")), ("s16", wrk_run(urls["16"], "initial.lua")),
                              ("s1", wrk_run(urls["1"], "initial.lua"))], args)
        for port in (5301, 5306):
            run.wait_archived(port)
        symbol = interleaved([("noop", wrk_run(NOOP_URL, "symbol.lua")), ("s16", wrk_run(urls["16"], "symbol.lua")),
                              ("s1", wrk_run(urls["1"], "symbol.lua"))], args)
        for port, database in ((5301, "og_bench_s16"), (5306, "og_bench_s1")):
            health = get_json(f"http://127.0.0.1:{port}/health")["requests"]
            accepted = health["initials_accepted"] + health["followups_accepted"]
            rows = int(run.mariadb(env, "SELECT COUNT(*) FROM events", database))
            results.setdefault("shards_archive", {})[database] = {"accepted": accepted, "rows": rows}
        results["shards"] = {"ingest": ingest, "symbol": symbol}
        for what, turns in (("POST /initial", ingest), ("/dashboard/symbol", symbol)):
            log(f"  {what}: " + ", ".join(f"{k} {v['rps']:,.0f} req/s (turns {v['rounds']})" for k, v in turns.items()))
    finally:
        sixteen.stop()
        one.stop()


# ---------------------------------------------------------------- cluster

def cluster_env(extra=None):
    # The profile's own MariaDB port (3309), not the bench stores' that run.sh exported.
    env = {k: v for k, v in os.environ.items() if k not in ("SYMBOLSTREAM_MARIADB_PORT", "SYMBOLSTREAM_REDIS_PORT")}
    return dict(env, SYMBOLSTREAM_CLUSTER_PROFILE=CLUSTER_PROFILE, SYMBOLSTREAM_PORT=str(CLUSTER_PORT),
                SYMBOLSTREAM_FRONT_PORT=str(CLUSTER_PORT + 1), SYMBOLSTREAM_BINARY=str(BIN / "symbolstream"),
                SYMBOLSTREAM_DATA_ROOT=str(ROOT / ".data" / "bench-stores"),
                SYMBOLSTREAM_CLUSTER_NODE_TIMEOUT=str(NODE_TIMEOUT_MS),
                SYMBOLSTREAM_STORES_TIMEOUT=os.environ.get("SYMBOLSTREAM_STORES_TIMEOUT", "600"), **(extra or {}))


def cluster_sh(*args):
    out = subprocess.run([str(ROOT / "provisioning" / "cluster.sh"), *args], env=cluster_env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"cluster.sh {' '.join(args)} failed:\n{out.stderr}")


def stores_sh(*args):
    subprocess.run([str(ROOT / "provisioning" / "stores.sh"), *args, "--profile", CLUSTER_PROFILE], env=cluster_env(),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def cluster_info():
    """The deployment's environment (cluster.sh env) as a dict."""
    out = subprocess.run([str(ROOT / "provisioning" / "cluster.sh"), "env"], env=cluster_env(), check=True,
                         capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = value.strip("'\"")
    return env


def node_cli(port, password, *args):
    return subprocess.run(["redis-cli", "-p", str(port), "--no-auth-warning", "-a", password, *args],
                          capture_output=True, text=True, timeout=10).stdout


def primaries(env):
    """(port, pid) of every primary, from each seed's INFO."""
    found = []
    for seed in env["SYMBOLSTREAM_REDIS_CLUSTER"].split(","):
        port = int(seed.rsplit(":", 1)[1])
        info = node_cli(port, env["SYMBOLSTREAM_REDIS_PASSWORD"], "INFO", "replication")
        if "role:master" in info:
            pid = int(node_cli(port, env["SYMBOLSTREAM_REDIS_PASSWORD"], "INFO", "server").split("process_id:")[1].split()[0])
            found.append((port, pid))
    return found


def cpu_seconds(pid):
    """User + system CPU of a process, from /proc (clock ticks)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def owns(env, port, shard):
    """Whether the node on `port` serves shard `shard`'s hash tag."""
    password = env["SYMBOLSTREAM_REDIS_PASSWORD"]
    slot = int(node_cli(port, password, "CLUSTER", "KEYSLOT", f"{{{shard}}}").strip())
    for line in node_cli(port, password, "CLUSTER", "NODES").splitlines():
        parts = line.split()
        if "myself" in parts[2]:
            for r in parts[8:]:
                low, _, high = r.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return True
    return False


def shards_owned(env, port, shards=16):
    return sum(owns(env, port, i) for i in range(shards))


def accepted(url):
    requests = get_json(url + "/health")["requests"]
    return requests["initials_accepted"] + requests["followups_accepted"]


def fronts_accepted():
    return sum(accepted(f"http://127.0.0.1:{CLUSTER_PORT + n}") for n in (1, 2))


def case_cluster(results, args):
    log("Redis Cluster: 3 primaries + 3 replicas, HAProxy, 2 fronts (provisioning/cluster.sh up)")
    cluster_sh("down", "--stores")
    subprocess.run(["rm", "-rf", str(ROOT / ".data" / "bench-stores" / CLUSTER_PROFILE)], check=True)
    cluster_sh("up", "--fronts", "2")
    try:
        env = cluster_info()
        url = f"http://127.0.0.1:{CLUSTER_PORT}"
        nodes = primaries(env)
        owned = {port: shards_owned(env, port) for port, _ in nodes}
        watched = {f"redis primary :{port} ({owned[port]} of 16 shards)": pid for port, pid in nodes}
        fronts = [int(open(ROOT / ".data" / "bench-stores" / CLUSTER_PROFILE / f"front-{n}.pid").read()) for n in (1, 2)]
        watched.update({f"front {n}": pid for n, pid in zip((1, 2), fronts)})
        watched["haproxy"] = int(open(ROOT / ".data" / "bench-stores" / CLUSTER_PROFILE / "haproxy.pid").read())

        # CPU and events are counted within the cluster's own turns only (not
        # the no-op's, when the cluster idles).
        cpu = {k: 0.0 for k in watched}
        counted = [0]

        def measured_ingest(turn):
            before, before_events = {k: cpu_seconds(p) for k, p in watched.items()}, fronts_accepted()
            figures = run.wrk(url, "initial.lua", turn)
            counted[0] += fronts_accepted() - before_events
            for k, p in watched.items():
                cpu[k] += cpu_seconds(p) - before[k]
            return figures

        turns = interleaved([("noop", wrk_run(NOOP_URL, "initial.lua")), ("cluster", measured_ingest)], args)
        events = counted[0]
        per_event = {}
        for k, seconds in cpu.items():
            share = events  # HAProxy sees every event
            if k.startswith("front"):
                share = events / 2  # round robin over two fronts
            for port, count in owned.items():
                if f":{port} " in k:
                    share = events * count / 16  # uuid4s spread evenly over the shards
            per_event[k] = {"cpu_seconds": seconds, "events": share, "us_per_event": seconds * 1e6 / max(1, share)}
        symbol = interleaved([("noop", wrk_run(NOOP_URL, "symbol.lua")), ("cluster", wrk_run(url, "symbol.lua"))], args)
        results["cluster"] = {"ingest": turns, "symbol": symbol, "events": events, "cpu": per_event,
                              "failover": failover(env, url)}
        log(f"  ingest {turns['cluster']['rps']:,.0f} req/s (turns {turns['cluster']['rounds']}), "
            f"symbol {symbol['cluster']['rps']:,.0f} req/s; failover {results['cluster']['failover']}")
        for k, v in per_event.items():
            log(f"  {k}: {v['us_per_event']:.1f} µs CPU per event")
    finally:
        cluster_sh("down", "--stores")


def failover(env, url, seconds_after=20, threads=4):
    """kill -9 of the primary that owns shard 0 under steady load (threads
    POSTing initials through HAProxy): the time from the kill to the last
    failed request, and how many failed."""
    port = next(p for p, _ in primaries(env) if owns(env, p, 0))
    node = port - int(env["SYMBOLSTREAM_REDIS_CLUSTER"].split(",")[0].rsplit(":", 1)[1]) + 1
    failures, successes, stop = [], [0], threading.Event()

    def load():
        while not stop.is_set():
            try:
                with urllib.request.urlopen(urllib.request.Request(f"{url}/initial?uuid={uuid.uuid4()}&symbol=e", method="POST"),
                                            timeout=5) as response:
                    response.read()
                successes[0] += 1
            except (urllib.error.URLError, OSError):
                failures.append(time.monotonic())
                time.sleep(0.01)

    workers = [threading.Thread(target=load, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    time.sleep(3)
    killed = time.monotonic()
    stores_sh("kill-redis-node", str(node))
    time.sleep(seconds_after)
    stop.set()
    for w in workers:
        w.join()
    after = [t - killed for t in failures if t >= killed]
    figures = {"node_timeout_ms": NODE_TIMEOUT_MS, "failed": len(after),
               "recovered_after_s": round(max(after), 2) if after else 0.0, "succeeded": successes[0]}
    stores_sh("start-redis-node", str(node))
    return figures


# ---------------------------------------------------------------- report

def section(results, args, command, started):
    r, ms = results, (lambda us: us / 1000)
    lines = [BEGIN, "## Scaling out", "",
             f"Generated by `{command}` on {started:%Y-%m-%d %H:%M} UTC, one run on the machine above (2 cores: every "
             "process of the cluster, the fronts, HAProxy and wrk share them, so no speed-up can show here; the figures "
             "are for the arithmetic below). Turns as above: medians of alternating runs.", ""]
    if "shards" in r:
        lines += ["### The sharded layout on one standalone Redis", "",
                  "| case | no-op ceiling | 16 shards (the cluster default) | 1 shard (the default on one Redis) | 16 shards ÷ 1 shard |", "|---|---|---|---|---|"]
        for what, key in (("`POST /initial`, archived", "ingest"), ("`/dashboard/symbol`", "symbol")):
            t = r["shards"][key]
            noop = t["noop"]["rps"]
            lines.append(f"| {what} | {noop:,.0f} req/s | {t['s16']['rps']:,.0f} req/s = {t['s16']['rps'] / noop:.0%}, "
                         f"p99 {ms(t['s16']['p99_us']):.2f} ms | {t['s1']['rps']:,.0f} req/s = {t['s1']['rps'] / noop:.0%}, "
                         f"p99 {ms(t['s1']['p99_us']):.2f} ms | {t['s16']['rps'] / t['s1']['rps']:.2f} |")
        archive = r["shards_archive"]
        lines += ["", "Nothing lost: " + "; ".join(f"{v['rows']:,} rows for {v['accepted']:,} accepted events ({k})"
                                                   for k, v in archive.items()) + "."]
    if "memory" in r:
        lines += ["", f"Redis memory per request, 16 shards: {r['memory']['per_request']:.1f} bytes "
                      f"({r['memory']['requests']:,} requests at 20k/s density)."]
    if "cluster" in r:
        c = r["cluster"]
        lines += ["", "### Redis Cluster through HAProxy (2 fronts, 3 primaries, 3 replicas)", "",
                  "| case | req/s | p50 | p99 | of the no-op in turns |", "|---|---|---|---|---|"]
        for what, key in (("`POST /initial`, archived", "ingest"), ("`/dashboard/symbol`", "symbol")):
            t = c[key]
            lines.append(f"| {what} | {t['cluster']['rps']:,.0f} | {ms(t['cluster']['p50_us']):.2f} ms | "
                         f"{ms(t['cluster']['p99_us']):.2f} ms | {t['cluster']['rps'] / t['noop']['rps']:.0%} |")
        lines += ["", f"CPU per event within the cluster's `POST /initial` turns ({c['events']:,} events; a primary's "
                      "share is its shards' part of them, uuid4s spreading evenly; a front's, half):", "",
                  "| process | CPU seconds | events | CPU per event |", "|---|---|---|---|"]
        for k, v in c["cpu"].items():
            lines.append(f"| {k} | {v['cpu_seconds']:.2f} | {v['events']:,.0f} | {v['us_per_event']:.1f} µs |")
        f = c["failover"]
        lines += ["", f"Failover: `kill -9` of the primary serving shard 0 under load (4 clients through HAProxy, "
                      f"`cluster-node-timeout` {f['node_timeout_ms']} ms): requests failed (`503`) for "
                      f"{f['recovered_after_s']:.2f} s after the kill ({f['failed']} failed, {f['succeeded']:,} succeeded "
                      "over the test), then all succeeded without a restart."]
        redis = [v["us_per_event"] for k, v in c["cpu"].items() if k.startswith("redis")]
        fronts = [v["us_per_event"] for k, v in c["cpu"].items() if k.startswith("front")]
        per_primary = 1e6 / max(redis)
        per_front = 1e6 / (sum(fronts) / len(fronts))
        lines += ["", "Capacity, as arithmetic from these figures (not a measured speed-up): one primary busy "
                  f"{max(redis):.1f} µs per event saturates its core at about {per_primary:,.0f} events/s, so P primaries "
                  f"take about P × {per_primary:,.0f} events/s, up to 16 (one per shard). A front spends "
                  f"{sum(fronts) / len(fronts):.1f} µs per event it serves (its CPU over its half of the events): "
                  f"about {per_front:,.0f} events/s per front core, so a primary needs about "
                  f"{per_primary / per_front:.1f} front cores beside it. The load balancer and MariaDB (one archive "
                  "writer per shard stream, " "its measured rate in the table above) are shared by all of them."]
    lines.append(END)
    return "\n".join(lines)


def write_section(text):
    path = ROOT / "BENCHMARKS.md"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    if BEGIN in current:
        head, _, rest = current.partition(BEGIN)
        _, _, tail = rest.partition(END)
        current = head + text + tail
    else:
        current = current.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(current)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=15, help="seconds per case, in three turns")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--memory-events", type=int, default=2_000_000)
    parser.add_argument("--cases", default="shards,memory,cluster")
    parser.add_argument("--command", default="bench/run.sh --scale")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    started = datetime.datetime.now(datetime.timezone.utc)
    results = {}
    noop = run.start_ceiling()
    try:
        if cases & {"shards", "memory"}:
            env = run.store_env()
            if "shards" in cases:
                case_shards(results, env, args)
            if "memory" in cases:
                run.case_memory(results, env, args)
        if "cluster" in cases:
            case_cluster(results, args)
    finally:
        noop.stop()
    (DATA / "scale-results.json").write_text(json.dumps(
        {"results": results, "command": args.command, "started": started.isoformat()}, indent=2, default=str))
    write_section(section(results, args, args.command, started))
    log("wrote the Scaling out section of BENCHMARKS.md")


if __name__ == "__main__":
    main()
