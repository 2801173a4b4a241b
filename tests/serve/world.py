"""Builds the simulated world the serve tests run against with the real
pipeline, and starts `churnwatch serve` on it (tests/serve/api_test.py,
tests/serve/hardening_test.py, tests/browser/).

The pipeline, with the built-in defaults (no configuration file):
  simulate --accounts 250 --months 10 --seed 11 --start 2025-01-01
  ingest -> metrics (weekly, 2025-02-03 .. 2025-10-20) -> score -> train
  --activate -> backtest -> run --as-of 2025-10-27 --deliver no
so the database holds what the product itself writes: scores of every
snapshot, two trained models (the better one active), three backtests, the
run day's snapshot, scores and predictions, and the stock rules' alerts.
Tests then assert values they compute themselves from the simulated CSV
files (helpers below) or read back from the database (tests/lib/cwdb.py).

ctest builds it once (test serve_world, a FIXTURES_SETUP of the serve
label) into build/serve-world; each test copies the database (SQLite's
backup API; createdb -T on PostgreSQL) into its own temporary directory, so
what one test writes does not reach another. DIR/db names the database for
--db: DIR/w.db, or with CW_TEST_BACKEND=pg a PostgreSQL database's URI (the
world's kept, and dropped when built again; a copy made by the `copy`
command kept too, for its caller to drop).

usage as a script:
  world.py build CHURNWATCH DIR   -> DIR/w.db, DIR/db, DIR/world/*.csv, DIR/read.token,
                                     DIR/write.token (DIR is emptied first)
  world.py copy WORLD DIR         -> DIR/w.db, DIR/db, DIR/read.token, DIR/write.token
  world.py expect WORLD           -> prints the browser test's expected values (JSON)
  world.py expire-sessions DIR U  -> ends user U's sessions as if their time had run out
"""
import csv
import datetime as dt
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cwdb  # noqa: E402

SEED = 11
ACCOUNTS = 250
MONTHS = 10
START = "2025-01-01"
METRICS_FROM, METRICS_TO = "2025-02-03", "2025-10-20"
RUN_DAY = "2025-10-27"  # the daily run's as-of day: one week after the last snapshot
HORIZON_DAYS = 90
EPOCH = dt.date(1970, 1, 1)


def run(binary, *args, **kw):
    env = dict(os.environ, CHURNWATCH_CONFIG="")
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True, env=env,
                          **kw)


def build(binary, d):
    """Runs the pipeline into d (created if missing); returns (db, tokens,
    simulated world directory)."""
    os.makedirs(d, exist_ok=True)
    w = os.path.join(d, "world")
    db = cwdb.cw_db("w", d, keep=True)
    with open(os.path.join(d, "db"), "w") as f:
        f.write(db)
    run(binary, "simulate", "--accounts", str(ACCOUNTS), "--months", str(MONTHS), "--seed",
        str(SEED), "--start", START, "--out", w)
    csvs = sorted(os.path.join(w, f) for f in os.listdir(w) if f.endswith(".csv"))
    run(binary, "init", "--db", db)
    run(binary, "ingest", "--db", db, "--progress", "never", "--quiet", *csvs)
    run(binary, "metrics", "--db", db, "--from", METRICS_FROM, "--to", METRICS_TO,
        "--every", "7d", "--quiet", "--format", "csv")
    run(binary, "score", "--db", db, "--quiet", "--limit", "0")
    run(binary, "train", "--db", db, "--activate")
    run(binary, "backtest", "--db", db)
    run(binary, "run", "--db", db, "--as-of", RUN_DAY, "--deliver", "no", "--quiet")
    tokens = {}
    for role in ("read", "write"):
        tokens[role] = run(binary, "token", "create", "--db", db, "--role", role,
                           "--name", f"test {role}").stdout.strip()
        with open(os.path.join(d, f"{role}.token"), "w") as f:
            f.write(tokens[role])
    return db, tokens, w


