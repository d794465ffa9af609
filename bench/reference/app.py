"""The original service, replicated for the benchmarks (seed 003): a Flask app
with a pluggable data interface, run under gunicorn.

REFERENCE_BACKEND=sqlite (default): SQLite table api_events(uuid, symbol,
is_vowel, url, date), one INSERT + COMMIT per request, the dashboards as a
full scan and a self-join, like the original SQLiteInterface.
REFERENCE_BACKEND=null: stores nothing (the original NullInterface), the upper
bound of the Flask stack itself.
"""

import datetime
import os
import random
import sqlite3
import threading

from flask import Flask, jsonify, request

app = Flask(__name__)
BACKEND = os.environ.get("REFERENCE_BACKEND", "sqlite")
DATABASE = os.environ.get("REFERENCE_DATABASE", "/tmp/reference.sqlite")
VOWELS = set("aeiou")
local = threading.local()


def guess(symbol):
    answer = symbol in VOWELS or (symbol == "y" and random.random() < 0.5)
    return (not answer) if random.random() < 0.1 else answer


def now():
    return datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")


def db():
    if not hasattr(local, "connection"):
        local.connection = sqlite3.connect(DATABASE, timeout=30)
    return local.connection


def init_db():
    connection = sqlite3.connect(DATABASE)
    connection.execute("CREATE TABLE IF NOT EXISTS api_events (uuid TEXT, symbol TEXT, is_vowel INTEGER, url TEXT, date TEXT)")
    connection.commit()
    connection.close()


class NullInterface:
    def initial(self, uuid, symbol, is_vowel):
        pass

    def followup(self, uuid):
        pass

    def symbol(self, symbol):
        return {"symbol": symbol, "count": 0, "earliest": None, "latest": None, "followups": 0}

    def range(self, lower, upper):
        return [self.symbol(chr(97 + i)) for i in range(26)]


class SQLiteInterface:
    def initial(self, uuid, symbol, is_vowel):
        connection = db()
        connection.execute("INSERT INTO api_events VALUES (?, ?, ?, ?, ?)", (uuid, symbol, int(is_vowel), "/initial", now()))
        connection.commit()

    def followup(self, uuid):
        connection = db()
        connection.execute("INSERT INTO api_events VALUES (?, ?, ?, ?, ?)", (uuid, None, None, "/followup", now()))
        connection.commit()

    def symbol(self, symbol):
        count, earliest, latest = db().execute(
            "SELECT COUNT(*), MIN(date), MAX(date) FROM api_events WHERE url = '/initial' AND symbol = ?", (symbol,)).fetchone()
        followups = db().execute(
            "SELECT COUNT(*) FROM api_events i JOIN api_events f ON f.uuid = i.uuid "
            "WHERE i.url = '/initial' AND f.url = '/followup' AND i.symbol = ?", (symbol,)).fetchone()[0]
        return {"symbol": symbol, "count": count, "earliest": earliest, "latest": latest, "followups": followups}

    def range(self, lower, upper):
        rows = {r[0]: r for r in db().execute(
            "SELECT symbol, COUNT(*), MIN(date), MAX(date) FROM api_events "
            "WHERE url = '/initial' AND date >= ? AND date < ? GROUP BY symbol", (lower, upper))}
        followups = dict(db().execute(
            "SELECT i.symbol, COUNT(*) FROM api_events i JOIN api_events f ON f.uuid = i.uuid "
            "WHERE i.url = '/initial' AND f.url = '/followup' AND i.date >= ? AND i.date < ? GROUP BY i.symbol",
            (lower, upper)))
        out = []
        for i in range(26):
            s = chr(97 + i)
            _, count, earliest, latest = rows.get(s, (s, 0, None, None))
            out.append({"symbol": s, "count": count, "earliest": earliest, "latest": latest, "followups": followups.get(s, 0)})
        return out


data_interface = SQLiteInterface() if BACKEND == "sqlite" else NullInterface()
if BACKEND == "sqlite":
    init_db()


@app.route("/initial", methods=["POST"])
def initial():
    uuid, symbol = request.values["uuid"], request.values["symbol"]
    answer = guess(symbol)
    data_interface.initial(uuid, symbol, answer)
    return str(answer)


@app.route("/followup", methods=["POST"])
def followup():
    data_interface.followup(request.values["uuid"])
    return "hooray"


@app.route("/dashboard/symbol/<symbol>")
def dashboard_symbol(symbol):
    return jsonify(data_interface.symbol(symbol))


@app.route("/dashboard/range/<lower>/<upper>")
def dashboard_range(lower, upper):
    return jsonify(data_interface.range(lower, upper))
