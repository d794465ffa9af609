"""Fills the reference SQLite database with N synthetic requests spread over a
month (5% with a followup), for the range-query comparison at 1M rows."""

import datetime
import random
import sqlite3
import sys
import uuid

path, n = sys.argv[1], int(sys.argv[2])
start = datetime.datetime(2026, 10, 1)
span = 30 * 86400
rng = random.Random(1)
connection = sqlite3.connect(path)
connection.execute("CREATE TABLE IF NOT EXISTS api_events (uuid TEXT, symbol TEXT, is_vowel INTEGER, url TEXT, date TEXT)")
rows = []
for i in range(n):
    u = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    t = start + datetime.timedelta(seconds=span * i / n)
    symbol = chr(97 + rng.randrange(26))
    rows.append((u, symbol, int(symbol in "aeiou"), "/initial", t.strftime("%Y-%m-%d %H:%M:%S.%f")))
    if rng.random() < 0.05:
        rows.append((u, None, None, "/followup", (t + datetime.timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")))
    if len(rows) >= 100_000:
        connection.executemany("INSERT INTO api_events VALUES (?, ?, ?, ?, ?)", rows)
        rows = []
connection.executemany("INSERT INTO api_events VALUES (?, ?, ?, ?, ?)", rows)
connection.commit()
print(f"{n} requests in {path}")
