#!/usr/bin/env python3
"""The service takes events as an unprivileged user, as in production.

Issue 12: a socket option that only root may set made every non-root
deployment answer `503 redis is not reachable`, and no test saw it because
every test ran the server as root. Here the server runs as the harness's
unprivileged user (`nobody` through setpriv when the tests run as root, see
harness.py) and must: run with no uid 0 at all, report Redis and MariaDB up
in /health (200), answer an initial 200 True/False and a followup 200 hooray,
count them in the dashboard and /requests, and archive both rows into MariaDB.

Run by ./test.sh; by hand: `set -a; . .data/test/env; set +a;
SYMBOLSTREAM_BINARY=.build/debug/symbolstream python3 Tests/e2e/test_unprivileged.py`.
"""

import os
import uuid as uuidlib

import requests

from harness import MariaDB, Server, fail, log


def main():
    with Server(seed=3) as server:
        server.wait_healthy(need_mariadb=True)
        uid = server.check_user()
        if uid is None or uid == 0:
            fail(f"the server runs as uid {uid}")
        who = str(server.identity) if server.identity else f"uid {uid} (the tests' own user)"
        log(f"serve runs as {who}, pid {server.process.pid}")
        if os.geteuid() == 0 and server.identity is None:
            fail("the tests run as root but the server was not switched to an unprivileged user")

        health = requests.get(server.url + "/health", timeout=5)
        if health.status_code != 200 or health.json().get("status") != "ok":
            fail(f"/health as {who}: {health.status_code} {health.text[:500]}")

        request_id = str(uuidlib.uuid4())
        initial = requests.post(server.url + "/initial", params={"uuid": request_id, "symbol": "e"}, timeout=5)
        if initial.status_code != 200 or initial.text not in ("True", "False"):
            fail(f"POST /initial as {who}: {initial.status_code} {initial.text[:300]!r}")
        followup = requests.post(server.url + "/followup", params={"uuid": request_id}, timeout=5)
        if followup.status_code != 200 or followup.text != "hooray":
            fail(f"POST /followup as {who}: {followup.status_code} {followup.text[:300]!r}")

        summary = requests.get(server.url + "/dashboard/symbol/e", timeout=5).json()
        if summary["count"] != 1 or summary["followups"] != 1:
            fail(f"/dashboard/symbol/e after one initial and one followup: {summary}")
        record = requests.get(server.url + f"/requests/{request_id}", timeout=5).json()
        if record.get("symbol") != "e" or record.get("guess") != (initial.text == "True") or len(record.get("followups", [])) != 1:
            fail(f"/requests/{request_id}: {record}")

        server.wait_archived()
        rows = MariaDB(server.env, server.database).query(
            f"SELECT kind, symbol FROM events WHERE uuid = '{request_id}' ORDER BY kind")
        if rows != [["initial", "e"], ["followup", "e"]]:
            fail(f"MariaDB rows of {request_id}: {rows}")
        log(f"as {who}: /health 200 ok, initial {initial.text}, followup hooray, dashboard and record right, "
            f"both rows archived")
        if server.stop() != 0:
            fail("server did not exit 0 on SIGTERM")
    MariaDB(server.env, server.database).query(f"DROP DATABASE `{server.database}`", database=False)
    log("PASS")


if __name__ == "__main__":
    main()
