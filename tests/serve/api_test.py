"""API tests of `churnwatch serve` over real HTTP on loopback.

usage: api_test.py path/to/churnwatch

Builds a simulated world (world.py: 120 accounts, weekly metrics, the
test-only fixture of scores, predictions, a backtest and alerts), starts the
server on a free port and checks authentication, authorisation, errors,
body limits, static-path traversal, the data of each endpoint against
independent SQL over the same database, ingest atomicity, and that
requests keep succeeding while `churnwatch ingest` writes.
"""
import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import urllib.request
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402

BIN = os.path.realpath(sys.argv[1])
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", flush=True)


def req(base, path, token=None, method="GET", body=None, headers=None):
    """Returns (status, headers, parsed JSON or text)."""
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, (bytes, type(None))) else body.encode()
    r = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            status, hdrs, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, e.headers, e.read()
    ctype = hdrs.get("Content-Type", "")
    return status, hdrs, json.loads(raw) if "json" in ctype and raw else raw.decode("utf-8", "replace")


def raw_get(base, path):
    """GET with the path sent exactly as given (no client normalisation)."""
    host, port = base[len("http://"):].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    c.putrequest("GET", path, skip_accept_encoding=True)
    c.endheaders()
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def oversized(base, path, token, length, chunked=False):
    """Announces (or streams, chunked) a body over the limit. With a
    Content-Length the server must answer from the headers alone, before any
    body byte is sent; a chunked body is read to the limit and refused."""
    host, port = base[len("http://"):].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    c.putrequest("POST", path)
    c.putheader("Authorization", f"Bearer {token}")
    if chunked:
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        chunk = b"a" * 8192
        for _ in range(length // len(chunk)):
            c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        c.send(b"0\r\n\r\n")
    else:
        c.putheader("Content-Length", str(length))
        c.endheaders()
    r = c.getresponse()
    body = json.loads(r.read())
    c.close()
    return r.status, body


def main():
    d = tempfile.mkdtemp(prefix="cw-api-")
    server = None
    try:
        db, tok, w = world.build(BIN, d)
        server, base = world.start(BIN, db, "--max-body", "64K", "--max-ingest-body", "2M")
        R, W = tok["read"], tok["write"]
        con = sqlite3.connect(db)
        sday = con.execute("SELECT max(day) FROM scores").fetchone()[0]
        naccounts = con.execute("SELECT count(*) FROM accounts").fetchone()[0]

        # ---- health, auth, authorisation -------------------------------------
        s, h, b = req(base, "/healthz")
        check(s == 200 and b == {"status": "ok"}, "healthz without token")
        s, h, b = req(base, "/api/v1/accounts")
        check(s == 401 and "token" in b["error"] and b["status"] == 401, f"missing token: {s} {b}")
        check(h.get("WWW-Authenticate", "").startswith("Bearer"), "401 names the Bearer scheme")
        s, _, b = req(base, "/api/v1/accounts", token="cw_" + "A" * 43)
        check(s == 401 and "invalid" in b["error"], f"wrong token: {s} {b}")
        s, _, b = req(base, "/api/v1/accounts", token=R[:-1] + ("A" if R[-1] != "A" else "B"))
        check(s == 401, f"token differing in the last character: {s}")
        s, _, b = req(base, "/api/v1/accounts", headers={"Authorization": "Basic " + R})
        check(s == 401, "Basic instead of Bearer")
        s, _, b = req(base, "/metrics")
        check(s == 401, "/metrics needs a token")
        s, _, b = req(base, "/api/v1/alerts/1/ack", token=R, method="POST", body=b"{}")
        check(s == 403 and "write" in b["error"], f"read token on a write endpoint: {s} {b}")
        s, _, b = req(base, "/api/v1/ingest", token=R, method="POST", body=b"{}")
        check(s == 403, f"read token on ingest: {s}")
        s, _, b = req(base, "/api/v1/session", token=W)
        check(s == 200 and b["role"] == "write", f"session role: {b}")
        # A revoked token stops working at once.
        extra = world.run(BIN, "token", "create", "--db", db, "--role", "read").stdout.strip()
        check(req(base, "/api/v1/session", token=extra)[0] == 200, "fresh token works")
        tid = con.execute("SELECT max(id) FROM api_tokens").fetchone()[0]
        world.run(BIN, "token", "revoke", "--db", db, str(tid))
        check(req(base, "/api/v1/session", token=extra)[0] == 401, "revoked token refused")
        stored = con.execute("SELECT hash, prefix FROM api_tokens WHERE id=?", (tid,)).fetchone()
        check(len(stored[0]) == 32 and extra.encode() not in stored[0] and len(stored[1]) == 10,
              "only a SHA-256 and a 10-character prefix are stored")

        # ---- errors ------------------------------------------------------------
        s, _, b = req(base, "/api/v1/accounts/NO-SUCH", token=R)
        check(s == 404 and "NO-SUCH" in b["error"], f"unknown account: {s} {b}")
        s, _, b = req(base, "/api/v1/alerts/999999/ack", token=W, method="POST", body=b"")
        check(s == 404, f"unknown alert: {s} {b}")
        s, _, b = req(base, "/api/v1/alerts/abc/ack", token=W, method="POST", body=b"")
        check(s == 404, f"non-numeric alert id: {s}")
        s, _, b = req(base, "/api/v1/nothing", token=R)
        check(s == 404 and "error" in b, "unknown endpoint")
        s, _, b = req(base, "/api/v1/accounts", token=W, method="DELETE")
        check(s == 405, f"wrong method: {s}")
        s, _, b = req(base, "/api/v1/alerts/1/snooze", token=W, method="POST", body=b"{not json")
        check(s == 400 and "JSON" in b["error"], f"malformed JSON: {s} {b}")
        s, _, b = req(base, "/api/v1/alerts/1/snooze", token=W, method="POST", body=b"[1,2]")
        check(s == 400, "JSON that is not an object")
        s, _, b = req(base, "/api/v1/alerts/1/snooze", token=W, method="POST",
                      body=b'{"until": "2001-02-30"}')
        check(s == 400 and "until" in b["error"], f"impossible snooze date: {b}")
        s, _, b = req(base, "/api/v1/accounts?colour=purple", token=R)
        check(s == 400 and "colour" in b["error"], "bad colour")
        s, _, b = req(base, "/api/v1/accounts?limit=100000", token=R)
        check(s == 400 and "limit" in b["error"], "limit bounded")
        s, _, b = req(base, "/api/v1/accounts?sort=name;DROP%20TABLE%20accounts", token=R)
        check(s == 400 and "sort" in b["error"], "sort is a whitelist")
        s, _, b = req(base, "/api/v1/accounts?segment=x'%20OR%20'1'='1", token=R)
        check(s == 200 and b["total"] == 0, "parameters are bound, not spliced")
        s, b = oversized(base, "/api/v1/alerts/1/ack", W, 70 * 1024)
        check(s == 413 and "larger" in b["error"], f"oversized JSON body: {s}")
        s, b = oversized(base, "/api/v1/alerts/1/ack", W, 80 * 1024, chunked=True)
        check(s == 413 and "larger" in b["error"], f"oversized chunked JSON body: {s}")
        s, b = oversized(base, "/api/v1/ingest", W, 3 << 20)
        check(s == 413, f"oversized ingest body: {s}")
        s, b = oversized(base, "/api/v1/ingest", W, 1 << 40)
        check(s == 413, f"absurd Content-Length: {s}")

        # ---- static files, headers, traversal ----------------------------------
        s, h, b = req(base, "/")
        check(s == 200 and "<div id=\"app\">" in b, "dashboard page")
        csp = h.get("Content-Security-Policy", "")
        check("script-src 'self'" in csp and "frame-ancestors 'none'" in csp
              and "unsafe-inline" not in csp, f"CSP: {csp}")
        check(h.get("X-Content-Type-Options") == "nosniff", "nosniff")
        check(h.get("Referrer-Policy") == "no-referrer", "Referrer-Policy")
        s, h, b = req(base, "/assets/app.js")
        check(s == 200 and h.get("Content-Type", "").startswith("text/javascript"), "app.js")
        s, h, b = req(base, "/assets/uplot.js")
        check(s == 200 and "uPlot" in b, "vendored uPlot")
        for p in ("/assets/../../../../etc/passwd", "/assets/%2e%2e/%2e%2e/etc/passwd",
                  "/assets/..%2f..%2fetc%2fpasswd", "/../../etc/passwd", "/assets//etc/passwd",
                  "/assets/..\\..\\etc\\passwd", "/etc/passwd", "/assets/"):
            s, body = raw_get(base, p)
            check(s in (400, 404) and b"root:" not in body, f"traversal {p}: {s}")

        # ---- accounts list against independent SQL ----------------------------
        s, _, b = req(base, "/api/v1/accounts?limit=500", token=R)
        check(s == 200 and b["total"] == naccounts and len(b["items"]) == naccounts,
              f"all accounts: {b.get('total')} vs {naccounts}")
        check(b["scored"] and b["predicted"], "scored and predicted")
        probs = [a["probability"] for a in b["items"]]
        pd = [p for p in probs if p is not None]
        check(pd == sorted(pd, reverse=True) and probs[: len(pd)] == pd,
              "risk sort: probability descending, unpredicted last")
        a0 = b["items"][0]
        sc = con.execute("SELECT s.score FROM scores s JOIN accounts a ON a.id=s.account "
                         "WHERE a.account_id=? AND s.day=?", (a0["id"], sday)).fetchone()[0]
        check(abs(a0["score"] - sc) < 1e-9 and abs(a0["probability"] - (100 - sc) / 125) < 1e-9,
              "score and probability of the riskiest account")
        mrr = con.execute("SELECT mrr_minor FROM accounts WHERE account_id=?", (a0["id"],)).fetchone()[0]
        check(a0["mrr_at_risk_minor"] == round(mrr * (100 - sc) / 125), "MRR at risk = MRR x p")
        check(a0["top_driver"].startswith("Active users fell"), "top driver in words")
        check(len(a0["trend"]) == 12, "12-point sparkline")
        reds = con.execute("SELECT count(*) FROM scores WHERE day=? AND colour=2", (sday,)).fetchone()[0]
        s, _, b = req(base, "/api/v1/accounts?colour=red&limit=500", token=R)
        check(b["total"] == reds and all(a["colour"] == "red" for a in b["items"]),
              f"colour filter: {b['total']} vs {reds}")
        seg = con.execute("SELECT segment, count(*) FROM accounts GROUP BY 1 ORDER BY 2 DESC").fetchone()
        s, _, b = req(base, f"/api/v1/accounts?segment={seg[0]}&limit=5", token=R)
        check(b["total"] == seg[1] and all(a["segment"] == seg[0] for a in b["items"]), "segment filter")
        asof = sday * 86400
        nren = con.execute("SELECT count(*) FROM accounts WHERE renewal_date >= ? AND renewal_date < ?",
                           (asof, asof + 90 * 86400)).fetchone()[0]
        s, _, b = req(base, "/api/v1/accounts?renewal_within_days=90&limit=500", token=R)
        check(b["total"] == nren and all(0 <= a["days_to_renewal"] < 90 for a in b["items"]),
              f"renewal window: {b['total']} vs {nren}")
        s, _, p1 = req(base, "/api/v1/accounts?sort=name&limit=10", token=R)
        s, _, p2 = req(base, "/api/v1/accounts?sort=name&limit=10&offset=10", token=R)
        names = [r[0] for r in con.execute("SELECT name FROM accounts ORDER BY name, id LIMIT 20")]
        check([a["name"] for a in p1["items"] + p2["items"]] == names, "name sort and pagination")
        nq = con.execute("SELECT count(*) FROM accounts WHERE instr(lower(name), 'group') > 0 "
                         "OR instr(lower(account_id), 'group') > 0").fetchone()[0]
        s, _, b = req(base, "/api/v1/accounts?q=GROUP&limit=500", token=R)
        check(b["total"] == nq and all("group" in a["name"].lower() for a in b["items"]),
              f"search: {b['total']} vs {nq}")
        s, _, b = req(base, "/api/v1/accounts?q=" + "x" * 300, token=R)
        check(s == 400 and "q:" in b["error"], "search text bounded")
        s, _, b = req(base, "/api/v1/accounts?sort=mrr&order=asc&limit=5", token=R)
        mrrs = [r[0] for r in con.execute("SELECT mrr_minor FROM accounts ORDER BY mrr_minor, id LIMIT 5")]
        check([a["mrr_minor"] for a in b["items"]] == mrrs, "mrr ascending")
        # The server's in-memory list follows commits made by other processes.
        con.execute("UPDATE accounts SET owner='new.owner@x' WHERE account_id=?", (a0["id"],))
        con.commit()
        s, _, b = req(base, "/api/v1/accounts?owner=new.owner@x", token=R)
        check(b["total"] == 1 and b["items"][0]["id"] == a0["id"], "list cache sees an outside commit")
        s, _, b = req(base, "/api/v1/facets", token=R)
        check(sum(b["colours"].values()) == naccounts and b["colours"]["red"] == reds, "facets")

        # ---- one account ---------------------------------------------------------
        aid = a0["id"]
        s, _, b = req(base, f"/api/v1/accounts/{aid}", token=R)
        nsc = con.execute("SELECT count(*) FROM scores s JOIN accounts a ON a.id=s.account "
                          "WHERE a.account_id=?", (aid,)).fetchone()[0]
        nusers = con.execute("SELECT count(*) FROM users u JOIN accounts a ON a.id=u.account "
                             "WHERE a.account_id=?", (aid,)).fetchone()[0]
        nsnap = con.execute("SELECT count(*) FROM metric_snapshots").fetchone()[0]
        check(s == 200 and len(b["scores"]) == nsc and len(b["users"]) == nusers, "account detail")
        check(len(b["metrics"]["days"]) <= nsnap and "licence_gap" in b["metrics"]["names"],
              "metric history")
        check(b["drivers"] and b["drivers"][0]["metric"] == "active_users", "drivers")
        ntl = con.execute("SELECT (SELECT count(*) FROM tickets t JOIN accounts a ON a.id=t.account "
                          "WHERE a.account_id=?1) + (SELECT count(*) FROM surveys v JOIN accounts a "
                          "ON a.id=v.account WHERE a.account_id=?1 AND coalesce(responded_at, sent_at)"
                          " IS NOT NULL)", (aid,)).fetchone()[0]
        nal = con.execute("SELECT count(*) FROM alerts l JOIN accounts a ON a.id=l.account "
                          "WHERE a.account_id=?", (aid,)).fetchone()[0]
        check(len(b["timeline"]) == min(ntl, 200) + nal, f"timeline {len(b['timeline'])} vs {ntl}+{nal}")
        for g in b["goals"]:
            check(g["expected_now"] is not None, "goal expected value")

        # ---- alerts: list, ack, snooze, resolve ---------------------------------
        s, _, b = req(base, "/api/v1/alerts", token=R)
        check(s == 200 and b["total"] == 3, f"open alerts: {b}")
        first = b["items"][0]["id"]
        s, _, b = req(base, f"/api/v1/alerts/{first}/ack", token=W, method="POST", body=b"")
        check(s == 200 and b["status"] == "acknowledged", f"ack: {b}")
        st = con.execute("SELECT status FROM alerts WHERE id=?", (first,)).fetchone()[0]
        check(st == 2, "ack persisted (status 2, acknowledged)")
        s, _, b = req(base, "/api/v1/alerts?status=acknowledged", token=R)
        check([x["id"] for x in b["items"]] == [first], "acknowledged filter")
        second = [x for x in req(base, "/api/v1/alerts", token=R)[2]["items"] if x["id"] != first][0]["id"]
        s, _, b = req(base, f"/api/v1/alerts/{second}/snooze", token=W, method="POST",
                      body=b'{"days": 3}')
        check(s == 200 and b["status"] == "snoozed", f"snooze: {b}")
        s, _, b = req(base, "/api/v1/alerts", token=R)
        check(second not in [x["id"] for x in b["items"]] and b["total"] == 2, "snoozed leaves the open list")
        s, _, b = req(base, f"/api/v1/alerts/{first}/resolve", token=W, method="POST")
        check(s == 200 and b["status"] == "resolved", "resolve")
        s, _, b = req(base, f"/api/v1/alerts/{first}/ack", token=W, method="POST")
        check(s == 409, f"ack of a resolved alert: {s}")

        # ---- reports through the library ------------------------------------------
        s, _, b = req(base, "/api/v1/reports/revenue", token=R)
        cli = json.loads(world.run(BIN, "report", "revenue", "--db", db, "--format", "json").stdout)
        check(s == 200 and len(b["periods"]) == len(cli["periods"]), "revenue periods")
        check(b["periods"][-1]["mrr_end_minor"] == cli["periods"][-1]["mrr_end_minor"],
              "revenue: MRR at the end matches the CLI")
        s, _, b = req(base, "/api/v1/reports/cohorts?months=6", token=R)
        check(s == 200 and b["months"] == 6 and b["cohorts"], "cohorts")
        s, _, b = req(base, "/api/v1/reports/reasons", token=R)
        churned = con.execute("SELECT count(*) FROM accounts WHERE status='churned'").fetchone()[0]
        check(s == 200 and (b.get("empty") or b["total"]["accounts"] == churned),
              f"reasons: {b.get('total')} vs {churned}")
        s, _, b = req(base, "/api/v1/backtests", token=R)
        check(s == 200 and b["items"][0]["result"]["auc"] == 0.81, "backtests served as stored")
        s, _, b = req(base, "/api/v1/models", token=R)
        m = b["items"][0] if s == 200 and b["items"] else {}
        check(m.get("name") == "fixture" and m.get("active") == 1 and m.get("horizon_days") == 90,
              f"models: the active model first: {m}")
        check(m.get("test") == {"roc_auc": 0.81} and "features" not in m,
              "models: test metrics without the ROC points, no feature list")
        check(m.get("importance", [{}])[0].get("metric") == "active_licence_ratio"
              and m.get("boosting") is None, "models: importance as stored")

        # ---- ingest: CLI validation, all or nothing ------------------------------
        nt = con.execute("SELECT count(*) FROM tickets").fetchone()[0]
        good = '{"ticket_id":"X-1","account_id":"A000001","opened_at":"2025-06-01T10:00:00Z","category":"bug"}'
        bad = '{"ticket_id":"X-2","account_id":"A000001","opened_at":"2025-06-02T10:00:00Z","category":"nonsense"}'
        s, _, b = req(base, "/api/v1/ingest", token=W, method="POST", body=good + "\n" + bad + "\n")
        check(s == 400 and any(e.startswith("body:2:") and "category" in e for e in b["errors"]),
              f"ingest errors as body:line: {b}")
        check(con.execute("SELECT count(*) FROM tickets").fetchone()[0] == nt, "bad ingest wrote nothing")
        s, _, b = req(base, "/api/v1/ingest?kind=tickets", token=W, method="POST",
                      body=good + "\n" + good.replace("X-1", "X-2") + "\n")
        check(s == 200 and b["committed"] and b["rows_written"]["tickets"] == 2, f"ingest: {b}")
        check(con.execute("SELECT count(*) FROM tickets").fetchone()[0] == nt + 2, "ingest landed")
        s, _, b = req(base, "/api/v1/ingest?kind=bogus", token=W, method="POST", body=good)
        check(s == 400 and "kind" in b["error"], "unknown kind")
        # A mapping, as `ingest --preset/--source`: vendor exports straight
        # from the fixtures written from the vendors' formats.
        vend = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "vendors")
        with open(os.path.join(vend, "hubspot", "companies.csv"), "rb") as f:
            hub = f.read()
        with open(os.path.join(vend, "stripe", "subscriptions.json"), "rb") as f:
            stripe = f.read()
        na = con.execute("SELECT count(*) FROM accounts").fetchone()[0]
        nrows = len(hub.decode().strip().splitlines()) - 1
        s, _, b = req(base, "/api/v1/ingest?preset=hubspot", token=W, method="POST", body=hub)
        check(s == 200 and b["rows_written"].get("accounts") == nrows, f"ingest ?preset=hubspot: {b}")
        check(con.execute("SELECT count(*) FROM accounts").fetchone()[0] == na + nrows,
              "preset ingest landed")
        naccounts += nrows  # the report checks below count them too
        s, _, b = req(base, "/api/v1/ingest?preset=nope", token=W, method="POST", body=hub)
        check(s == 400 and any("nope" in e for e in b["errors"]), f"unknown preset: {s} {b}")
        s, _, b = req(base, "/api/v1/ingest?preset=hubspot&source=x", token=W, method="POST", body=hub)
        check(s == 400 and "one of" in b["error"], f"source and preset: {s} {b}")
        s, _, b = req(base, "/api/v1/ingest?preset=stripe&data_end=2025-13-01", token=W,
                      method="POST", body=stripe)
        check(s == 400 and "data_end" in b["error"], f"bad data_end: {s} {b}")
        s, _, b = req(base, "/api/v1/ingest?preset=stripe&data_end=2025-06-30", token=W,
                      method="POST", body=stripe)
        check(s == 200 and b["rows_written"].get("subscription_periods", 0) > 0,
              f"ingest ?preset=stripe&data_end: {s} {b}")
        check(con.execute("SELECT count(*) FROM subscriptions WHERE origin = 'periods'").fetchone()[0] > 0,
              "the change log derived from the Stripe periods")

        # ---- concurrency: reads keep working while the CLI ingests --------------
        ing = subprocess.Popen([BIN, "ingest", "--db", db, "--progress", "never", "--quiet",
                                os.path.join(w, "events.csv")], stderr=subprocess.PIPE, text=True)
        errs, ok = [], [0]
        lock = threading.Lock()

        def hammer():
            for i in range(25):
                p = "/api/v1/accounts?limit=20" if i % 2 else f"/api/v1/accounts/{aid}"
                s2, _, b2 = req(base, p, token=R)
                with lock:
                    if s2 == 200:
                        ok[0] += 1
                    else:
                        errs.append((s2, b2))
        ts = [threading.Thread(target=hammer) for _ in range(4)]
        for t in ts:
            t.start()
        s, _, b = req(base, "/api/v1/ingest?kind=tickets", token=W, method="POST",
                      body=good.replace("X-1", "X-3"))
        for t in ts:
            t.join()
        rc = ing.wait(timeout=600)
        check(rc == 0, f"CLI ingest beside the server: exit {rc} {ing.stderr.read()[-300:]}")
        check(not errs and ok[0] == 100, f"reads during ingest: {ok[0]} ok, errors {errs[:3]}")
        check(s == 200, f"API ingest while the CLI ingests (waits on the lock): {s} {b}")

        # ---- /metrics ----------------------------------------------------------------
        s, h, b = req(base, "/metrics", token=R)
        check(s == 200 and h.get("Content-Type", "").startswith("text/plain"), "metrics endpoint")
        line = [l for l in b.splitlines() if l.startswith('churnwatch_http_requests_total{route="accounts",status="200"}')]
        line2 = [l for l in b.splitlines() if l.startswith('churnwatch_http_requests_total{route="account",status="200"}')]
        check(line and int(line[0].split()[-1]) >= 50 and line2 and int(line2[0].split()[-1]) >= 50,
              f"request counters: {line} {line2}")
        check('churnwatch_http_request_duration_seconds_bucket{route="accounts",le="+Inf"}' in b, "histogram")
        check("churnwatch_http_requests_in_flight 1" in b, "in-flight gauge counts this request")
        check('status="401"' in b and 'status="413"' in b, "error statuses counted")

        # ---- an empty database: no alert, nothing scored ----------------------
        edb = os.path.join(d, "empty.db")
        world.run(BIN, "init", "--db", edb)
        et = world.run(BIN, "token", "create", "--db", edb, "--role", "write").stdout.strip()
        es, ebase = world.start(BIN, edb)
        try:
            s, _, b = req(ebase, "/api/v1/alerts", token=et)
            check(s == 200 and b == {"total": 0, "items": []}, f"no alert: empty list {b}")
            s, _, b = req(ebase, "/api/v1/alerts/1/ack", token=et, method="POST")
            check(s == 404, f"no alert: ack is 404 ({s})")
            s, _, b = req(ebase, "/api/v1/accounts", token=et)
            check(s == 200 and b["total"] == 0 and not b["scored"] and not b["predicted"],
                  "empty list, not scored")
            s, _, b = req(ebase, "/api/v1/reports/revenue", token=et)
            check(s == 200 and b["empty"] and b["reason"], f"empty revenue report: {b}")
            s, _, b = req(ebase, "/api/v1/backtests", token=et)
            check(s == 200 and b["items"] == [], "no backtests")
            s, _, b = req(ebase, "/api/v1/models", token=et)
            check(s == 200 and b["items"] == [], "no models")
        finally:
            es.send_signal(signal.SIGTERM)
            check(es.wait(timeout=20) == 0, "second server stops")

        # ---- the static HTML report ----------------------------------------------------
        out = os.path.join(d, "report.html")
        world.run(BIN, "report", "html", "--db", db, "--out", out, "--accounts", "5")
        html = open(out, encoding="utf-8").read()
        marker = '<script type="application/json" id="cw-data">'
        start = html.index(marker) + len(marker)
        data = json.loads(html[start:html.index("</script>", start)])
        check(data["accounts"]["total"] == naccounts and len(data["account"]) == 5, "report data")
        s, _, b = req(base, "/api/v1/accounts?limit=200", token=R)
        check([a["id"] for a in data["accounts"]["items"]] == [a["id"] for a in b["items"]],
              "the SQL path (report) and the in-memory path (server) rank alike")
        check("periods" in data["revenue"] and "cohorts" in data["cohorts"]
              and ("causes" in data["reasons"] or data["reasons"].get("empty")), "report sections")
        check(data["backtests"]["items"][0]["result"]["auc"] == 0.81 and data["alerts"]["total"] == 1,
              "report backtests and open alerts")
        check(data["models"]["items"][0]["importance"][0]["share"] == 0.3, "report: the models")
        check(" src=" not in html and "href=\"http" not in html and "uPlot" in html,
              "report is self-contained")
    finally:
        if server:
            server.send_signal(signal.SIGTERM)
            try:
                rc = server.wait(timeout=20)
                check(rc == 0, f"server exits 0 on SIGTERM (got {rc})")
            except subprocess.TimeoutExpired:
                server.kill()
                check(False, "server stops on SIGTERM")
            err = server.stderr.read()
            if failures:
                print("server stderr:", err[-2000:])
        shutil.rmtree(d, ignore_errors=True)
    print(f"api tests: {checks - len(failures)} of {checks} checks passed")
    sys.exit(1 if failures else 0)


main()
