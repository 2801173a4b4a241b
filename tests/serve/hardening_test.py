"""Hardening tests of `churnwatch serve` (issue 22): what a fault and attack
probe found, each case named after what it guards.

usage: hardening_test.py path/to/churnwatch [WORLD]

The database is the real pipeline's world (tests/serve/world.py), copied
from WORLD (ctest's serve_world fixture) or built when WORLD is not given.

Raw sockets on loopback only (127.0.0.1, and 127.0.0.2 as a second client
address), every loop bounded in count and time; the server is stopped at the
end. Python standard library only.
"""
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402

BIN = os.path.realpath(sys.argv[1])
WORLD = sys.argv[2] if len(sys.argv) > 2 else None
PER_IP = 16          # --max-connections-per-ip of the server under test
HEADER_TIMEOUT = 2   # --header-timeout, seconds
INGEST_LIMIT = 1 << 20
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", flush=True)


def connect(port, source="127.0.0.1", timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_response(s, limit=5.0):
    """Reads one response until the server closes or the body is complete;
    returns (status, headers dict lower-cased, body bytes); status 0 when
    nothing came."""
    data = b""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not d:
            break
        data += d
        if b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if cl and len(body) >= int(cl[0].split(b":")[1]):
                break
    if not data.startswith(b"HTTP/1."):
        return 0, {}, data
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    hdrs = {}
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        hdrs[k.strip().lower().decode()] = v.strip().decode("latin-1")
    return int(lines[0].split()[1]), hdrs, body


def raw(port, request, source="127.0.0.1"):
    """Sends request bytes as they are; returns (status, headers, body)."""
    s = connect(port, source)
    try:
        s.sendall(request)
        return read_response(s)
    finally:
        s.close()


def get(port, target, token=None, extra=b""):
    auth = b"Authorization: Bearer %s\r\n" % token.encode() if token else b""
    return raw(port, b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s%s\r\n"
               % (target, auth, extra))


def is_json_error(status, hdrs, body, code):
    if status != code or not hdrs.get("content-type", "").startswith("application/json"):
        return False
    try:
        j = json.loads(body.decode("utf-8"))  # strict: the bytes must be UTF-8
    except (ValueError, UnicodeDecodeError):
        return False
    return j.get("status") == code and isinstance(j.get("error"), str) and j["error"]


def healthz(port, source):
    t0 = time.monotonic()
    try:
        s = connect(port, source, timeout=3)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        st, _, body = read_response(s, 3.0)
        s.close()
    except OSError:
        st, body = 0, b""
    return st == 200 and b'"ok"' in body, time.monotonic() - t0


def test_slow_headers_hit_a_whole_request_deadline(port):
    """A client sending one header line every 0.3 s never goes quiet long
    enough for the per-activity timeout (30 s); the header deadline closes
    it anyway, with a JSON 408."""
    s = connect(port)
    s.sendall(b"GET /healthz HTTP/1.1\r\n")
    t0 = time.monotonic()
    got, closed = b"", False
    s.settimeout(0.3)
    while time.monotonic() - t0 < HEADER_TIMEOUT + 4:
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            closed = True
            break
        try:
            d = s.recv(4096)
            if not d:
                closed = True
                break
            got += d
        except socket.timeout:
            pass
        except OSError:
            closed = True
            break
    took = time.monotonic() - t0
    s.close()
    check(closed and took < HEADER_TIMEOUT + 2,
          f"slow headers closed by the deadline ({took:.1f}s, closed={closed})")
    head, _, body = got.partition(b"\r\n\r\n")
    check(got.startswith(b"HTTP/1.1 408") and b"application/json" in head
          and json.loads(body)["status"] == 408, f"slow headers told 408 in JSON: {got[:80]!r}")
    # A connection that sends nothing at all is closed as well.
    s = connect(port)
    t0 = time.monotonic()
    s.settimeout(HEADER_TIMEOUT + 4)
    try:
        d = s.recv(100)
    except OSError:
        d = b""
    took = time.monotonic() - t0
    s.close()
    check(d == b"" and took < HEADER_TIMEOUT + 2, f"silent connection closed ({took:.1f}s)")


def test_one_client_cannot_starve_healthz(port):
    """520 slow connections from one address (more than the server's 512 in
    all): at most the per-address limit stay open, and /healthz from another
    address answers every probe."""
    conns = []
    for _ in range(520):
        try:
            c = connect(port, timeout=2)
            c.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n")  # headers never finished
            conns.append(c)
        except OSError:
            pass
    ok, worst = 0, 0.0
    for _ in range(10):
        good, took = healthz(port, "127.0.0.2")
        ok += good
        worst = max(worst, took)
        time.sleep(0.1)
    check(ok == 10 and worst < 3.0,
          f"healthz during 520 slow connections: {ok}/10 answered, slowest {worst:.2f}s")
    time.sleep(0.2)
    alive = 0
    for c in conns:
        c.setblocking(False)
        try:
            if c.recv(1) != b"":
                alive += 1
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    check(alive <= PER_IP, f"connections held by one address: {alive} (limit {PER_IP})")
    for c in conns:
        c.close()
    # The deadline frees the slots: the same address is served again.
    time.sleep(HEADER_TIMEOUT + 1)
    good, _ = healthz(port, "127.0.0.1")
    check(good, "the flooding address is served again once its slow connections are closed")


def test_chunked_body_over_limit_refused_early(port, token):
    """2.5 MiB chunked against the 1 MiB ingest limit: the 413 (JSON) comes
    as soon as the limit is passed, not after the last chunk."""
    s = connect(port, timeout=5)
    s.sendall(b"POST /api/v1/ingest HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n" % token.encode())
    chunk = b"x" * 65536
    sent, answered_at, t0 = 0, None, time.monotonic()
    while sent < 5 * INGEST_LIMIT // 2:
        try:
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            break
        sent += len(chunk)
        if select.select([s], [], [], 0.05)[0]:
            answered_at = sent
            break
    status, hdrs, body = read_response(s)
    took = time.monotonic() - t0
    s.close()
    check(answered_at is not None and answered_at <= INGEST_LIMIT + 256 * 1024,
          f"413 while the body was still coming (after {answered_at} of {sent} bytes)")
    check(is_json_error(status, hdrs, body, 413) and b"larger" in body,
          f"early 413 is JSON: {status} {body[:100]!r}")
    check(took < 5, f"early 413 in {took:.1f}s")
    # A client that passes the limit and then goes quiet without closing is
    # answered and closed soon (the drain is bounded in time too).
    s = connect(port, timeout=5)
    s.sendall(b"POST /api/v1/alerts/1/ack HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer %s\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n"
              % (token.encode(), 70 * 1024, b"z" * (70 * 1024)))
    t0 = time.monotonic()
    status, hdrs, body = read_response(s)
    try:
        s.settimeout(5)
        rest = s.recv(100)
    except OSError:
        rest = b""
    took = time.monotonic() - t0
    s.close()
    check(is_json_error(status, hdrs, body, 413) and rest == b"" and took < 3,
          f"quiet client after an early 413: {status}, closed after {took:.1f}s")
    # A client that sends everything before reading still gets the answer.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.putrequest("POST", "/api/v1/ingest")
    c.putheader("Authorization", f"Bearer {token}")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    try:
        for _ in range((INGEST_LIMIT + 100 * 1024) // 8192):
            c.send(b"2000\r\n" + b"y" * 8192 + b"\r\n")
        c.send(b"0\r\n\r\n")
        r = c.getresponse()
        st, rb = r.status, r.read()
    except OSError as e:
        st, rb = 0, str(e).encode()
    c.close()
    check(st == 413 and json.loads(rb)["status"] == 413, f"send-then-read client gets 413: {st}")
    good, _ = healthz(port, "127.0.0.1")
    check(good, "server fine after early 413s")


def test_414_and_431_are_json(port, token):
    """Over-long targets and header blocks answer with the same JSON error
    as every route, not libmicrohttpd's HTML page."""
    st, h, b = get(port, b"/api/v1/accounts?q=" + b"a" * 9000, token)
    check(is_json_error(st, h, b, 414), f"414 JSON: {st} {h.get('content-type')} {b[:80]!r}")
    st, h, b = get(port, b"/healthz", None, b"X-Big: " + b"a" * 20000 + b"\r\n")
    check(is_json_error(st, h, b, 431), f"431 JSON (one big header): {st} {b[:80]!r}")
    # Sizes past libmicrohttpd's former 32 KiB (where it sent its HTML page).
    st, h, b = get(port, b"/assets/" + b"a" * 50000)
    check(is_json_error(st, h, b, 414), f"414 JSON (50 kB target): {st} {b[:80]!r}")
    st, h, b = get(port, b"/healthz", None, b"X-Big: " + b"a" * 50000 + b"\r\n")
    check(is_json_error(st, h, b, 431), f"431 JSON (50 kB header): {st} {b[:80]!r}")
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    st, h, b = get(port, b"/healthz", None, many)
    check(is_json_error(st, h, b, 431), f"431 JSON (150 header fields): {st} {b[:80]!r}")
    # Past libmicrohttpd's per-connection memory it answers itself (HTML,
    # documented in docs/api.md); the server must survive it.
    st, h, b = get(port, b"/" + b"a" * 300000)
    check(st == 414, f"a 300 kB target is refused: {st}")
    st, h, b = get(port, b"/api/v1/session", token)
    check(st == 200, "server fine after oversized requests")


def test_nul_and_invalid_utf8_in_paths_rejected(port, token):
    """Percent-decoded NUL or invalid UTF-8 is 400 JSON: no truncation to
    A000001 or app.js."""
    for target in (b"/api/v1/accounts/A000001%00x", b"/assets/app.js%00", b"/assets/%ff",
                   b"/api/v1/accounts/%C3%28", b"/api/v1/accounts/%ED%A0%80",
                   b"/api/v1/accounts/%C0%AF", b"/api/v1/accounts?segment=smb%00x",
                   b"/assets/\xffapp.js"):
        st, h, b = get(port, target, token)
        check(is_json_error(st, h, b, 400), f"{target!r}: 400 JSON, got {st} {b[:80]!r}")
    st, h, b = get(port, b"/api/v1/accounts/A000001", token)
    check(st == 200 and json.loads(b)["id"] == "A000001", "the account itself is served")
    st, h, b = get(port, b"/api/v1/accounts/%C3%A9t%C3%A9", token)
    check(is_json_error(st, h, b, 404) and "\u00e9t\u00e9" in json.loads(b)["error"],
          f"valid UTF-8 id: 404 naming it: {b[:100]!r}")


def test_error_text_is_valid_utf8_never_cut_mid_character(port, token):
    """Messages quoting the request are valid UTF-8: long ones cut at a
    character boundary, invalid input bytes as U+FFFD."""
    st, h, b = get(port, b"/assets/" + b"%C3%A9" * 400)
    ok = is_json_error(st, h, b, 404)
    msg = json.loads(b)["error"] if ok else ""
    check(ok and msg.endswith("\u2026") and "\ufffd" not in msg and len(msg.encode()) <= 515,
          f"long path: 404 JSON, cut at a character: {st} {b[-40:]!r}")
    st, h, b = get(port, b"/api/v1/ingest?kind=" + b"%E2%82%AC" * 300, token)
    check(st == 405 or is_json_error(st, h, b, 400), f"long kind on GET: {st}")
    csv = (b"ticket_id,account_id,opened_at,category\n"
           b"X-9,A000001,2025-06-02T10:00:00Z,non\xffsense\n")
    s = connect(port)
    s.sendall(b"POST /api/v1/ingest?kind=tickets HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
              b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s"
              % (token.encode(), len(csv), csv))
    st, h, b = read_response(s)
    s.close()
    ok = is_json_error(st, h, b, 400)
    errs = json.loads(b).get("errors", []) if ok else []
    check(ok and errs and "\ufffd" in errs[0] and "category" in errs[0],
          f"ingest error quoting invalid UTF-8 is kept: {b[:200]!r}")
    body = (b'{"ticket_id":"X-8","account_id":"A000001","opened_at":"2025-06-02T10:00:00Z",'
            b'"category":"' + "\u00e9".encode() * 1500 + b'"}\n')
    s = connect(port)
    s.sendall(b"POST /api/v1/ingest?kind=tickets HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
              b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s"
              % (token.encode(), len(body), body))
    st, h, b = read_response(s)
    s.close()
    ok = is_json_error(st, h, b, 400)
    errs = json.loads(b).get("errors", []) if ok else []
    check(ok and errs and "\ufffd" not in errs[0], f"long ingest error stays valid: {b[:160]!r}")


def test_metrics_count_header_timeouts(port, token):
    st, h, b = get(port, b"/metrics", token)
    line = [l for l in b.decode().splitlines()
            if l.startswith("churnwatch_http_header_timeouts_total ")]
    check(st == 200 and line and int(line[0].split()[1]) >= 1, f"header timeouts counted: {line}")


def main():
    d = tempfile.mkdtemp(prefix="cw-hard-")
    server = None
    try:
        db, tok, _ = world.prepare(BIN, d, WORLD)
        server, base = world.start(BIN, db, "--max-body", "64K", "--max-ingest-body", "1M",
                                   "--max-connections-per-ip", str(PER_IP),
                                   "--header-timeout", str(HEADER_TIMEOUT))
        port = int(base.rsplit(":", 1)[1])
        t0 = time.monotonic()
        test_nul_and_invalid_utf8_in_paths_rejected(port, tok["read"])
        test_error_text_is_valid_utf8_never_cut_mid_character(port, tok["write"])
        test_414_and_431_are_json(port, tok["read"])
        test_chunked_body_over_limit_refused_early(port, tok["write"])
        test_slow_headers_hit_a_whole_request_deadline(port)
        test_one_client_cannot_starve_healthz(port)
        test_metrics_count_header_timeouts(port, tok["read"])
        print(f"hardening tests took {time.monotonic() - t0:.1f}s")
        # Bad values of the new options are usage errors.
        for args in (["--header-timeout", "0"], ["--max-connections-per-ip", "-1"]):
            rc = subprocess.run([BIN, "serve", "--db", db, "--listen", "127.0.0.1:0", *args],
                                capture_output=True, timeout=20).returncode
            check(rc != 0, f"serve {' '.join(args)} refused (exit {rc})")
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
    print(f"hardening tests: {checks - len(failures)} of {checks} checks passed")
    sys.exit(1 if failures else 0)


main()
