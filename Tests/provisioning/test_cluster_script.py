#!/usr/bin/env python3
"""provisioning/cluster.sh, the one command that brings the scaled-out
deployment up: its pid files, its kill-front, its down.

cluster.sh once wrote the pid of a wrapping subshell into front-N.pid, so
`kill-front N` killed the subshell and left the front serving (and `down`
left both fronts running). This runs `cluster.sh up --fronts 2` on the test
cluster stores profile (already started by ./test.sh) with its own ports, and
checks: each pid file names a running `symbolstream` (not root, when started
by root); a POST through HAProxy is stored; `kill-front 1` ends that very
process and HAProxy keeps answering through front 2; `start-front 1` brings
it back; `down` ends HAProxy and both fronts.

Run by ./test.sh; by hand, on a started cluster profile:
`SYMBOLSTREAM_CLUSTER_PROFILE=NAME SYMBOLSTREAM_BINARY=.build/debug/symbolstream python3 Tests/provisioning/test_cluster_script.py`.
"""

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "provisioning" / "cluster.sh"
HAPROXY_PORT, FRONT_PORT = 5340, 5341


def log(message):
    print(f"[provisioning {time.strftime('%H:%M:%S')}] {message}", flush=True)


def fail(message):
    log("FAIL: " + message)
    sys.exit(1)


def environment():
    """What a user would have: none of the test stores' SYMBOLSTREAM_* lines,
    only the settings cluster.sh documents."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMBOLSTREAM_")}
    for name in ("SYMBOLSTREAM_CLUSTER_PROFILE", "SYMBOLSTREAM_BINARY", "SYMBOLSTREAM_SERVE_USER"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(SYMBOLSTREAM_PORT=str(HAPROXY_PORT), SYMBOLSTREAM_FRONT_PORT=str(FRONT_PORT))
    return env


def cluster_sh(env, *args, check=True):
    out = subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300)
    if check and out.returncode != 0:
        fail(f"cluster.sh {' '.join(args)} exited {out.returncode}: {out.stderr[-2000:]}")
    return out


def data_dir(env):
    return ROOT / ".data" / env["SYMBOLSTREAM_CLUSTER_PROFILE"]


def front_pid(env, n):
    return int((data_dir(env) / f"front-{n}.pid").read_text())


def alive(pid):
    """Running, not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def check_front_process(env, n):
    pid = front_pid(env, n)
    exe = os.readlink(f"/proc/{pid}/exe") if alive(pid) else None
    if exe is None or Path(exe).name != "symbolstream":
        fail(f"front-{n}.pid holds {pid}, which is {exe or 'not running'}: not the front's symbolstream process")
    uid = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Uid:")).split()[1])
    if os.getuid() == 0 and uid == 0:
        fail(f"front {n} (pid {pid}) runs as root")
    return pid


def post_initial(timeout=5):
    request = urllib.request.Request(f"http://127.0.0.1:{HAPROXY_PORT}/initial?uuid={uuid.uuid4()}&symbol=c", method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status


def listening(port):
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            fail(f"not within {seconds} s: {what}")
        time.sleep(0.1)


def main():
    env = environment()
    if "SYMBOLSTREAM_CLUSTER_PROFILE" not in env or "SYMBOLSTREAM_BINARY" not in env:
        fail("set SYMBOLSTREAM_CLUSTER_PROFILE (a started cluster stores profile) and SYMBOLSTREAM_BINARY")
    cluster_sh(env, "up", "--fronts", "2")
    try:
        pids = [check_front_process(env, n) for n in (1, 2)]
        log(f"up: fronts are symbolstream processes {pids}, not root")
        if post_initial() != 200:
            fail("a POST /initial through HAProxy was not stored")

        cluster_sh(env, "kill-front", "1")
        wait_until(lambda: not alive(pids[0]), 10, f"front 1 (pid {pids[0]}) to end after kill-front 1")
        if listening(FRONT_PORT):
            fail(f"after kill-front 1, something still listens on front 1's port {FRONT_PORT}")
        statuses = [post_initial() for _ in range(10)]
        if statuses != [200] * 10:
            fail(f"with front 1 killed, POSTs through HAProxy answered {statuses}")
        log(f"kill-front 1: pid {pids[0]} gone, its port closed; HAProxy answered 10 POSTs through front 2")

        cluster_sh(env, "start-front", "1")
        restarted = check_front_process(env, 1)
        log(f"start-front 1: serving again (pid {restarted})")
        pids[0] = restarted
    finally:
        cluster_sh(env, "down")
    for n, pid in zip((1, 2), pids):
        wait_until(lambda: not alive(pid), 30, f"front {n} (pid {pid}) to end after down")
    if listening(HAPROXY_PORT):
        fail(f"after down, something still listens on HAProxy's port {HAPROXY_PORT}")
    log("down: HAProxy and both fronts ended")
    log("PASS")


if __name__ == "__main__":
    main()
