#!/usr/bin/env python3
"""soak_tools.py — the background actors and the checks of tests/soak.sh
(Python standard library only, loopback only).

  soak_tools.py prober PORT OUT          GET /healthz every 200 ms on a new
        connection (each on its own thread, so a hung probe does not delay the
        next); one line per probe: unix time it started, latency ms from
        connect to the status line, HTTP status (0 = no answer within 5 s or
        refused: counted as 5000 ms)
  soak_tools.py attacker PORT N OUT      N slow clients from 127.0.0.2: each
        sends a request's headers one byte a second and never ends them;
        a connection the server closes is reopened (at most one reopen per
        client a second). OUT gets the counts when it is stopped (SIGTERM).
  soak_tools.py rss PID OUT              VmRSS (kB) of PID every second
  soak_tools.py reconcile DB RECVDIR SECRET
        the outbox against what the receiver logged (see check_reconcile)
  soak_tools.py stats OUT_PROBES OUT_RSS MAX_MS RSS_PCT
        latency and RSS figures and checks
The checks print "ok: ..." or "FAIL: ..." lines; exit 1 when one failed.
"""
import hashlib
import hmac
import json
import os
import signal
import socket
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import cwdb  # noqa: E402

stop = False


def on_term(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
signal.signal(signal.SIGINT, on_term)


def probe(port, f, flock):
    t0 = time.monotonic()
    wall = time.time()
    status = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while b"\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data.startswith(b"HTTP/1."):
                status = int(data.split(b" ", 2)[1])
    except (OSError, ValueError):
        status = 0
    ms = (time.monotonic() - t0) * 1000.0
    if status == 0:
        ms = max(ms, 5000.0)
    with flock:
        f.write("%.3f %.2f %d\n" % (wall, ms, status))


def prober(port, out):
    """A probe every 200 ms on its own thread, so a probe that hangs (5 s at
    most) does not delay the next ones: at most 25 in flight."""
    flock = threading.Lock()
    with open(out, "a", buffering=1) as f:
        nxt = time.monotonic()
        threads = []
        while not stop:
            th = threading.Thread(target=probe, args=(port, f, flock), daemon=True)
            th.start()
            threads.append(th)
            threads = [t for t in threads if t.is_alive()]
            nxt += 0.2
            rest = nxt - time.monotonic()
            if rest > 0:
                time.sleep(rest)
        for th in threads:
            th.join(6)


def attacker(port, n, out):
    head = b"GET /api/v1/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100000
    conns = [None] * n  # [socket, bytes sent, last reopen time]
    opened = reopened = failed = sent = 0

    def open_one(i):
        nonlocal opened, failed
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            conns[i] = [s, 0, time.monotonic()]
            opened += 1
        except OSError:
            s.close()
            conns[i] = [None, 0, time.monotonic()]
            failed += 1

    for i in range(n):
        if stop:
            break
        open_one(i)
    while not stop:
        t0 = time.monotonic()
        for i in range(n):
            if stop:
                break
            c = conns[i]
            if c is None or c[0] is None:
                if c is None or time.monotonic() - c[2] >= 1.0:
                    reopened += 1
                    open_one(i)
                continue
            try:
                c[0].send(head[c[1]:c[1] + 1])
                c[1] += 1
                sent += 1
            except BlockingIOError:
                pass
            except OSError:
                c[0].close()
                c[0] = None
                c[2] = time.monotonic()
        rest = 1.0 - (time.monotonic() - t0)
        if rest > 0:
            time.sleep(rest)
    live = sum(1 for c in conns if c and c[0] is not None)
    with open(out, "w") as f:
        f.write("clients %d opened %d reopen_attempts %d connect_failures %d bytes_sent %d live_at_end %d\n"
                % (n, opened, reopened, failed, sent, live))


def rss(pid, out):
    with open(out, "a", buffering=1) as f:
        while not stop:
            try:
                with open("/proc/%d/status" % pid) as st:
                    for line in st:
                        if line.startswith("VmRSS:"):
                            f.write("%.1f %s\n" % (time.time(), line.split()[1]))
            except OSError:
                return
            time.sleep(1)


def message_id(key):
    return "<" + hashlib.sha256(key.encode()).hexdigest()[:32] + "@churnwatch>"


def check_reconcile(db, recv, secret):
    """Every outbox row is either delivered and found at the receiver exactly
    as recorded, or pending/dead with a reason; the receiver accepted nothing
    the outbox does not know or does not call delivered. Webhook-like actions
    (HTTP) are matched by Idempotency-Key, e-mails by Message-ID, tasks by
    the tasks table, jsonl by the file."""
    fails = []
    if cwdb.is_pg():
        con = cwdb.connect(db)
    else:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    rows = con.execute("SELECT id, idem_key, action, payload, status, attempts, last_error FROM outbox").fetchall()
    tasks = con.execute("SELECT count(*) FROM tasks").fetchone()[0]
    con.close()
    http = []
    hp = os.path.join(recv, "http.jsonl")
    if os.path.exists(hp):
        http = [json.loads(l) for l in open(hp, encoding="utf-8")]
    smtp = []
    sp = os.path.join(recv, "smtp.jsonl")
    if os.path.exists(sp):
        smtp = [json.loads(l) for l in open(sp, encoding="utf-8")]
    accepted = {}  # key -> list of accepted bodies (de-duplicated by key below)
    faults = {}
    bad_sig = 0
    for r in http:
        if r["status"] == 200:
            accepted.setdefault(r["key"], []).append(r)
            if r["sig_ok"] is not True:
                bad_sig += 1
        else:
            faults[str(r["status"])] = faults.get(str(r["status"]), 0) + 1
    mails = {}
    for m in smtp:
        for line in m["data"].split("\r\n"):
            if line.lower().startswith("message-id:"):
                mid = line.split(":", 1)[1].strip()
                mails[mid] = mails.get(mid, 0) + 1
    n = {"queued": len(rows), "delivered": 0, "pending": 0, "dead": 0}
    by_kind = {}
    retried = sum(1 for r in rows if r[5] > 1)
    attempts = sum(r[5] for r in rows)
    http_keys = set()
    for (oid, key, action, payload, status, att, err) in rows:
        st = {0: "pending", 1: "delivered", 2: "dead"}.get(status, "status%d" % status)
        n[st] = n.get(st, 0) + 1
        got = accepted.get(key)
        mid = message_id(key)
        if got is not None:
            http_keys.add(key)
        kind = "http" if got is not None or key in faults else None
        if st == "delivered":
            if got is not None:
                kind = "http"
                body = json.loads(got[0]["body"])
                if body.get("idempotency_key") == key and "alert" in body:
                    # a webhook: the alert exactly as queued
                    if body["alert"] != json.loads(payload) or body.get("action") != action:
                        fails.append("outbox %d %s: webhook body differs from the queued payload" % (oid, key))
                elif body.get("idempotency_key", key) != key:
                    fails.append("outbox %d %s: body names key %s" % (oid, key, body.get("idempotency_key")))
                if len({g["body"] for g in got}) != 1:
                    fails.append("outbox %d %s: accepted twice with different bodies" % (oid, key))
            elif mid in mails:
                kind = "email"
            elif action in ("csm_task", "jsonl_log") or action.startswith("task"):
                kind = "local"
            else:
                fails.append("LOST: outbox %d %s (%s) delivered but the receiver never accepted it" % (oid, key, action))
        else:
            if got is not None:
                fails.append("outbox %d %s is %s but the receiver accepted it" % (oid, key, st))
            if not err:
                fails.append("outbox %d %s is %s without a reason" % (oid, key, st))
        by_kind[kind or "?"] = by_kind.get(kind or "?", 0) + 1
    known = {r[1] for r in rows}
    for k in accepted:
        if k not in known:
            fails.append("receiver accepted %s which the outbox does not have" % k)
    dups = sum(len(v) - 1 for v in accepted.values())
    local_delivered = sum(1 for r in rows if r[4] == 1 and r[2] == "csm_task")
    if tasks < local_delivered:
        fails.append("tasks table has %d rows, %d csm_task messages delivered" % (tasks, local_delivered))
    summary = {"queued": n["queued"], "delivered": n["delivered"], "pending": n["pending"], "dead": n["dead"],
               "retried_messages": retried, "attempts": attempts, "http_requests": len(http),
               "http_accepted_keys": len(accepted), "http_duplicates": dups, "http_faults": faults,
               "smtp_messages": len(smtp), "bad_signatures": bad_sig}
    print("reconcile: " + json.dumps(summary, sort_keys=True))
    if bad_sig:
        fails.append("%d accepted requests with a bad signature" % bad_sig)
    for f in fails[:20]:
        print("FAIL: " + f)
    if len(fails) > 20:
        print("FAIL: ... and %d more" % (len(fails) - 20))
    if not fails:
        print("ok: 0 lost messages: %d delivered as recorded, %d pending and %d dead with a reason"
              % (n["delivered"], n["pending"], n["dead"]))
    return 1 if fails else 0


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def median(xs):
    xs = sorted(xs)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2.0


def stats(probes, rssf, max_ms, rss_pct):
    rc = 0
    pr = []
    for line in open(probes):
        t, ms, st = line.split()
        pr.append((float(t), float(ms), st))
    lat = [p[1] for p in pr]
    badp = [p for p in pr if p[1] > max_ms or p[2] != "200"]
    unanswered = sum(1 for p in pr if p[2] != "200")
    span = pr[-1][0] - pr[0][0] if pr else 0.0
    print("healthz: %d probes over %.0f s, p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d over %g ms, %d unanswered in 5 s"
          % (len(pr), span, pct(lat, 50), pct(lat, 99), max(lat) if lat else float("nan"),
             sum(1 for x in lat if x > max_ms), max_ms, unanswered))
    if badp:
        print("healthz: first bad probe %.0f s after the first probe, last %.0f s after"
              % (badp[0][0] - pr[0][0], badp[-1][0] - pr[0][0]))
    if len(pr) < 10:
        print("FAIL: healthz: too few probes (%d)" % len(pr))
        rc = 1
    elif badp:
        print("FAIL: healthz: %d of %d probes not answered 200 within %g ms" % (len(badp), len(pr), max_ms))
        rc = 1
    else:
        print("ok: healthz: all %d probes answered 200 within %g ms" % (len(pr), max_ms))
    kb = [int(l.split()[1]) for l in open(rssf)]
    if len(kb) < 8:
        print("FAIL: rss: too few samples (%d)" % len(kb))
        return 1
    q = len(kb) // 4
    first, last = median(kb[:q]), median(kb[-q:])
    growth = (last - first) * 100.0 / first
    print("rss: %d samples, first quarter median %d kB, last quarter median %d kB (%+.1f%%), max %d kB"
          % (len(kb), first, last, growth, max(kb)))
    if growth > rss_pct:
        print("FAIL: rss: serve grew %.1f%% (allowed %g%%)" % (growth, rss_pct))
        rc = 1
    else:
        print("ok: rss: flat (%+.1f%%, allowed +%g%%)" % (growth, rss_pct))
    return rc


def main():
    cmd = sys.argv[1]
    if cmd == "prober":
        prober(int(sys.argv[2]), sys.argv[3])
    elif cmd == "attacker":
        attacker(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif cmd == "rss":
        rss(int(sys.argv[2]), sys.argv[3])
    elif cmd == "reconcile":
        sys.exit(check_reconcile(sys.argv[2], sys.argv[3], sys.argv[4]))
    elif cmd == "stats":
        sys.exit(stats(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])))
    else:
        sys.exit("soak_tools.py: unknown command " + cmd)


if __name__ == "__main__":
    main()
