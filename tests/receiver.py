#!/usr/bin/env python3
"""receiver.py — the far ends of delivery for tests/deliver.sh, on loopback
only: an HTTP receiver and an SMTP sink (Python standard library).

usage: receiver.py DIR SECRET

Binds 127.0.0.1 on free ports, writes them to DIR/ports ("http smtp"), and
logs every request as one JSON line: DIR/http.jsonl (path, status answered,
headers, body, whether X-Churnwatch-Signature verified with SECRET
independently of churnwatch, via the hmac module) and DIR/smtp.jsonl
(envelope and message). Runs until killed.

HTTP paths choose the answer:
  /ok        200              /bad        400 (permanent)
  /fail500   500 always       /flaky      500 the first time a key is seen, then 200
  /slow      sleeps 3 s, 200  /limited    429 with Retry-After: 300
  /okslow    sleeps 20 ms, 200 (for the kill test: a run that takes a while)
  /outage    500 while the file DIR/down exists, 200 otherwise (a receiver down for a while)
  /chaos     fails CW_CHAOS_PCT % (default 20) of requests, drawn from a hash of
             (CW_CHAOS_SEED, key, how many times the key was seen): of the failures
             half answer 500, a quarter sleep CW_CHAOS_SLEEP s (default 1) before
             answering 500 (a client timeout), a quarter reset the connection with
             no answer (RST); logged status 500, "timeout" or "reset" (tests/soak.sh)
SMTP recipients choose the reply to RCPT: reject@... 550, busy@... 451, else 250.
SMTP AUTH PLAIN is offered; user "cw" with password "smtp-pw" is accepted (535
otherwise), and the message records who logged in.
"""
import base64
import hashlib
import hmac
import json
import os
import socket
import socketserver
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR, SECRET = sys.argv[1], sys.argv[2].encode()
lock = threading.Lock()
seen_flaky = set()
seen_chaos = {}
CHAOS_PCT = float(os.environ.get("CW_CHAOS_PCT", "20"))
CHAOS_SEED = os.environ.get("CW_CHAOS_SEED", "22")
CHAOS_SLEEP = float(os.environ.get("CW_CHAOS_SLEEP", "1"))


def chaos(key):
    """None (answer 200) or the failure to inject for this attempt of key."""
    with lock:
        n = seen_chaos.get(key, 0)
        seen_chaos[key] = n + 1
    h = hashlib.sha256(("%s:%s:%d" % (CHAOS_SEED, key, n)).encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2.0**64
    if u * 100 >= CHAOS_PCT:
        return None
    v = h[8] % 4
    return 500 if v < 2 else "timeout" if v == 2 else "reset"


def log(name, rec):
    with lock, open(os.path.join(DIR, name), "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")
        f.flush()


class Http(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # or each small write waits for a delayed ACK

    def log_message(self, *args):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        if n > 1 << 20:
            self.send_error(413)
            return
        body = self.rfile.read(n)
        ts = self.headers.get("X-Churnwatch-Timestamp", "")
        sig = self.headers.get("X-Churnwatch-Signature")
        sig_ok = None
        if sig is not None:
            want = "v1=" + hmac.new(SECRET, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            sig_ok = hmac.compare_digest(want, sig)
        key = self.headers.get("Idempotency-Key", "")
        path = self.path
        status, extra = 200, {}
        if path == "/bad":
            status = 400
        elif path == "/fail500":
            status = 500
        elif path == "/flaky":
            with lock:
                first = key not in seen_flaky
                seen_flaky.add(key)
            status = 500 if first else 200
        elif path == "/slow":
            time.sleep(3)
        elif path == "/okslow":
            time.sleep(0.02)
        elif path == "/outage":
            status = 500 if os.path.exists(os.path.join(DIR, "down")) else 200
        elif path == "/limited":
            status, extra = 429, {"Retry-After": "300"}
        elif path == "/chaos":
            fault = chaos(key)
            if fault == "timeout":
                time.sleep(CHAOS_SLEEP)
                status = "timeout"
            elif fault == "reset":
                status = "reset"
            elif fault == 500:
                status = 500
        log("http.jsonl", {"path": path, "status": status, "key": key, "ts": ts, "sig": sig,
                           "sig_ok": sig_ok, "content_type": self.headers.get("Content-Type"),
                           "body": body.decode("utf-8", "replace")})
        if status == "reset":  # no answer: close with RST (SO_LINGER 0)
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        if status == "timeout":
            status = 500
        reply = b'{"ok":true}' if status == 200 else b'{"error":"test"}'
        try:
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)


class Smtp(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write((line + "\r\n").encode())
        self.wfile.flush()

    def handle(self):
        self.reply("220 sink ESMTP")
        mail_from, rcpts, authed = None, [], None
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(b"250-sink\r\n250-8BITMIME\r\n250-AUTH PLAIN\r\n250 SMTPUTF8\r\n")
                self.wfile.flush()
            elif verb == "AUTH":
                parts = cmd.split()
                if len(parts) == 2 and parts[1].upper() == "PLAIN":
                    self.reply("334 ")
                    parts.append(self.rfile.readline(4096).decode().strip())
                try:
                    _, user, pw = base64.b64decode(parts[2]).decode().split("\0")
                except Exception:
                    user, pw = None, None
                if (user, pw) == ("cw", "smtp-pw"):
                    authed = user
                    self.reply("235 ok")
                else:
                    self.reply("535 bad credentials")
            elif verb == "MAIL":
                mail_from, rcpts = cmd[10:].strip(), []
                self.reply("250 ok")
            elif verb == "RCPT":
                addr = cmd[8:].strip()
                if addr.startswith("<reject@"):
                    self.reply("550 no such user")
                elif addr.startswith("<busy@"):
                    self.reply("451 try again later")
                else:
                    rcpts.append(addr)
                    self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = []
                while True:
                    l = self.rfile.readline(1 << 20)
                    if not l or l == b".\r\n":
                        break
                    data.append(l[1:] if l.startswith(b"..") else l)
                log("smtp.jsonl", {"from": mail_from, "rcpt": rcpts, "auth": authed,
                                   "data": b"".join(data).decode("utf-8", "replace")})
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            elif verb in ("RSET", "NOOP"):
                self.reply("250 ok")
            else:
                self.reply("502 not implemented")


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
    http.daemon_threads = True
    smtp = SmtpServer(("127.0.0.1", 0), Smtp)
    threading.Thread(target=smtp.serve_forever, daemon=True).start()
    tmp = os.path.join(DIR, "ports.tmp")
    with open(tmp, "w") as f:
        f.write("%d %d\n" % (http.server_address[1], smtp.server_address[1]))
    os.rename(tmp, os.path.join(DIR, "ports"))
    http.serve_forever()


main()
