"""API tests of `churnwatch serve` over real HTTP on loopback.

usage: api_test.py path/to/churnwatch [WORLD]

Runs against the real pipeline's world (world.py: 250 simulated accounts,
ingest, weekly metrics, score, train, backtest, run with the stock rules),
copied from WORLD (ctest's serve_world fixture) or built when WORLD is not
given. Starts the server on a free port and checks authentication,
authorisation, errors, body limits, static-path traversal, ingest
atomicity, that requests keep succeeding while `churnwatch ingest` writes,
and the data of each endpoint against values worked out independently:
counts and MRR recomputed from the simulated CSV files, the risk order and
an account's page against the scores, predictions and metric rows read with
cwdb (tests/lib), a stock rule's alerts recomputed from its condition, and the
backtest's scorecard AUC recomputed with the Mann-Whitney formula from the
stored scores and labels derived from subscriptions.csv.
"""
import decimal
import http.client
import json
import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import urllib.request
import urllib.error

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
import cwdb  # noqa: E402  (tests/lib, on the path through world)

BIN = os.path.realpath(sys.argv[1])
WORLD = sys.argv[2] if len(sys.argv) > 2 else None
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
        db, tok, w = world.prepare(BIN, d, WORLD)
        server, base = world.start(BIN, db, "--max-body", "64K", "--max-ingest-body", "2M")
        R, W = tok["read"], tok["write"]
        con = cwdb.connect(db)
        sday = con.execute("SELECT max(day) FROM scores").fetchone()[0]
        naccounts = con.execute("SELECT count(*) FROM accounts").fetchone()[0]
        csv_accounts = {a["account_id"]: a for a in world.read_csv(w, "accounts.csv")}
        subs = world.Subscriptions(w)
        END = 1 << 40  # after every change in subscriptions.csv
        check(naccounts == len(csv_accounts) == world.ACCOUNTS,
              f"accounts stored {naccounts}, in accounts.csv {len(csv_accounts)}")
        check(sday == world.day_of(world.RUN_DAY), f"the run scored its day: {sday}")

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
        stored = (cwdb.cw_bytes(stored[0]), stored[1])
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
        # The whole risk order, worked out here from the scores and the
        # active model's predictions: probability descending, then score
        # ascending, then the row id; unpredicted accounts last.
        model_id = con.execute("SELECT id FROM models WHERE active = 1").fetchone()[0]
        pday = con.execute("SELECT max(day) FROM predictions WHERE model=?", (model_id,)).fetchone()[0]
        check(pday == sday, f"the run predicted its day: {pday} vs {sday}")
        ranked = con.execute(
            "SELECT a.account_id, p.probability, s.score, a.id, p.drivers FROM accounts a"
            " LEFT JOIN scores s ON s.account = a.id AND s.day = ?"
            " LEFT JOIN predictions p ON p.account = a.id AND p.model = ? AND p.day = ?",
            (sday, model_id, pday)).fetchall()
        ranked.sort(key=lambda r: (r[1] is None, -(r[1] or 0), r[2] is None, r[2] or 0, r[3]))
        check([a["id"] for a in b["items"]] == [r[0] for r in ranked],
              "the at-risk order equals the order worked out from scores and predictions")
        # Who is scored and predicted, from subscriptions.csv: a snapshot
        # holds the accounts paying as the day starts (MRR > 0 at its first
        # instant); the model predicts those still paying after changes
        # effective at that instant (docs/model.md). An account churning on
        # the run day itself is in the first set only.
        paying = {a for a in csv_accounts if subs.mrr_at(a, sday * 86400 - 1) > 0}
        active = {a for a in csv_accounts if subs.mrr_at(a, sday * 86400 + 1) > 0}
        check({a["id"] for a in b["items"] if a["score"] is not None} == paying
              and {a["id"] for a in b["items"] if a["probability"] is not None} == active,
              f"scored = paying ({len(paying)}), predicted = still paying ({len(active)}),"
              " from subscriptions.csv")
        a0 = b["items"][0]
        top = ranked[0]
        check(a0["score"] == top[2] and a0["probability"] == top[1],
              "score and probability of the riskiest account as stored")
        mrr = int(csv_accounts[a0["id"]]["mrr_minor"])
        check(a0["mrr_minor"] == mrr == subs.mrr_at(a0["id"], END),
              f"MRR as in accounts.csv and subscriptions.csv: {a0['mrr_minor']} vs {mrr}")
        check(a0["mrr_at_risk_minor"] == round(mrr * top[1]), "MRR at risk = MRR x p")
        drivers0 = json.loads(top[4])
        check(a0["top_driver"] == drivers0[0]["text"] and a0["top_driver"],
              f"top driver in words, the model's first: {a0['top_driver']}")
        trend = [r[0] for r in con.execute(
            "SELECT score FROM scores s JOIN accounts a ON a.id = s.account WHERE a.account_id = ?"
            " ORDER BY day DESC LIMIT 12", (a0["id"],))][::-1]
        nsc = con.execute("SELECT count(*) FROM scores s JOIN accounts a ON a.id = s.account"
                          " WHERE a.account_id = ?", (a0["id"],)).fetchone()[0]
        # the riskiest account may be young (with event features it is one
        # scored 8 times): the sparkline holds its last 12 scores, or all
        check(a0["trend"] == trend and len(trend) == min(12, nsc) > 0,
              "12-point sparkline = the last 12 scores")
        check(sum(a["mrr_minor"] for a in b["items"]) == sum(subs.mrr_at(a, END) for a in csv_accounts),
              "total MRR = MRR in force at the end of subscriptions.csv")
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
        nq = con.execute("SELECT count(*) FROM accounts WHERE lower(name) LIKE '%group%' "
                         "OR lower(account_id) LIKE '%group%'").fetchone()[0]
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
        check(sum(b["colours"].values()) == len(paying) and b["colours"]["red"] == reds, "facets")

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
        check(b["drivers"] and b["drivers"][0]["metric"] == drivers0[0]["metric"]
              and b["drivers"][0]["text"] == drivers0[0]["text"], "drivers: the model's, as predicted")
        # Metric rows by hand: tenure is the days since contract_start
        # (accounts.csv) at each snapshot; the users are users.csv's.
        ca = csv_accounts[aid]
        ten = b["metrics"]["values"][b["metrics"]["names"].index("tenure_days")]
        want = [world.day_of(x) - world.day_of(ca["contract_start"]) for x in b["metrics"]["days"]]
        check(ten == want and b["metrics"]["days"][-1] == world.RUN_DAY,
              f"tenure_days over the snapshots: {ten} vs {want}")
        # Every value of the page's metric history is the stored row's:
        # account_metrics.vals, float64 little-endian in catalogue order,
        # NaN for missing (docs/metrics.md), decoded here.
        stored_rows = {}
        for dday, blob in con.execute(
                "SELECT m.day, m.vals FROM account_metrics m JOIN accounts a ON a.id = m.account"
                " WHERE a.account_id = ?", (aid,)):
            blob = cwdb.cw_bytes(blob)
            vals = struct.unpack(f"<{len(blob) // 8}d", blob)
            stored_rows[dday] = [None if math.isnan(x) else x for x in vals]
        names = b["metrics"]["names"]
        page = [[b["metrics"]["values"][i][k] for i in range(len(names))]
                for k in range(len(b["metrics"]["days"]))]
        want = [stored_rows.get(world.day_of(x), [])[:len(names)] for x in b["metrics"]["days"]]
        check(page == want and len(names) >= 40, "the metric history is the stored account_metrics rows")
        check(sorted(u["id"] for u in b["users"]) == sorted(
            u["user_id"] for u in world.read_csv(w, "users.csv") if u["account_id"] == aid),
            "the account's users are users.csv's")
        check(b["mrr_minor"] == int(ca["mrr_minor"]) and b["seats"] == int(ca["seats"])
              and b["renewal_date"] == (ca["renewal_date"] or None), "account facts as in accounts.csv")
        check(b["score"]["score"] == top[2] and abs(b["probability"] - top[1]) < 1e-12,
              "the account's score and probability")
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
        nopen = con.execute("SELECT count(*) FROM alerts WHERE status = 1").fetchone()[0]
        s, _, b = req(base, "/api/v1/alerts", token=R)
        check(s == 200 and b["total"] == nopen > 0, f"open alerts: {b['total']} vs {nopen}")
        items, off = [], 0
        while off < b["total"]:
            page = req(base, f"/api/v1/alerts?limit=200&offset={off}", token=R)[2]["items"]
            check(page, f"alerts page at offset {off}")
            if not page:
                break
            items += page
            off += len(page)
        check(len({x["id"] for x in items}) == nopen, "paging the inbox lists every open alert once")
        # A stock rule recomputed by hand: renewal_red fires on the run day
        # for accounts scored red whose renewal_date (accounts.csv) is at
        # most 90 days away (`churnwatch rules show renewal_red`).
        reds_today = {r[0] for r in ranked if r[2] is not None and con.execute(
            "SELECT colour FROM scores s JOIN accounts a ON a.id = s.account"
            " WHERE a.account_id = ? AND s.day = ?", (r[0], sday)).fetchone()[0] == 2}
        want = sorted(a for a in reds_today if csv_accounts[a]["renewal_date"]
                      and world.day_of(csv_accounts[a]["renewal_date"]) - sday <= 90)
        got = sorted(x["account"] for x in items if x["rule"] == "renewal_red")
        check(got == want and want, f"renewal_red alerts {got}, by hand {want}")
        first = b["items"][0]["id"]
        s, _, b = req(base, f"/api/v1/alerts/{first}/ack", token=W, method="POST", body=b"")
        check(s == 200 and b["status"] == "acknowledged", f"ack: {b}")
        st = con.execute("SELECT status FROM alerts WHERE id=?", (first,)).fetchone()[0]
        check(st == 2, "ack persisted (status 2, acknowledged)")
        s, _, b = req(base, "/api/v1/alerts?status=acknowledged", token=R)
        check([x["id"] for x in b["items"]] == [first], "acknowledged filter")
        check(req(base, "/api/v1/alerts", token=R)[2]["total"] == nopen, "acknowledged stays in the inbox")
        second = [x for x in req(base, "/api/v1/alerts", token=R)[2]["items"] if x["id"] != first][0]["id"]
        s, _, b = req(base, f"/api/v1/alerts/{second}/snooze", token=W, method="POST",
                      body=b'{"days": 3}')
        check(s == 200 and b["status"] == "snoozed", f"snooze: {b}")
        s, _, b = req(base, "/api/v1/alerts", token=R)
        check(second not in [x["id"] for x in b["items"]] and b["total"] == nopen - 1,
              "snoozed leaves the open list")
        s, _, b = req(base, f"/api/v1/alerts/{first}/resolve", token=W, method="POST")
        check(s == 200 and b["status"] == "resolved", "resolve")
        s, _, b = req(base, f"/api/v1/alerts/{first}/ack", token=W, method="POST")
        check(s == 409, f"ack of a resolved alert: {s}")

        # ---- reports through the library ------------------------------------------
        s, _, b = req(base, "/api/v1/reports/revenue", token=R)
        cli = json.loads(world.run(BIN, "report", "revenue", "--db", db, "--format", "json").stdout,
                         parse_float=decimal.Decimal)
        check(s == 200 and len(b["periods"]) == len(cli["periods"]), "revenue periods")
        # the API keeps minor units; the CLI prints major units, exactly (USD: cents)
        check(cli["currency"] == "USD" and
              b["periods"][-1]["mrr_end_minor"] == cli["periods"][-1]["mrr_end"] * 100,
              "revenue: MRR at the end matches the CLI")

        def month_end(period):  # the last second of month YYYY-MM
            y, mo = int(period[:4]), int(period[5:7])
            nxt = f"{y + mo // 12:04d}-{mo % 12 + 1:02d}-01"
            return world.instant(nxt) - 1
        want = [sum(subs.mrr_at(a, month_end(p["period"])) for a in subs.log) for p in b["periods"]]
        check([p["mrr_end_minor"] for p in b["periods"]] == want and want[-1] > 0,
              "revenue: every month's closing MRR = the sum of subscriptions.csv in force then")
        s, _, b = req(base, "/api/v1/reports/cohorts?months=6", token=R)
        check(s == 200 and b["months"] == 6 and b["cohorts"], "cohorts")
        s, _, b = req(base, "/api/v1/reports/reasons", token=R)
        churned = sum(1 for a in csv_accounts.values() if a["status"] == "churned")
        check(s == 200 and churned > 0 and b["total"]["accounts"] == churned,
              f"reasons: {b.get('total')} vs {churned}")
        # Backtests: the scorecard's ROC AUC recomputed here (Mann-Whitney)
        # from the stored scores of the test snapshots, on the rows the
        # backtest uses (accounts with MRR > 0 at the snapshot) with the
        # label derived from subscriptions.csv (churn in the next 90 days).
        s, _, b = req(base, "/api/v1/backtests", token=R)
        bt = {x["subject"]: x["result"] for x in b["items"]} if s == 200 else {}
        stored = {r[0]: json.loads(r[1]) for r in con.execute("SELECT subject, result FROM backtests")}
        check(sorted(bt) == sorted(stored) and len(stored) == 3
              and {k.split(":")[0] for k in bt} == {"model", "scorecard"}, f"backtests: {sorted(bt)}")
        for subj, r in bt.items():
            check(r == stored[subj], f"backtest {subj} served as stored")
            if not subj.startswith("scorecard:"):
                continue
            lo, hi = world.day_of(r["test_from"]), world.day_of(r["test_to"])
            rows = [(100 - sc, subs.label(acc, d)) for d, acc, sc in con.execute(
                "SELECT s.day, a.account_id, s.score FROM scores s JOIN accounts a ON a.id = s.account"
                " WHERE s.scorecard = ? AND s.day BETWEEN ? AND ?", (subj.split(":", 1)[1], lo, hi))
                if subs.mrr_at(acc, d * 86400 + 1) > 0]
            want = world.auc(rows)
            got = r["metrics"]["roc_auc"]
            check(r["metrics"]["rows"] == len(rows) and r["metrics"]["positives"] == sum(y for _, y in rows),
                  f"{subj}: rows/positives {r['metrics']['rows']}/{r['metrics']['positives']} vs "
                  f"{len(rows)}/{sum(y for _, y in rows)}")
            check(abs(got - want) < 1e-5, f"{subj}: ROC AUC {got} vs Mann-Whitney {want:.6f}")
        s, _, b = req(base, "/api/v1/models", token=R)
        m = b["items"][0] if s == 200 and b["items"] else {}
        metas = {r[0]: (r[1], json.loads(r[2])) for r in con.execute("SELECT name, active, meta FROM models")}
        best = max(metas, key=lambda n: metas[n][1]["test"]["roc_auc"])
        check(len(b["items"]) == 2 and m.get("name") == best and m.get("active") == 1
              and m.get("horizon_days") == world.HORIZON_DAYS,
              f"models: the active model (the higher held-out AUC) first: {m.get('name')} vs {best}")
        meta = metas[best][1]
        check(m.get("test", {}).get("roc_auc") == meta["test"]["roc_auc"] and "features" not in m
              and "roc" not in m.get("test", {}), "models: test metrics without the ROC points, no feature list")
        kind = m.get("kind")
        check(abs(bt.get(f"model:{kind}", {}).get("metrics", {}).get("roc_auc", -1)
                  - meta["test"]["roc_auc"]) < 1e-6, "the backtest's model AUC = train's held-out AUC")
        imp = m.get("importance", [])
        check(imp and imp == meta["importance"] and
              [x["share"] for x in imp] == sorted((x["share"] for x in imp), reverse=True),
              "models: importance as stored, largest share first")

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
        edb = cwdb.cw_db("empty", d)
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
        # One alert was resolved and one snoozed above.
        check({x["subject"]: x["result"] for x in data["backtests"]["items"]} == stored
              and data["alerts"]["total"] == nopen - 2
              == con.execute("SELECT count(*) FROM alerts WHERE status IN (1, 2)").fetchone()[0],
              f"report backtests and open alerts ({data['alerts']['total']} vs {nopen} - 2)")
        check(data["models"]["items"][0]["name"] == best
              and data["models"]["items"][0]["importance"] == meta["importance"], "report: the models")
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