def world_db(world_dir):
    """The --db of a built world."""
    with open(os.path.join(world_dir, "db")) as f:
        return f.read().strip()


def copy(world_dir, d, keep=False):
    """Copies a built world's database and tokens into d; returns (db,
    tokens, simulated world directory, left where it is: read only). The
    PostgreSQL copy is dropped when this process ends unless keep."""
    os.makedirs(d, exist_ok=True)
    if cwdb.is_pg():
        db = cwdb.cw_db_clone(world_db(world_dir), "w", d, keep=keep)
    else:
        db = os.path.join(d, "w.db")
        src = sqlite3.connect(os.path.join(world_dir, "w.db"))
        dst = sqlite3.connect(db)
        src.backup(dst)
        dst.close()
        src.close()
    with open(os.path.join(d, "db"), "w") as f:
        f.write(db)
    tokens = {}
    for role in ("read", "write"):
        with open(os.path.join(world_dir, f"{role}.token")) as f:
            tokens[role] = f.read().strip()
        shutil.copy(os.path.join(world_dir, f"{role}.token"), d)
    return db, tokens, os.path.join(world_dir, "world")


def prepare(binary, d, world_dir=None):
    """The world in d: copied from world_dir when given (ctest), else built."""
    if world_dir:
        return copy(world_dir, d)
    return build(binary, d)


def start(binary, db, *extra):
    """Starts the server on a free loopback port; returns (process, base URL)."""
    p = subprocess.Popen([binary, "serve", "--db", db, "--listen", "127.0.0.1:0", *extra],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, CHURNWATCH_CONFIG=""))
    line = p.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    if not m:
        p.kill()
        raise SystemExit(f"server did not start: {line!r} {p.stderr.read()}")
    return p, f"http://127.0.0.1:{m.group(1)}"


# ---- independent values from the simulated CSV files ---------------------------

def day_of(s):
    """Days since 1970-01-01 of an ISO date or timestamp."""
    return (dt.date.fromisoformat(s[:10]) - EPOCH).days


