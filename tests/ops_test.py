"""Observability (issue 18, docs/operations.md): /metrics, --log-format json
and `churnwatch doctor`.

usage: ops_test.py path/to/churnwatch

1. /metrics: data freshness per input kind (worked out from the CSV files
   ingested), when each kind was last ingested (within the ingest's
   wall-clock window), the last run's start, end and outcome (within the
   run's window, exit 0), the outbox's queued and dead messages per action
   and destination and open alerts by severity (counted in the database
   with the test's own SQL), quarantined rows.
2. --log-format json: every stderr line of run, deliver and serve is one
   JSON object with ts, level, msg and fields; the outcome lines carry their
   numbers as fields; the access log its route, status and duration; an
   error is level "error"; no secret appears.
3. doctor: all ok (exit 0) on a fresh database with reachable destinations;
   an unreachable destination (exit 4), stale data (exit 1), a damaged
   database (exit 5), a world-readable file (a warning) - and it never
   changes the database.
"""
import csv
import datetime
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "serve"))
import world  # noqa: E402
import cwdb  # noqa: E402  (tests/lib, on the path through world)

BIN = os.path.realpath(sys.argv[1])
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", flush=True)


def cw(*args, config=None):
    env = dict(os.environ, CHURNWATCH_CONFIG=config or "")
    p = subprocess.run([BIN, *args], capture_output=True, text=True, env=env)
    return p.returncode, p.stdout, p.stderr


def ts(s):
    return int(datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
               .replace(tzinfo=datetime.timezone.utc).timestamp())


def latest_from_csv(d):
    """The newest timestamp each kind's files carry, worked out from the files."""
    def rows(name):
        with open(os.path.join(d, name), newline="") as f:
            return list(csv.DictReader(f))
    out = {}
    ev = max(ts(r["ts"]) for r in rows("events.csv"))
    out["events"] = ev - ev % 86400
    out["tickets"] = max(max(ts(r["opened_at"]), ts(r["closed_at"]) if r["closed_at"] else 0)
                         for r in rows("tickets.csv"))
    out["surveys"] = max(ts(r["responded_at"] or r["sent_at"]) for r in rows("surveys.csv")
                         if r["responded_at"] or r["sent_at"])
    out["trainings"] = max(ts(r["completed_at"]) for r in rows("trainings.csv"))
    out["journey"] = max(ts(r["at"]) for r in rows("journey.csv"))
    out["goal_measurements"] = max(ts(r["measured_at"]) for r in rows("goal_measurements.csv"))
    out["subscriptions"] = max(ts(r["effective_at"]) for r in rows("subscriptions.csv"))
    out["users"] = max(max(ts(r["provisioned_at"]),
                           ts(r["deactivated_at"]) if r["deactivated_at"] else 0)
                       for r in rows("users.csv"))
    return out


def parse_metrics(text):
    m = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        m[name] = float(value)
    return m


def scrape(base, token):
    r = urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(r, timeout=30) as r:
        return r.read().decode()


def json_lines(err, what):
    objs = []
    for line in err.splitlines():
        try:
            o = json.loads(line)
        except ValueError:
            check(False, f"{what}: a stderr line is not JSON: {line!r}")
            continue
        check(isinstance(o, dict) and set(o) == {"ts", "level", "msg", "fields"} and
              re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["ts"]) and
              o["level"] in ("info", "warn", "error") and isinstance(o["fields"], dict),
              f"{what}: not a log object: {line}")
        objs.append(o)
    return objs


