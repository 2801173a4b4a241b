"""Builds the simulated world the serve tests run against and starts
`churnwatch serve` on it (tests/serve/api_test.py, tests/browser/).

usage as a script: world.py CHURNWATCH DIR  -> builds DIR/w.db, writes
DIR/read.token and DIR/write.token, prints nothing on success.
"""
import os
import re
import sqlite3
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(binary, *args, **kw):
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True, **kw)


def build(binary, d, accounts=120, months=6):
    """Simulates, ingests, computes weekly metrics, applies the test-only
    fixture (scores, predictions, backtest, alerts) and creates tokens."""
    w = os.path.join(d, "world")
    db = os.path.join(d, "w.db")
    run(binary, "simulate", "--accounts", str(accounts), "--months", str(months), "--seed", "11",
        "--start", "2025-01-01", "--out", w)
    csvs = sorted(os.path.join(w, f) for f in os.listdir(w) if f.endswith(".csv"))
    run(binary, "init", "--db", db)
    run(binary, "ingest", "--db", db, "--progress", "never", "--quiet", *csvs)
    run(binary, "metrics", "--db", db, "--from", "2025-02-03", "--to", "2025-06-30",
        "--every", "7d", "--quiet", "--format", "csv")
    con = sqlite3.connect(db)
    with open(os.path.join(HERE, "fixture.sql")) as f:
        con.executescript(f.read())
    con.commit()
    con.close()
    tokens = {}
    for role in ("read", "write"):
        tokens[role] = run(binary, "token", "create", "--db", db, "--role", role,
                           "--name", f"test {role}").stdout.strip()
        with open(os.path.join(d, f"{role}.token"), "w") as f:
            f.write(tokens[role])
    return db, tokens, w


def start(binary, db, *extra):
    """Starts the server on a free loopback port; returns (process, base URL)."""
    p = subprocess.Popen([binary, "serve", "--db", db, "--listen", "127.0.0.1:0", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        p.kill()
        raise SystemExit(f"server did not start: {line!r} {p.stderr.read()}")
    return p, f"http://127.0.0.1:{m.group(1)}"


if __name__ == "__main__":
    build(sys.argv[1], sys.argv[2])
