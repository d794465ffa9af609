#!/usr/bin/env python3
"""No credentials in logs or answers.

Starts the built server (and the one-shot commands) with recognisable
passwords that the stores refuse, at the most verbose log level, provokes
every connection error there is (Redis AUTH refused, MariaDB access denied,
then both stores unreachable on closed ports), sends requests (503s) and
reads /health, whose errors quote the stores' messages; then searches every
log line, answer and command output for the passwords.

Run by ./test.sh; by hand: `set -a; . .data/test/env; set +a;
SYMBOLSTREAM_BINARY=.build/debug/symbolstream python3 Tests/e2e/test_secrets.py`.
"""

import subprocess
import time

import requests

from harness import Server, fail, free_port, log

REDIS_SECRET = "Canary-Redis-7f3a9c"
MARIADB_SECRET = "Canary-MariaDB-4e1b8d"


def exercise(server, extra_env, label):
    """Runs the server and the one-shot commands with `extra_env`; returns all they said."""
    server.env.update(extra_env)
    server.start(wait=False, fresh_database=False)
    said = []
    deadline = time.time() + 6
    session = requests.Session()
    while time.time() < deadline:
        try:
            said.append(session.get(server.url + "/health", timeout=3).text)
            said.append(session.post(server.url + "/initial", params={"uuid": "6f1c2a4e-8b3d-4c5e-9f70-1a2b3c4d5e6f", "symbol": "e"},
                                     timeout=3).text)
            said.append(session.get(server.url + "/dashboard/symbol/e", timeout=3).text)
        except requests.RequestException:
            pass
        time.sleep(0.3)
    server.stop()
    said.append(server.log_path.read_text(errors="replace"))
    env = server.run_env(SYMBOLSTREAM_LOG_LEVEL="trace")
    for args in (["verify"], ["migrate"]):
        try:
            out = subprocess.run(server.argv(*args), env=env, capture_output=True, text=True, timeout=30)
            said += [out.stdout, out.stderr]
        except subprocess.TimeoutExpired as timeout:
            said += [str(timeout.stdout or ""), str(timeout.stderr or "")]
    text = "\n".join(said)
    if "503" not in text and "unavailable" not in text:
        fail(f"{label}: the stores were never reported unreachable; the test did not provoke the errors")
    return text


def main():
    server = Server(seed=1, extra_args=["--log-level", "trace"])
    server.log_path.parent.mkdir(parents=True, exist_ok=True)
    secrets = {"SYMBOLSTREAM_REDIS_PASSWORD": REDIS_SECRET, "SYMBOLSTREAM_MARIADB_PASSWORD": MARIADB_SECRET}
    outputs = {
        "refused passwords": exercise(server, secrets, "refused passwords"),
        "unreachable stores": exercise(
            server, dict(secrets, SYMBOLSTREAM_REDIS_PORT=str(free_port()), SYMBOLSTREAM_MARIADB_PORT=str(free_port()),
                         SYMBOLSTREAM_MARIADB_SOCKET=""),
            "unreachable stores"),
    }
    for label, text in outputs.items():
        for secret in (REDIS_SECRET, MARIADB_SECRET):
            if secret in text:
                line = next(line for line in text.splitlines() if secret in line)
                fail(f"{label}: a password appears in the output: {line[:300]}")
        if "WRONGPASS" not in text and label == "refused passwords":
            fail("refused passwords: Redis never refused the password; the test did not provoke that error")
        log(f"{label}: {len(text)} characters of logs, answers and command output, no password in them")
    log("PASS")


if __name__ == "__main__":
    main()