def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s, s.getsockname()[1]


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    return port


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def main():
    t = tempfile.mkdtemp(prefix="cw-ops-")
    try:
        run_all(t)
    finally:
        shutil.rmtree(t, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print("ops_test: ok")


def run_all(t):
    os.chdir(t)
    subprocess.run([BIN, "simulate", "--accounts", "30", "--months", "3", "--seed", "7",
                    "--start", "2025-01-01", "--out", "w"], check=True, capture_output=True)
    want_latest = latest_from_csv("w")
    dead = closed_port()
    conf = (f"[deliver]\nsmtp_url = smtp://127.0.0.1:{dead}\nmax_attempts = 1\n"
            "timeout_ms = 2000\n"
            "[action.hook]\ntype = webhook\n"
            f"url = http://bot:HOOKPASS@127.0.0.1:{dead}/in?token=SECRETTOKEN\n"
            "[rule.always]\nscope = account\nwhen = 1 > 0\nseverity = critical\nplaybook = p\n"
            "[playbook.p]\nactions = hook\ncontrol_share = 0\n")
    open("ops.conf", "w").write(conf)
    db = cwdb.cw_db("o", t)
    rc, _, err = cw("init", "--db", db)
    check(rc == 0, f"init: {err}")
    t_in0 = int(time.time())
    rc, _, err = cw("ingest", "--quiet", "--db", db, *sorted(glob.glob("w/*.csv")))
    t_in1 = int(time.time()) + 1
    check(rc == 0, f"ingest: {err}")
    rc, out, _ = cw("token", "create", "--db", db, "--role", "read", "--name", "m")
    token = out.split()[0]

    # The daily run, in JSON logs: messages queued, not sent.
    t_run0 = int(time.time())
    rc, _, err = cw("--log-format", "json", "run", "--db", db, "--as-of", "2025-03-25",
                    "--deliver", "no", config="ops.conf")
    t_run1 = int(time.time()) + 1
    check(rc == 0, f"run: {err}")
    logs = json_lines(err, "run")
    check(logs and logs[-1]["msg"] == "run: finished" and
          logs[-1]["fields"].get("exit_code") == 0 and
          logs[-1]["fields"].get("day") == "2025-03-25" and logs[-1]["fields"].get("cmd") == "run",
          f"run: last log line {logs[-1] if logs else None}")
    check(any(o["msg"].startswith("run: metrics:") for o in logs), "run: no metrics line")
    # Deliver a few: the hook and SMTP are closed ports, so with max_attempts
    # = 1 they go dead; the rest stay queued.
    rc, _, err = cw("--log-format", "json", "deliver", "--db", db, "--limit", "6",
                    config="ops.conf")
    check(rc == 0, f"deliver: {err}")
    logs = json_lines(err, "deliver")
    fin = [o for o in logs if o["msg"] == "deliver: finished"]
    check(len(fin) == 1 and fin[0]["fields"].get("attempted") == 6 and
          fin[0]["fields"]["delivered"] + fin[0]["fields"]["dead"] +
          fin[0]["fields"]["retrying"] == 6, f"deliver: outcome line {fin}")
    check("SECRETTOKEN" not in err and "HOOKPASS" not in err, "deliver log shows a secret")
    rc, _, err = cw("--log-format", "json", "status", "--db", os.path.join(t, "missing.db"))
    logs = json_lines(err, "status error")
    check(rc != 0 and logs and logs[-1]["level"] == "error" and "missing.db" in logs[-1]["msg"],
          f"an error as JSON: {err}")

    # Expected values, from the database with the test's own SQL.
    c = cwdb.connect(db)
    outbox = {}
    for action, dest, status, n in c.execute(
            "SELECT action, dest, status, count(*) FROM outbox"
            " WHERE status IN (0, 2) GROUP BY 1, 2, 3"):
        # never attempted: ""; an e-mail recipient is not exposed: "email"
        key = (action, "" if dest is None else "email" if "@" in dest else dest)
        outbox.setdefault(key, [0, 0])[0 if status == 0 else 1] += n
    alerts = dict(c.execute("SELECT severity, count(*) FROM alerts WHERE status IN (1, 2, 3)"
                            " GROUP BY severity").fetchall())
    quarantined = c.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    c.close()
    check(any(v[1] for v in outbox.values()) and any(v[0] for v in outbox.values()),
          f"the fixture should have both queued and dead messages: {outbox}")
    check(alerts.get(2, 0) >= 30, f"rule 'always' should open a critical alert per account: {alerts}")

    server, base = world.start(BIN, db, "--access-log", "--log-format", "json")
    try:
        text = scrape(base, token)
    finally:
        server.terminate()
        _, serr = server.communicate(timeout=30)
    m = parse_metrics(text)
    for kind, want in want_latest.items():
        got = m.get(f'churnwatch_data_latest_timestamp_seconds{{kind="{kind}"}}')
        check(got == want, f"data_latest {kind}: {got}, want {want}")
    for kind in ("accounts", "events", "tickets", "users"):
        got = m.get(f'churnwatch_ingest_last_timestamp_seconds{{kind="{kind}"}}', -1)
        check(t_in0 <= got <= t_in1, f"ingest_last {kind}: {got} not in [{t_in0}, {t_in1}]")
    st, en = m.get("churnwatch_run_last_start_timestamp_seconds", -1), \
        m.get("churnwatch_run_last_end_timestamp_seconds", -1)
    check(t_run0 <= st <= en <= t_run1, f"run start/end {st}/{en} not in [{t_run0}, {t_run1}]")
    check(m.get("churnwatch_run_last_exit_code") == 0 and
          m.get("churnwatch_run_last_success") == 1, "run outcome gauges")
    for (action, dest), (queued, dead_n) in outbox.items():
        lab = f'action="{action}",dest="{dest}"'
        check(m.get(f'churnwatch_outbox_messages{{{lab},state="queued"}}') == queued and
              m.get(f'churnwatch_outbox_messages{{{lab},state="dead"}}') == dead_n,
              f"outbox {action} -> {dest!r}: want queued {queued}, dead {dead_n}")
    n_outbox = len([k for k in m if k.startswith("churnwatch_outbox_messages{")])
    check(n_outbox == 2 * len(outbox), f"outbox series: {n_outbox}, want {2 * len(outbox)}")
    check(m.get('churnwatch_alerts_open{severity="warning"}') == alerts.get(1, 0) and
          m.get('churnwatch_alerts_open{severity="critical"}') == alerts.get(2, 0),
          f"alerts_open: want {alerts}")
    check(m.get("churnwatch_quarantined_rows") == quarantined, "quarantined_rows")
    check("SECRETTOKEN" not in text and "HOOKPASS" not in text, "/metrics shows a secret")
    check("@" not in text, "/metrics shows an e-mail address")
    logs = json_lines(serr, "serve")
    check(any(o["msg"] == "serving" and o["level"] == "info" and
              isinstance(o["fields"].get("port"), int) for o in logs) and
          any(o["msg"] == "stopping" and o["level"] == "info" and o["fields"].get("signal") == 15
              for o in logs), f"serve: start and stop log objects: {serr}")
    acc = [o for o in logs if o["msg"] == "request"]
    check(any(o["fields"].get("route") == "metrics" and o["fields"].get("status") == 200 and
              isinstance(o["fields"].get("duration_ms"), (int, float)) for o in acc),
          f"serve: no access log object for /metrics: {serr}")

    # 3. doctor. First on stale data with unreachable destinations.
    # (on PostgreSQL: no file, so no mode; unchanged means the same content)
    stale = cwdb.cw_db_clone(db, "stale", t)
    content = cwdb.cw_dump if cwdb.is_pg() else sha
    if not cwdb.is_pg():
        os.chmod(stale, 0o600)
    before = content(stale)
    rc, out, err = cw("doctor", "--db", stale, config="ops.conf")
    check(rc == 4, f"doctor, unreachable destination: exit {rc}, want 4\n{out}{err}")
    check(re.search(r"^FAIL  destination hook: 127\.0\.0\.1 port %d .*Connection refused" % dead,
                    out, re.M), f"doctor: hook line\n{out}")
    check(re.search(r"^FAIL  destination smtp", out, re.M), f"doctor: smtp line\n{out}")
    check(re.search(r"^FAIL  freshness: the newest events are of 2025-", out, re.M),
          f"doctor: freshness line\n{out}")
    # On PostgreSQL the line names the backend and what was checked (the
    # server checks its own pages); SQLite's is its integrity_check.
    if cwdb.is_pg():
        want = (r"^ok    database: %s: postgresql, schema \d+, every table present \(page checks"
                r" are the server's own: data checksums, amcheck\)$" % re.escape(stale))
    else:
        want = r"^ok    database: .*stale\.db: schema \d+, integrity ok$"
    check(re.search(want, out, re.M), f"doctor: database line\n{out}")
    check("SECRETTOKEN" not in out and "HOOKPASS" not in out, "doctor shows a secret")
    if cwdb.is_pg():
        # A password in the URI reaches the server (trust ignores it) but
        # never the output: the line shows the URI masked.
        user = os.environ["PGUSER"]
        secret = stale.replace("postgresql:///", f"postgresql://{user}:DBPASS@/", 1)
        rc, out, err = cw("doctor", "--db", secret, "--no-network", config="ops.conf")
        masked = re.escape(secret.replace(":DBPASS@", ":***@"))
        check("DBPASS" not in out + err and
              re.search(r"^ok    database: %s: postgresql, schema \d+" % masked, out, re.M),
              f"doctor: a database password is masked\n{out}{err}")
    rc, out, _ = cw("doctor", "--db", stale, "--no-network", config="ops.conf")
    check(rc == 1, f"doctor, stale data: exit {rc}, want 1\n{out}")
    check(content(stale) == before, "doctor changed the database")
    if cwdb.sqlite_only("doctor: the database file's mode"):
        os.chmod(stale, 0o644)
        rc, out, _ = cw("doctor", "--db", stale, "--no-network", config="ops.conf")
        check(re.search(r"^WARN  database: .* has mode 0644", out, re.M), f"doctor: mode\n{out}")

    # All well: reachable destinations, fresh events, a run today.
    hook_s, hook_port = listener()
    smtp_s, smtp_port = listener()
    open("ok.conf", "w").write(conf.replace(f"127.0.0.1:{dead}/in", f"127.0.0.1:{hook_port}/in")
                               .replace(f"smtp://127.0.0.1:{dead}", f"smtp://127.0.0.1:{smtp_port}"))
    now = int(time.time())
    today = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))
    with open("w/users.csv") as f:
        u = next(csv.DictReader(f))
    open("fresh.csv", "w").write(f"ts,account_id,user_id,event\n{today},{u['account_id']},"
                                 f"{u['user_id']},login\n")
    rc, _, err = cw("ingest", "--quiet", "--db", db, "--kind", "events", "fresh.csv")
    check(rc == 0, f"fresh ingest: {err}")
    rc, _, err = cw("run", "--db", db, "--deliver", "no", "--quiet", config="ok.conf")
    check(rc == 0, f"run today: {err}")
    rc, out, err = cw("doctor", "--db", db, config="ok.conf")
    check(rc == 0, f"doctor, all well: exit {rc}\n{out}{err}")
    check(re.search(r"^ok    destination hook: 127\.0\.0\.1 port %d " % hook_port, out, re.M) and
          re.search(r"^ok    destination smtp .* port %d " % smtp_port, out, re.M) and
          re.search(r"^ok    daily run: the last run ended .*, exit code 0", out, re.M) and
          "FAIL" not in out and out.rstrip().endswith("doctor: 0 failed, 0 warning(s)"),
          f"doctor, all well:\n{out}")
    hook_s.close()
    smtp_s.close()

    # A damaged database file and an older schema (PRAGMA user_version): SQLite only.
    if cwdb.sqlite_only("doctor on a damaged database file, PRAGMA user_version"):
        # A damaged database: pages overwritten in the middle.
        bad = os.path.join(t, "bad.db")
        shutil.copy(db, bad)
        with open(bad, "r+b") as f:
            size = os.path.getsize(bad)
            f.seek(size // 2)
            f.write(b"\xa5" * 8192)
        os.chmod(bad, 0o600)
        rc, out, _ = cw("doctor", "--db", bad, "--no-network", config="ok.conf")
        check(rc == 5 and re.search(r"^FAIL  database", out, re.M), f"doctor, damaged: exit {rc}\n{out}")
        # An older schema is reported with what to do, and left as it is.
        old = os.path.join(t, "old.db")
        shutil.copy(stale, old)
        c = sqlite3.connect(old)
        c.execute("PRAGMA user_version = 4")
        c.commit()
        c.close()
        rc, out, _ = cw("doctor", "--db", old, "--no-network", config="ok.conf")
        check(rc == 5 and re.search(r"^FAIL  database: .*schema version 4, this build needs \d+ \(a "
                                    r"writing command migrates it: back it up first", out, re.M),
              f"doctor, old schema: exit {rc}\n{out}")
        c = sqlite3.connect(old)
        check(c.execute("PRAGMA user_version").fetchone()[0] == 4, "doctor migrated an old database")
        c.close()
    rc, out, _ = cw("doctor", "--db", os.path.join(t, "none.db"), "--no-network")
    check(rc == 5 and "none.db: No such file or directory" in out, f"doctor, missing db: {out}")


main()
