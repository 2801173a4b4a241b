"""Real data in, end to end (docs/cli.md `run`, docs/configuration.md).

usage: daily_test.py path/to/churnwatch

1. The daily job survives a bad row: a drop folder holding one bad row.
   Without --skip-bad the run fails (exit 1), moves nothing and leaves the
   database as it was; with --skip-bad it exits 0, the files move to done/,
   the day's snapshot exists, the quarantine table and
   DROP/quarantine/*.jsonl hold exactly that row with its reason, and
   `status` and the server's /metrics show 1 quarantined.
2. Settings are obeyed everywhere: with [ingest] naive_timestamps = reject
   and max_line_bytes = 1024, `ingest`, `run --drop` and POST
   /api/v1/ingest reject the same file with the same errors.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
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


def dump(db):
    # the run log (table runs) records every run, failed ones too, by design
    return cwdb.cw_dump(db, exclude=("runs",))


ACCOUNTS = ("account_id,name,segment,contract_start,seats,mrr_minor,currency,status\n"
            "A1,Acme,smb,2025-01-01,10,25000,USD,active\n"
            "A2,Beta,mid,2025-01-01,5,1000,USD,active\n")
USERS = "user_id,account_id,provisioned_at\nU1,A1,2025-01-02\nU2,A2,2025-01-03\n"
EVENTS = ("ts,account_id,user_id,event\n"
          "2025-01-05T10:00:00Z,A1,U1,login\n"
          "2025-01-06T10:00:00Z,A2,U2,login\n"
          "2025-01-07T10:00:00Z,A9,U1,login\n"      # line 4: unknown account
          "2025-01-08T10:00:00Z,A1,U1,report\n")
BAD_LINE = 4
BAD_RECORD = "2025-01-07T10:00:00Z,A9,U1,login"
BAD_ERROR = "unknown account 'A9' (ingest accounts first)"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def quarantine_run(t):
    drop = os.path.join(t, "drop")
    os.mkdir(drop)
    write(os.path.join(drop, "accounts.csv"), ACCOUNTS)
    write(os.path.join(drop, "users.csv"), USERS)
    write(os.path.join(drop, "events.csv"), EVENTS)
    db = cwdb.cw_db("q", t)
    cw("init", "--db", db)
    rc, out, err = cw("token", "create", "--db", db, "--role", "read", "--name", "m")
    read_token = out.split()[0] if rc == 0 else ""
    before = dump(db)
    # Without --skip-bad: exit 1, nothing moved, nothing changed.
    rc, _, err = cw("run", "--db", db, "--drop", drop, "--as-of", "2025-02-01", "--deliver", "no")
    check(rc == 1, f"run without --skip-bad: exit {rc}, want 1\n{err}")
    check(f"events.csv:{BAD_LINE}: field 'account_id': {BAD_ERROR}" in err, f"error message: {err}")
    check("nothing was ingested and no file moved" in err, f"failure message: {err}")
    check(sorted(os.listdir(drop)) == ["accounts.csv", "events.csv", "users.csv"],
          f"files moved: {os.listdir(drop)}")
    check(dump(db) == before, "a failed run changed the database")
    # With --skip-bad: exit 0, files moved, the day goes on.
    rc, _, err = cw("run", "--db", db, "--drop", drop, "--as-of", "2025-02-01", "--deliver", "no",
                    "--skip-bad")
    check(rc == 0, f"run --skip-bad: exit {rc}\n{err}")
    check("1 bad row(s) quarantined" in err, f"run summary: {err}")
    check(sorted(os.listdir(os.path.join(drop, "done"))) ==
          ["accounts.csv", "events.csv", "users.csv"], "files not in done/")
    check(not glob.glob(os.path.join(drop, "*.csv")), "files left in the drop folder")
    c = cwdb.connect(db)
    check(c.execute("SELECT count(*) FROM metric_snapshots WHERE day = 20120").fetchone()[0] == 1,
          "no snapshot of 2025-02-01")
    check(c.execute("SELECT count(*) FROM scores WHERE day = 20120").fetchone()[0] == 2,
          "the day was not scored")
    check(c.execute("SELECT count(*) FROM alert_days WHERE day = 20120").fetchone()[0] == 1,
          "the day was not evaluated")
    check(c.execute("SELECT sum(events) FROM event_days").fetchone()[0] == 3, "good events not in")
    rows = c.execute("SELECT file, line, field, error, record FROM quarantine").fetchall()
    check(len(rows) == 1, f"quarantine rows: {rows}")
    if rows:
        f, line, field, error, record = rows[0]
        check(f.endswith("drop/events.csv") and line == BAD_LINE and field == "account_id" and
              error == BAD_ERROR and record == BAD_RECORD, f"quarantine row: {rows[0]}")
    runs = c.execute("SELECT rows, quarantined FROM quarantine_runs").fetchall()
    check(runs == [(8, 1)], f"quarantine runs: {runs}")
    c.close()
    files = glob.glob(os.path.join(drop, "quarantine", "*.jsonl"))
    check(len(files) == 1, f"quarantine files: {files}")
    if files:
        lines = open(files[0]).read().splitlines()
        check(len(lines) == 1, f"quarantine file lines: {lines}")
        r = json.loads(lines[0]) if lines else {}
        check(r.get("line") == BAD_LINE and r.get("field") == "account_id" and
              r.get("error") == BAD_ERROR and r.get("record") == BAD_RECORD and
              r.get("file", "").endswith("drop/events.csv"), f"quarantine file row: {r}")
    rc, out, _ = cw("status", "--db", db, "--format", "json")
    s = json.loads(out) if rc == 0 else {}
    check(s.get("quarantined") == 1 and s.get("quarantined_last_run") == 1, f"status json: {out}")
    rc, out, _ = cw("status", "--db", db)
    check("quarantined: 1 bad row(s), 1 from the last run" in out, f"status: {out}")
    rc, out, _ = cw("quarantine", "list", "--db", db, "--format", "json")
    lst = json.loads(out) if rc == 0 else []
    check(len(lst) == 1 and lst[0]["error"] == BAD_ERROR and lst[0]["line"] == BAD_LINE,
          f"quarantine list: {out}")
    # /metrics shows both counts.
    server, base = world.start(BIN, db)
    try:
        r = urllib.request.Request(base + "/metrics",
                                   headers={"Authorization": f"Bearer {read_token}"})
        with urllib.request.urlopen(r, timeout=30) as r:
            text = r.read().decode()
        check("churnwatch_quarantined_rows 1\n" in text, "metrics: quarantined_rows")
        check("churnwatch_quarantined_rows_last_run 1\n" in text, "metrics: last run")
    finally:
        server.terminate()
        server.wait()


def token(db):
    rc, out, _ = cw("token", "create", "--db", db, "--role", "write", "--name", "t")
    return out.split()[0]


def settings_everywhere(t):
    conf = os.path.join(t, "strict.conf")
    write(conf, "[ingest]\nnaive_timestamps = reject\nmax_line_bytes = 1024\n")
    body = ("ts,account_id,user_id,event\n"
            "2025-01-05T10:00:00Z,A1,U1,login\n"
            "2025-01-05T10:00:00,A1,U1,login\n"           # line 3: no UTC offset
            "2025-01-06T10:00:00Z,A1,U1," + "x" * 1100 + "\n"  # line 4: too long
            "2025-01-07T10:00:00Z,A1,U1,report\n")
    norm = re.compile(r"^.*?(\w+\.csv|body):")

    def errors(lines):
        return sorted(norm.sub("FILE:", ln) for ln in lines if re.search(r":\d+: ", ln))

    results = {}
    # 1. ingest
    db1, db2, db3 = (cwdb.cw_db(n, t) for n in ("s1", "s2", "s3"))
    base_files = []
    for name, text in (("accounts.csv", ACCOUNTS), ("users.csv", USERS)):
        p = os.path.join(t, name)
        write(p, text)
        base_files.append(p)
    for db in (db1, db2, db3):
        cw("init", "--db", db)
        rc, _, err = cw("ingest", "--db", db, *base_files)
        check(rc == 0, f"base ingest: {err}")
    ev = os.path.join(t, "strict_events.csv")
    write(ev, body)
    before1 = dump(db1)
    rc, _, err = cw("--config", conf, "ingest", "--db", db1, ev)
    check(rc == 1, f"ingest: exit {rc}")
    results["ingest"] = errors(line[len("error: "):] for line in err.splitlines()
                               if line.startswith("error: "))
    check(dump(db1) == before1, "ingest changed the database")
    # 2. run --drop
    drop = os.path.join(t, "sdrop")
    os.mkdir(drop)
    shutil.copy(ev, os.path.join(drop, "strict_events.csv"))
    rc, _, err = cw("--config", conf, "run", "--db", db2, "--drop", drop, "--as-of", "2025-02-01",
                    "--deliver", "no")
    check(rc == 1, f"run --drop: exit {rc}")
    results["run"] = errors(err.splitlines())
    check(os.path.exists(os.path.join(drop, "strict_events.csv")), "run moved the file")
    # 3. POST /api/v1/ingest
    tok = token(db3)
    env_conf = conf
    p = subprocess.Popen([BIN, "--config", env_conf, "serve", "--db", db3, "--listen",
                          "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    check(m is not None, f"server did not start: {line}")
    try:
        if m:
            r = urllib.request.Request(f"http://127.0.0.1:{m.group(1)}/api/v1/ingest",
                                       data=body.encode(), method="POST",
                                       headers={"Authorization": f"Bearer {tok}"})
            try:
                with urllib.request.urlopen(r, timeout=30) as resp:
                    status, out = resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as e:
                status, out = e.code, json.loads(e.read())
            check(status == 400, f"API: status {status}: {out}")
            results["api"] = errors(out.get("errors", []))
    finally:
        p.terminate()
        p.wait()
    want = ["FILE:3: field 'ts': '2025-01-05T10:00:00' has no UTC offset (append Z or +hh:mm)",
            "FILE:4: record too long"]
    for k, v in results.items():
        check(len(v) == 2 and v[0] == want[0] and v[1].startswith(want[1]),
              f"{k} errors: {v}")
    check(results.get("ingest") == results.get("run") == results.get("api"),
          f"the three paths disagree: {results}")


def main():
    t = tempfile.mkdtemp(prefix="cw-daily-")
    try:
        quarantine_run(t)
        settings_everywhere(t)
    finally:
        shutil.rmtree(t, ignore_errors=True)
    if failures:
        print(f"daily_test: {len(failures)} failure(s)")
        sys.exit(1)
    print("daily_test: ok")


main()