def instant(s):
    """Unix seconds of an ISO date or UTC timestamp."""
    if len(s) == 10:
        return day_of(s) * 86400
    return int(dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def read_csv(w, name):
    with open(os.path.join(w, name), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


class Subscriptions:
    """subscriptions.csv as a change log per account: MRR at an instant and
    the churn instants (MRR going from > 0 to 0)."""

    def __init__(self, w):
        self.log = {}
        for r in read_csv(w, "subscriptions.csv"):
            self.log.setdefault(r["account_id"], []).append(
                (instant(r["effective_at"]), int(r["mrr_minor"])))
        for rows in self.log.values():
            rows.sort()
        self.churns = {}
        for a, rows in self.log.items():
            prev = 0
            for t, m in rows:
                if prev > 0 and m == 0:
                    self.churns.setdefault(a, []).append(t)
                prev = m

    def mrr_at(self, account, t):
        """MRR (minor units) in force at unix second t: the last change at or
        before t."""
        v = 0
        for ts, m in self.log.get(account, []):
            if ts > t:
                break
            v = m
        return v

    def label(self, account, day, horizon=HORIZON_DAYS):
        """1 when the account churns in (day, day + horizon] (docs/model.md)."""
        lo, hi = day * 86400, (day + horizon) * 86400
        return int(any(lo < c <= hi for c in self.churns.get(account, [])))


def auc(pairs):
    """ROC AUC of (risk, label) pairs by the rank-sum (Mann-Whitney U)
    formula, tied risks sharing their mean rank."""
    pairs = sorted(pairs)
    pos = sum(y for _, y in pairs)
    neg = len(pairs) - pos
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        rank_sum += (i + 1 + j) / 2 * sum(y for _, y in pairs[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def expect(world_dir):
    """What the browser test checks, worked out here from the CSV files and
    read back from the database (cwdb, not through churnwatch)."""
    w = os.path.join(world_dir, "world")
    con = cwdb.connect(world_db(world_dir))
    sday = con.execute("SELECT max(day) FROM scores").fetchone()[0]
    model = con.execute("SELECT id, name, meta FROM models WHERE active = 1").fetchone()
    # The risk order: probability descending, then score ascending, then id.
    rows = con.execute(
        "SELECT a.account_id, p.probability, s.score, a.id, s.colour, p.drivers FROM accounts a"
        " LEFT JOIN scores s ON s.account = a.id AND s.day = ?1"
        " LEFT JOIN predictions p ON p.account = a.id AND p.model = ?2"
        " AND p.day = (SELECT max(day) FROM predictions WHERE model = ?2)", (sday, model[0])).fetchall()
    rows.sort(key=lambda r: (r[1] is None, -(r[1] or 0), r[2] is None, r[2] or 0, r[3]))
    top = rows[0]
    # Flagged (docs/model.md, "Flagged"; the default rule): the ceil(10%)
    # riskiest of the active model's latest predictions, ties by accounts.id.
    preds = sorted(((r[1], r[3], r[0]) for r in rows if r[1] is not None),
                   key=lambda t: (-t[0], t[1]))
    flagged = [t[2] for t in preds[:math.ceil(0.1 * len(preds) - 1e-9)]]
    users = sum(1 for u in read_csv(w, "users.csv") if u["account_id"] == top[0])
    meta = json.loads(model[2])
    open_alerts = con.execute("SELECT count(*) FROM alerts WHERE status = 1").fetchone()[0]
    # The month of the run day closes with the MRR in force in subscriptions.csv.
    y, mo = int(RUN_DAY[:4]), int(RUN_DAY[5:7])
    month_end = instant(f"{y + mo // 12:04d}-{mo % 12 + 1:02d}-01") - 1
    subs = Subscriptions(w)
    return {
        "accounts": len(read_csv(w, "accounts.csv")),
        "as_of": (EPOCH + dt.timedelta(days=sday)).isoformat(),
        "red": sum(1 for r in rows if r[4] == 2),
        "top_account": top[0],
        "top_driver": json.loads(top[5])[0]["text"],
        "top_users": users,
        "model_name": model[1],
        "model_importance": [i["metric"] for i in meta["importance"][:10]],
        "backtest_auc": {s: json.loads(r)["metrics"]["roc_auc"]
                         for s, r in con.execute("SELECT subject, result FROM backtests")},
        "backtest_rows": {s: [json.loads(r)["metrics"]["rows"], json.loads(r)["metrics"]["positives"]]
                          for s, r in con.execute("SELECT subject, result FROM backtests")},
        "model_test_rows": [meta["test"]["rows"], meta["test"]["positives"]],
        "flagged": flagged,
        "open_alerts": open_alerts,
        "last_month": RUN_DAY[:7],
        "last_month_mrr_end_minor": sum(subs.mrr_at(a, month_end) for a in subs.log),
    }


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "build" and len(sys.argv) == 4:
        shutil.rmtree(sys.argv[3], ignore_errors=True)
        build(sys.argv[2], sys.argv[3])
    elif cmd == "copy" and len(sys.argv) == 4:
        copy(sys.argv[2], sys.argv[3], keep=True)
    elif cmd == "expect" and len(sys.argv) == 3:
        print(json.dumps(expect(sys.argv[2])))
    elif cmd == "expire-sessions" and len(sys.argv) == 4:
        # The server's clock cannot be moved: a session of USER "expires" by
        # its absolute end being set in the past, as time passing would.
        con = cwdb.connect(world_db(sys.argv[2]))
        con.execute("UPDATE app_sessions SET expires_at = 1000 WHERE app_user IN"
                    " (SELECT id FROM app_users WHERE name = ?)", (sys.argv[3],))
        con.commit()
    else:
        raise SystemExit("usage: world.py build CHURNWATCH DIR | copy WORLD DIR | expect WORLD"
                         " | expire-sessions DIR USER")
