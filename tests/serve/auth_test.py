"""Named users, sessions and who acted, over real HTTP on loopback.

usage: auth_test.py path/to/churnwatch [WORLD]

On the real pipeline's world (world.py; copied from WORLD, ctest's
serve_world fixture, or built), adds users with `churnwatch user add
--password-stdin` (a viewer, a CSM, an admin) and checks every route that
sign-in adds (login, logout, session, users) and the alert changes with
each kind of caller: anonymous, viewer, csm, admin, read and write tokens.
Tasks come from the real `churnwatch deliver` of the world's outbox.
What is checked against an independent computation: the stored password
hash is recomputed with Python's hashlib.scrypt from the stored salt and
cost; the stored session hash is the SHA-256 of the cookie; the audit
trail (alerts.acked_by, alert_events.actor) is read back from the database.
Expiry is real for tokens (--expires 1s, then a wait) and set in the
database for sessions (the server's clock cannot be moved).
"""
import base64
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402
import cwdb  # noqa: E402

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


class Client:
    """One caller: a cookie jar of one cookie, optional bearer token."""

    def __init__(self, base, token=None):
        self.host, port = base[len("http://"):].split(":")
        self.port = int(port)
        self.token = token
        self.cookie = None
        self.csrf = None

    def call(self, method, path, body=None, headers=None, csrf=True, origin=None):
        h = {}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if self.cookie:
            h["Cookie"] = f"cw_session={self.cookie}"
        if body is not None:
            h["Content-Type"] = "application/json"
            body = json.dumps(body).encode() if not isinstance(body, bytes) else body
        if csrf and self.csrf and method != "GET":
            h["X-CSRF-Token"] = self.csrf
        if origin:
            h["Origin"] = origin
        h.update(headers or {})
        c = http.client.HTTPConnection(self.host, self.port, timeout=60)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        raw = r.read()
        c.close()
        sc = r.getheader("Set-Cookie")
        if sc and sc.startswith("cw_session="):
            v = sc.split(";")[0][len("cw_session="):]
            self.cookie = v or None
        b = json.loads(raw) if "json" in (r.getheader("Content-Type") or "") and raw else raw
        return r.status, r, b

    def login(self, ident, password, **kw):
        s, r, b = self.call("POST", "/api/v1/login", {"name": ident, "password": password}, **kw)
        if s == 200:
            self.csrf = b["csrf_token"]
        return s, r, b


def cli(*args, stdin=None):
    env = dict(os.environ, CHURNWATCH_CONFIG="", USER="osuser")
    return subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, env=env)


