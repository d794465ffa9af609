#!/usr/bin/env python3
"""End to end: Redis lost entirely, rebuilt from MariaDB, answers identical.

Traffic from the shared load generator (followups before their initial,
some never followed by one, retries), archived; then a snapshot of every
answer: the dashboard of all 26 symbols, ranges with bounds to the
microsecond, dates and spans, the four rankings of /dashboard/top (Redis
sorted sets), /requests/{uuid} of every request, the archive counters of
/health. The service is stopped, Redis flushed (FLUSHALL and
FUNCTION FLUSH: a new, empty Redis), `symbolstream rebuild` run, the service
started again: every answer must be the same, and `symbolstream verify`
must find nothing.

Run by ./test.sh; by hand: `set -a; . .data/test/env; set +a;
SYMBOLSTREAM_BINARY=.build/debug/symbolstream python3 Tests/e2e/test_rebuild.py`.
"""

import random
import time
import uuid

import requests

from harness import Load, MariaDB, Server, fail, log, redis_cli

rng = random.Random(77)


def snapshot(server, request_ids, ranges):
    session = requests.Session()
    answers = {}
    for symbol in "abcdefghijklmnopqrstuvwxyz":
        answers[f"/dashboard/symbol/{symbol}"] = session.get(f"{server.url}/dashboard/symbol/{symbol}", timeout=5).json()
    for lower, upper in ranges:
        path = f"/dashboard/range/{lower}/{upper}"
        answers[path] = session.get(server.url + path, timeout=5).json()
    for by in ("initials", "followups", "rate", "recent"):
        path = f"/dashboard/top?by={by}&n=26"
        answers[path] = session.get(server.url + path, timeout=5).json()
    for request_id in request_ids:
        response = session.get(f"{server.url}/requests/{request_id}", timeout=5)
        answers[f"/requests/{request_id}"] = (response.status_code, response.json())
    archive = server.health()["archive"]
    answers["/health archive"] = {k: archive[k] for k in ("backlog", "archived_total", "requests_waiting_for_initial")}
    return answers


def main():
    server = Server(seed=5).start()
    load = Load(server.url, seed=5).start()
    time.sleep(4)
    load.stop()
    # Followups whose initial never comes: they wait in Redis and in MariaDB.
    orphans = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(5)]
    for request_id in orphans:
        if requests.post(f"{server.url}/followup", params={"uuid": request_id}, timeout=5).status_code != 200:
            fail(f"followup {request_id} refused")
    server.wait_archived()
    request_ids = sorted(set(load.acked) | set(load.acked_followups) | set(orphans))
    times = sorted(
        record["received_at"] for record in
        (requests.get(f"{server.url}/requests/{r}", timeout=5).json() for r in list(load.acked)[:400]))
    ranges = [(times[0][:10], "2100-01-01"), (times[0].replace(" ", "T"), times[-1].replace(" ", "T"))]
    for _ in range(60):
        a, b = sorted(rng.sample(times, 2))
        ranges.append((a.replace(" ", "T"), b.replace(" ", "T")))
    before = snapshot(server, request_ids, ranges)
    waiting = before["/health archive"]["requests_waiting_for_initial"]
    log(f"snapshot of {len(before)} answers ({len(load.acked)} initials, {waiting} requests with only followups)")
    if waiting == 0 or before["/health archive"]["archived_total"] == 0:
        fail(f"the traffic should leave followups waiting and events archived: {before['/health archive']}")
    if server.stop() != 0:
        fail("server did not stop cleanly")

    redis_cli(server.env, "FLUSHALL", check=True)
    redis_cli(server.env, "FUNCTION", "FLUSH", check=True)
    out = server.command("rebuild", check=False)
    if out.returncode != 0:
        fail(f"rebuild exited {out.returncode}: {out.stdout}\n{out.stderr[-3000:]}")
    log(out.stdout.strip())

    server.start(fresh_database=False)
    after = snapshot(server, request_ids, ranges)
    differences = [(key, before[key], after.get(key)) for key in before if before[key] != after.get(key)]
    if differences:
        fail(f"{len(differences)} answers differ after the rebuild, first: {differences[:3]}")
    log(f"all {len(before)} answers identical after FLUSHALL and rebuild")
    out = server.command("verify", check=False)
    if out.returncode != 0:
        fail(f"verify after rebuild: {out.stdout[-3000:]}")
    log(out.stdout.strip().splitlines()[-1])
    if server.stop() != 0:
        fail("server did not stop cleanly")
    MariaDB(server.env, server.database).query(f"DROP DATABASE `{server.database}`", database=False)
    log("PASS")


if __name__ == "__main__":
    main()