def open_alerts(con, n):
    return [r[0] for r in con.execute(
        "SELECT id FROM alerts WHERE status = 1 ORDER BY id LIMIT ?", (n,)).fetchall()]


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def main():
    d = tempfile.mkdtemp(prefix="cw-auth-")
    server = None
    try:
        db, tok, _ = world.prepare(BIN, d, WORLD)
        R, W = tok["read"], tok["write"]
        # ---- the CLI: users, passwords never from argv -----------------------
        pw = {"vera": "viewer password 1", "carl": "csm password 22", "ada": "admin password 333"}
        for name, role in (("vera", "viewer"), ("carl", "csm"), ("ada", "admin")):
            p = cli("user", "add", name, "--db", db, "--email", f"{name.title()}@Example.com",
                    "--role", role, "--password-stdin", stdin=pw[name] + "\n")
            check(p.returncode == 0, f"user add {name}: {p.returncode} {p.stderr}")
        p = cli("user", "add", "shorty", "--db", db, "--email", "s@example.com", "--role", "csm",
                "--password-stdin", stdin="short\n")
        check(p.returncode == 2 and "at least 10" in p.stderr, f"short password: {p.stderr}")
        p = cli("user", "add", "carl", "--db", db, "--email", "other@example.com", "--role", "csm",
                "--password-stdin", stdin="long enough password\n")
        check(p.returncode == 2 and "taken" in p.stderr, f"name taken: {p.returncode} {p.stderr}")
        p = cli("user", "add", "x", "--db", db, "--email", "x@example.com", "--role", "boss",
                "--password-stdin", stdin="long enough password\n")
        check(p.returncode == 2 and "viewer|csm|admin" in p.stderr, f"bad role: {p.stderr}")
        p = cli("user", "add", "nopw", "--db", db, "--email", "n@example.com", "--role", "csm",
                stdin="")
        check(p.returncode != 0, "no terminal and no --password-stdin: refused")
        p = cli("user", "list", "--db", db, "--format", "json")
        users = {u["name"]: u for u in json.loads(p.stdout)}
        check(p.returncode == 0 and set(users) == {"vera", "carl", "ada"}, f"user list: {p.stdout}")
        check(users["carl"]["role"] == "csm" and users["carl"]["email"] == "carl@example.com"
              and users["carl"]["disabled_at"] is None, f"user list fields: {users.get('carl')}")
        p = cli("user", "list", "--db", db, "--format", "csv")
        check(p.stdout.splitlines()[0] == "id,name,email,role,created_at,password_at,disabled_at"
              and len(p.stdout.splitlines()) == 4, f"user list csv: {p.stdout}")

        con = cwdb.connect(db)
        # The stored hash, recomputed independently.
        stored = con.execute("SELECT password FROM app_users WHERE name = 'carl'").fetchone()[0]
        kind, logn, r, par, salt, h = stored.split("$")
        check(kind == "scrypt" and (int(logn), int(r), int(par)) == (15, 8, 3) and len(b64d(salt)) == 16,
              f"hash format: {stored[:30]}")
        again = hashlib.scrypt(pw["carl"].encode(), salt=b64d(salt), n=1 << int(logn), r=int(r),
                               p=int(par), maxmem=256 << 20, dklen=len(b64d(h)))
        check(again == b64d(h) and len(again) == 32, "stored hash = hashlib.scrypt(password, salt)")
        check(pw["carl"] not in json.dumps(con.execute("SELECT * FROM app_users").fetchall()),
              "no password in clear")

        server, base = world.start(BIN, db)
        anon, vera, carl, ada = Client(base), Client(base), Client(base), Client(base)
        rtok, wtok = Client(base, R), Client(base, W)
        host = base[len("http://"):]
        addr_fails = 0

        # ---- anonymous ---------------------------------------------------------
        a1, a2, a3, a4, a5 = open_alerts(con, 5)
        s, _, b = anon.call("GET", "/api/v1/session")
        check(s == 200 and b["kind"] == "none" and b["signed_in"] is False,
              f"anonymous GET /session: not signed in, no error: {s} {b}")
        s, _, b = Client(base, "cw_" + "A" * 43).call("GET", "/api/v1/session")
        check(s == 401, f"GET /session with a bad token: {s}")
        stale = Client(base)
        stale.cookie = "A" * 43
        s, _, b = stale.call("GET", "/api/v1/session")
        check(s == 401 and b["status"] == 401, f"GET /session with an unknown session: {s} {b}")
        for method, path in (("GET", "/api/v1/accounts"),
                             ("POST", f"/api/v1/alerts/{a1}/ack"), ("GET", "/api/v1/users"),
                             ("POST", "/api/v1/users")):
            s, _, b = anon.call(method, path, {} if method == "POST" else None)
            check(s == 401 and isinstance(b, dict) and b.get("status") == 401,
                  f"anonymous {method} {path}: {s} {b}")
        s, _, b = anon.call("POST", "/api/v1/logout", {})
        check(s == 200 and b == {"signed_out": True}, f"anonymous logout is harmless: {s} {b}")

        # ---- sign-in -----------------------------------------------------------
        s, _, wrong = anon.login("carl", "not the password")
        s2, _, unknown = anon.login("nobody", "not the password")
        addr_fails += 2
        check(s == s2 == 401 and wrong == unknown == {"error": "wrong name or password", "status": 401},
              f"uniform error for a wrong password and an unknown name: {wrong} {unknown}")
        s, _, b = anon.call("POST", "/api/v1/login", b'{"name":"carl","password":"x"}',
                            headers={"Content-Type": "text/plain"})
        check(s == 415, f"login needs JSON: {s}")
        s, _, b = anon.call("POST", "/api/v1/login", {"name": "carl"})
        check(s == 400, f"login without a password: {s}")
        s, _, b = anon.login("carl", pw["carl"], origin="http://evil.example")
        check(s == 403 and "cross-origin" in b["error"], f"login from another origin: {s} {b}")
        s, r, b = carl.login("CARL@example.COM", pw["carl"], origin=f"http://{host}")
        check(s == 200 and b["user"] == {"name": "carl", "email": "carl@example.com", "role": "csm"}
              and b["can_write"] is True and b["can_admin"] is False,
              f"login by e-mail in any case: {s} {b}")
        cookie = r.getheader("Set-Cookie")
        attrs = [a.strip() for a in cookie.split(";")]
        check("HttpOnly" in attrs and "SameSite=Strict" in attrs and "Path=/" in attrs
              and "Max-Age=604800" in attrs and "Secure" not in attrs,
              f"cookie attributes (7 days, no TLS: no Secure): {cookie}")
        check(len(carl.cookie) == 43 and len(carl.csrf) == 43, "32-byte session id and CSRF token")
        sh = con.execute("SELECT hash FROM app_sessions").fetchall()
        check([x[0] for x in sh] == [hashlib.sha256(carl.cookie.encode()).hexdigest()],
              "only the SHA-256 of the session id is stored")
        s, _, b = Client(base).login("vera", pw["vera"], headers={"X-Forwarded-Proto": "https"})
        check(s == 200, "login through a TLS proxy")
        s, r, b = vera.login("vera", pw["vera"])
        ada.login("ada", pw["ada"])
        s, r, b = Client(base).call("POST", "/api/v1/login", {"name": "vera", "password": pw["vera"]},
                                    headers={"X-Forwarded-Proto": "https"})
        check("Secure" in [a.strip() for a in r.getheader("Set-Cookie").split(";")],
              "Secure behind a TLS proxy")

        # ---- GET /session, each caller -----------------------------------------
        s, _, b = carl.call("GET", "/api/v1/session")
        check(s == 200 and b["kind"] == "session" and b["user"]["name"] == "carl"
              and b["role"] == "csm" and b["csrf_token"] == carl.csrf, f"session csm: {b}")
        s, _, b = vera.call("GET", "/api/v1/session")
        check(s == 200 and b["role"] == "viewer" and b["can_write"] is False, f"session viewer: {b}")
        s, _, b = ada.call("GET", "/api/v1/session")
        check(s == 200 and b["role"] == "admin" and b["can_admin"] is True, f"session admin: {b}")
        s, _, b = wtok.call("GET", "/api/v1/session")
        check(s == 200 and b["kind"] == "token" and b["role"] == "write" and b["token"] == "test write",
              f"session write token: {b}")
        s, _, b = rtok.call("GET", "/api/v1/session")
        check(s == 200 and b["role"] == "read" and b["can_write"] is False, f"session read token: {b}")
        s, _, b = vera.call("GET", "/api/v1/accounts?limit=1")
        check(s == 200 and b["total"] == world.ACCOUNTS, f"viewer reads: {s}")

        # ---- alert changes: CSRF, origin, roles, who acted ---------------------
        s, _, b = carl.call("POST", f"/api/v1/alerts/{a1}/ack", {}, csrf=False)
        check(s == 403 and "CSRF" in b["error"], f"cookie write without CSRF token: {s} {b}")
        s, _, b = carl.call("POST", f"/api/v1/alerts/{a1}/ack", {},
                            headers={"X-CSRF-Token": "A" * 43})
        check(s == 403 and "CSRF" in b["error"], f"wrong CSRF token: {s} {b}")
        s, _, b = carl.call("POST", f"/api/v1/alerts/{a1}/ack", {}, origin="http://evil.example")
        check(s == 403 and "cross-origin" in b["error"], f"cross-origin write: {s} {b}")
        check(con.execute("SELECT status FROM alerts WHERE id = ?", (a1,)).fetchone()[0] == 1,
              "refused writes changed nothing")
        s, _, b = vera.call("POST", f"/api/v1/alerts/{a1}/ack", {})
        check(s == 403 and "viewer" in b["error"], f"viewer cannot ack: {s} {b}")
        s, _, b = vera.call("POST", f"/api/v1/alerts/{a1}/snooze", {"days": 3})
        check(s == 403, f"viewer cannot snooze: {s}")
        s, _, b = rtok.call("POST", f"/api/v1/alerts/{a1}/resolve", {})
        check(s == 403, f"read token cannot resolve: {s}")
        s, _, b = carl.call("POST", f"/api/v1/alerts/{a1}/ack", {}, origin=f"http://{host}")
        check(s == 200 and b["status"] == "acknowledged" and b["acked_by"] == "carl"
              and b["updated_by"] == "carl", f"csm acks: {s} {b}")
        s, _, b = ada.call("POST", f"/api/v1/alerts/{a2}/snooze", {"days": 7})
        check(s == 200 and b["status"] == "snoozed" and b["updated_by"] == "ada", f"admin snoozes: {b}")
        s, _, b = wtok.call("POST", f"/api/v1/alerts/{a3}/resolve", {})
        check(s == 200 and b["updated_by"] == "token:test write", f"token resolves: {b}")
        actors = dict(con.execute(
            "SELECT alert, actor FROM alert_events WHERE alert IN (?, ?, ?) AND actor IS NOT NULL",
            (a1, a2, a3)).fetchall())
        check(actors == {a1: "carl", a2: "ada", a3: "token:test write"}, f"history: {actors}")
        check(con.execute("SELECT acked_by FROM alerts WHERE id = ?", (a1,)).fetchone()[0] == "carl",
              "alerts.acked_by is the user")
        s, _, b = rtok.call("GET", f"/api/v1/alerts?status=all&limit=500")
        seen = {it["id"]: it for it in b["items"]}
        check(seen.get(a1, {}).get("acked_by") == "carl", "the list shows who acked")
        # The CLI acts as --as, else the OS user.
        p = cli("alerts", "ack", str(a4), "--db", db, "--as", "dana")
        p2 = cli("alerts", "ack", str(a5), "--db", db)
        got = dict(con.execute("SELECT id, acked_by FROM alerts WHERE id IN (?, ?)", (a4, a5)).fetchall())
        check(p.returncode == 0 and p2.returncode == 0 and got == {a4: "dana", a5: "osuser"},
              f"CLI actor: {got} {p.stderr} {p2.stderr}")
        p = cli("alerts", "list", "--db", db, "--format", "json")
        listed = {a["id"]: a["acked_by"] for a in json.loads(p.stdout)}
        check(listed.get(a1) == "carl" and listed.get(a4) == "dana", "alerts list shows acked_by")
        p = cli("alerts", "show", str(a1), "--db", db)
        check("acked by  carl" in p.stdout and "by carl" in p.stdout,
              f"alerts show: who acked, and the history's actor: {p.stdout}")

        # ---- tasks: the real deliver writes them; csm and write tokens close them
        p = cli("deliver", "--db", db, "--limit", "5000", "--quiet")
        want = con.execute("SELECT count(*) FROM tasks WHERE status = 0").fetchone()[0]
        tids = [r[0] for r in con.execute(
            "SELECT id FROM tasks WHERE status = 0 ORDER BY id LIMIT 3").fetchall()]
        check(want >= 3 and len(tids) == 3, f"deliver wrote tasks: {want} {p.stderr[-300:]}")
        t1, t2, t3 = tids
        s, _, b = anon.call("GET", "/api/v1/tasks")
        check(s == 401, f"anonymous tasks: {s}")
        s, _, b = vera.call("GET", "/api/v1/tasks?limit=500")
        check(s == 200 and b["total"] == want and all(t["status"] == "open" for t in b["items"]),
              f"viewer lists the open tasks: {s} {b.get('total')} of {want}")
        s, _, b = vera.call("POST", f"/api/v1/tasks/{t1}/done", {})
        check(s == 403, f"viewer cannot complete a task: {s}")
        s, _, b = rtok.call("POST", f"/api/v1/tasks/{t1}/done", {})
        check(s == 403, f"read token cannot complete a task: {s}")
        s, _, b = carl.call("POST", f"/api/v1/tasks/{t1}/done", {}, csrf=False)
        check(s == 403, f"task change without CSRF token: {s}")
        s, _, b = carl.call("POST", f"/api/v1/tasks/{t1}/done", {})
        check(s == 200 and b == {"id": t1, "status": "done", "closed_by": "carl"}, f"csm completes: {b}")
        s, _, b = carl.call("POST", f"/api/v1/tasks/{t1}/dismiss", {})
        check(s == 409 and "already" in b["error"], f"closing a closed task: {s} {b}")
        s, _, b = carl.call("POST", "/api/v1/tasks/99999999/done", {})
        check(s == 404, f"unknown task: {s}")
        s, _, b = wtok.call("POST", f"/api/v1/tasks/{t2}/dismiss", {})
        check(s == 200 and b["closed_by"] == "token:test write", f"token dismisses: {b}")
        p = cli("tasks", "done", str(t3), "--db", db, "--as", "dana")
        got = dict(con.execute("SELECT id, closed_by FROM tasks WHERE id IN (?, ?, ?)",
                               (t1, t2, t3)).fetchall())
        check(p.returncode == 0 and got == {t1: "carl", t2: "token:test write", t3: "dana"},
              f"tasks record who closed them: {got}")
        s, _, b = ada.call("GET", "/api/v1/tasks?status=all&limit=500")
        closed = {t["id"]: t["closed_by"] for t in b["items"] if t["id"] in (t1, t2, t3)}
        check(closed == got, f"the API shows closed_by: {closed}")

        # ---- users API: admins only ----------------------------------------------
        s, _, b = ada.call("GET", "/api/v1/users")
        check(s == 200 and [u["name"] for u in b["items"]] == ["ada", "carl", "vera"]
              and all("password" not in u for u in b["items"]), f"admin lists users: {b}")
        for who, c in (("csm", carl), ("viewer", vera), ("read token", rtok), ("write token", wtok)):
            s, _, b = c.call("GET", "/api/v1/users")
            check(s == 403, f"{who} cannot list users: {s}")
            s, _, b = c.call("POST", "/api/v1/users", {"name": "eve", "email": "e@example.com",
                                                      "role": "admin", "password": "0123456789"})
            check(s == 403, f"{who} cannot add users: {s}")
        s, _, b = ada.call("POST", "/api/v1/users", {"name": "erin", "email": "erin@example.com",
                                                    "role": "csm", "password": "erin's password"})
        check(s == 201 and b["name"] == "erin" and b["role"] == "csm", f"admin adds: {s} {b}")
        s, _, b = ada.call("POST", "/api/v1/users", {"name": "erin", "email": "x@example.com",
                                                    "role": "csm", "password": "erin's password"})
        check(s == 422 and "taken" in b["error"], f"duplicate user: {s} {b}")
        s, _, b = ada.call("POST", "/api/v1/users", {"name": "fay", "email": "f@example.com",
                                                    "role": "csm", "password": "short"})
        check(s == 422 and "at least" in b["error"], f"short password: {s} {b}")
        s, _, b = ada.call("POST", "/api/v1/users", {"name": "fay"}, csrf=False)
        check(s == 403, f"admin write without CSRF: {s}")
        erin = Client(base)
        check(erin.login("erin", "erin's password")[0] == 200, "the new user signs in")

        # ---- logout, expiry, disabling ------------------------------------------
        old = carl.cookie
        s, r, b = carl.call("POST", "/api/v1/logout", {})
        check(s == 200 and "Max-Age=0" in r.getheader("Set-Cookie") and carl.cookie is None,
              f"logout clears the cookie: {s}")
        carl.cookie = old
        s, _, b = carl.call("GET", "/api/v1/session")
        check(s == 401 and "session" in b["error"], f"a signed-out session is refused: {s} {b}")
        vh = hashlib.sha256(vera.cookie.encode()).hexdigest()
        con.execute("UPDATE app_sessions SET expires_at = 1000 WHERE hash = ?", (vh,))
        con.commit()
        s, r, b = vera.call("GET", "/api/v1/session")
        check(s == 401 and b == {"error": "session expired or unknown: sign in again", "status": 401},
              f"expired session refused with 401 JSON: {s} {b}")
        eh = hashlib.sha256(erin.cookie.encode()).hexdigest()
        con.execute("UPDATE app_sessions SET last_seen = last_seen - 13 * 3600 WHERE hash = ?", (eh,))
        con.commit()
        s, _, b = erin.call("GET", "/api/v1/session")
        check(s == 401, f"session idle for 13 h (limit 12 h) refused: {s}")
        check(erin.login("erin", "erin's password")[0] == 200, "signs in again")
        p = cli("user", "disable", "erin", "--db", db)
        s, _, b = erin.call("GET", "/api/v1/session")
        check(p.returncode == 0 and s == 401, f"disabling ends the sessions: {s}")
        s, _, b = Client(base).login("erin", "erin's password")
        addr_fails += 1
        check(s == 401 and b["error"] == "wrong name or password", f"a disabled user cannot sign in: {b}")

        # ---- expiring tokens -------------------------------------------------------
        p = cli("token", "create", "--db", db, "--role", "write", "--name", "ci", "--expires", "2s")
        et = Client(base, p.stdout.strip())
        check(p.returncode == 0 and "valid until" in p.stderr, f"token --expires: {p.stderr}")
        s1 = et.call("GET", "/api/v1/session")[0]
        time.sleep(3)
        s2, _, b = et.call("GET", "/api/v1/session")
        check(s1 == 200 and s2 == 401 and "expired" in b["error"], f"expired token: {s1} {s2} {b}")
        p = cli("token", "list", "--db", db, "--format", "json")
        exp = [t["expires_at"] for t in json.loads(p.stdout) if t["name"] == "ci"]
        check(len(exp) == 1 and exp[0], f"token list shows the expiry: {exp}")
        p = cli("token", "create", "--db", db, "--role", "read", "--expires", "soon")
        check(p.returncode == 2, "bad --expires is a usage error")

        # ---- rate limits ----------------------------------------------------------
        # per name: 5 failures in 15 min, then even the right password waits
        rl = Client(base)
        for i in range(5):
            s, _, _ = rl.login("ada", "wrong password")
            addr_fails += 1
        s, r, b = rl.login("ada", pw["ada"])
        check(s == 429 and int(r.getheader("Retry-After")) > 800, f"per-name limit: {s} {b}")
        # per address: 20 failures from one address, whatever the names
        while addr_fails < 20:
            s, _, b = rl.login(f"someone{addr_fails}", "x")
            check(s == 401, f"failure {addr_fails + 1} of the address: {s}")
            addr_fails += 1
        s, _, b = rl.login("vera", pw["vera"])
        check(s == 429, f"per-address limit after 20 failures: {s} {b}")
    finally:
        if server:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)
    print(f"{checks} checks, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
