/*
 * deliver.c — drains the outbox: every due message is claimed in a short
 * transaction, performed (a task row, an SMTP e-mail through libcurl, a
 * signed HTTP POST, a JSON line), and its outcome recorded in a transaction
 * of its own (docs/actions.md, "Delivery").
 *
 * The guarantee is at-least-once. The claim commits before the send, and
 * the outcome after it, so a crash between the two leaves the row pending
 * with its attempt counted; it is due again once its lease (time limit +
 * deliver.lease_s) has passed and is sent a second time. Receivers dedupe by
 * the Idempotency-Key header / Message-ID. Counting the attempt at claim
 * time also bounds a message that crashes the deliverer itself: it reaches
 * max_attempts and is set aside as a dead letter instead of looping.
 *
 * A task is the exception: "sending" it is an INSERT into tasks, done in
 * the same transaction that marks the row delivered, so it happens exactly
 * once.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/json.h"
#include "core/mask.h"
#include "core/util.h"
#include "store/store.h"
#include "store/store_outbox.h"
#include "alerts/actions.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- pure helpers: backoff and signature ----------------------------- */

int64_t cw_deliver_backoff(int attempts, int64_t base_s, int64_t max_s, int jitter_pct,
                           const char *idem_key)
{
    if (attempts < 1)
        attempts = 1;
    int64_t d = base_s;
    for (int i = 1; i < attempts && d < max_s; i++)
        d *= 2;
    if (d > max_s)
        d = max_s;
    if (jitter_pct > 0) {
        /* a share in [0, jitter_pct%) that depends only on the key and the attempt */
        uint64_t h = cw_hash64(idem_key, strlen(idem_key), (uint64_t)attempts);
        double u = (double)(h >> 11) / 9007199254740992.0; /* [0, 1) */
        d -= (int64_t)((double)d * (jitter_pct / 100.0) * u);
    }
    return d < 1 ? 1 : d;
}

void cw_deliver_sign(const char *secret, const char *timestamp, const char *body, size_t body_len,
                     char *out, size_t outsz)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    /* HMAC over timestamp "." body without copying the body */
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
                            OSSL_PARAM_construct_end()};
    size_t outl = 0;
    if (ctx && EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) &&
        EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) &&
        EVP_MAC_update(ctx, (const unsigned char *)".", 1) &&
        EVP_MAC_update(ctx, (const unsigned char *)body, body_len) &&
        EVP_MAC_final(ctx, md, &outl, sizeof md))
        mdlen = (unsigned int)outl;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    size_t k = (size_t)snprintf(out, outsz, "v1=");
    for (unsigned i = 0; i < mdlen && k + 2 < outsz; i++)
        k += (size_t)snprintf(out + k, outsz - k, "%02x", md[i]);
}

/* ---- one message ------------------------------------------------------ */

enum { OUT_DELIVERED, OUT_RETRY, OUT_DEAD };

typedef struct outcome {
    int result;
    int64_t retry_after_s; /* from Retry-After, 0 when none */
    char why[512];
} outcome;

/* What a row turns into, ready to send. */
typedef struct msg {
    const cw_action *act;
    char *dest; /* rate-limit key and what `outbox list` shows */
    char *body; /* HTTP JSON body, e-mail RFC 5322 message, JSON line */
    size_t body_len;
    char *rcpt;                              /* e-mail */
    char *title, *text, *account, *assignee; /* task */
    int64_t due_day;
    int failed; /* preparation failed: result and why below */
    outcome fail;
} msg;

static void msg_free(msg *m)
{
    free(m->dest);
    free(m->body);
    free(m->rcpt);
    free(m->title);
    free(m->text);
    free(m->account);
    free(m->assignee);
    memset(m, 0, sizeof *m);
}

static int prep_fail(msg *m, int result, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int prep_fail(msg *m, int result, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->fail.why, sizeof m->fail.why, fmt, ap);
    va_end(ap);
    m->failed = 1;
    m->fail.result = result;
    return 0;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static char *dup0(const char *s)
{
    return s ? cw_strndup(s, strlen(s)) : NULL;
}

/* The host[:port] of an http(s) URL, lower-cased: the rate-limit key. */
static char *url_host(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *r = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        r = port ? cw_strdupf("%s:%s", host, port) : dup0(host);
        for (char *p = r; p && *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return r;
}

static char *render(const char *text, json_t *p, cw_escape esc, msg *m, const char *what)
{
    char *out = NULL;
    cw_error why;
    cw_status s = cw_template_render_json(text, p, esc, &out, &why);
    if (s != CW_OK) {
        prep_fail(m, OUT_DEAD, "%s: %s", what, why.msg);
        return NULL;
    }
    return out;
}

/* RFC 2047 encoded-words for a non-ASCII header value (chunks never split
 * a UTF-8 sequence); ASCII values are returned as they are. */
static char *encode_header(const char *v)
{
    int ascii = 1;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        ascii &= *p < 0x80;
    if (ascii)
        return dup0(v);
    size_t n = strlen(v), cap = n * 2 + 64 + (n / 30 + 1) * 16;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t k = 0, i = 0;
    while (i < n) {
        size_t j = i + 45 < n ? i + 45 : n;
        while (j < n && j > i && ((unsigned char)v[j] & 0xC0) == 0x80)
            j--;
        unsigned char enc[80];
        int el = EVP_EncodeBlock(enc, (const unsigned char *)v + i, (int)(j - i));
        k += (size_t)snprintf(out + k, cap - k, "%s=?UTF-8?B?%.*s?=", i ? "\r\n " : "", el,
                              (const char *)enc);
        i = j;
    }
    return out;
}

static void rfc5322_date(int64_t t, char *buf, size_t n)
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    snprintf(buf, n, "%s, %02d %s %04d %02d:%02d:%02d +0000", wd[tm.tm_wday], tm.tm_mday,
             mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The Message-ID of a message: stable across retries, so the receiver's
 * duplicate detection sees a re-send as the same message. */
static void message_id(const char *idem_key, char *buf, size_t n)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)idem_key, strlen(idem_key), md);
    size_t k = (size_t)snprintf(buf, n, "<");
    for (int i = 0; i < 16; i++)
        k += (size_t)snprintf(buf + k, n - k, "%02x", md[i]);
    snprintf(buf + k, n - k, "@churnwatch>");
}

static int build_email(msg *m, const cw_config *cfg, json_t *p, const cw_template *t,
                       const char *idem_key, int64_t now)
{
    const char *to = m->act->to;
    const char *rcpt = strcmp(to, "user") == 0    ? jstr(p, "user_email")
                       : strcmp(to, "owner") == 0 ? jstr(p, "owner")
                                                  : to;
    if (!cw_email_address_ok(rcpt))
        return prep_fail(m, OUT_DEAD, "no e-mail address to send to (to = %s: %s)", to,
                         rcpt ? rcpt : "null in the alert");
    m->rcpt = dup0(rcpt);
    m->dest = dup0(rcpt);
    for (char *c = m->dest; c && *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    char *subject = render(t->subject, p, CW_ESCAPE_HEADER, m, "subject");
    char *body = subject ? render(t->body, p, CW_ESCAPE_NONE, m, "body") : NULL;
    char *esubj = subject ? encode_header(subject) : NULL;
    if (!body || !esubj) {
        free(subject);
        free(body);
        free(esubj);
        return m->failed ? 0 : prep_fail(m, OUT_RETRY, "out of memory");
    }
    char date[64], mid[80];
    rfc5322_date(now, date, sizeof date);
    message_id(idem_key, mid, sizeof mid);
    /* CRLF line ends; the body's bare LFs become CRLF */
    size_t nl = 0;
    for (const char *c = body; *c; c++)
        nl += *c == '\n';
    char *crlf = malloc(strlen(body) + nl + 1), *d = crlf;
    if (crlf) {
        for (const char *c = body; *c; c++) {
            if (*c == '\n' && (c == body || c[-1] != '\r'))
                *d++ = '\r';
            *d++ = *c;
        }
        *d = 0;
    }
    m->body = crlf ? cw_strdupf("Date: %s\r\n"
                                "From: %s\r\n"
                                "To: %s\r\n"
                                "Subject: %s\r\n"
                                "Message-ID: %s\r\n"
                                "MIME-Version: 1.0\r\n"
                                "Content-Type: text/plain; charset=UTF-8\r\n"
                                "Content-Transfer-Encoding: 8bit\r\n"
                                "X-Churnwatch-Idempotency-Key: %s\r\n"
                                "\r\n"
                                "%s\r\n",
                                date, cw_config_get(cfg, "deliver.from"), rcpt, esubj, mid,
                                idem_key, crlf)
                   : NULL;
    free(crlf);
    free(subject);
    free(body);
    free(esubj);
    if (!m->body)
        return prep_fail(m, OUT_RETRY, "out of memory");
    m->body_len = strlen(m->body);
    return 1;
}

static char *dump(json_t *j)
{
    char *s = cw_json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    return s;
}

/* Turns an outbox row into a message. Returns 1 when ready; 0 with
 * m->failed set when it cannot be sent (dead for bad payloads, retry for a
 * missing action, which a configuration change can fix). */
static int prepare(msg *m, const cw_actions *a, const cw_config *cfg, const cw_due_row *r,
                   int64_t now)
{
    memset(m, 0, sizeof *m);
    m->act = cw_actions_find(a, r->action);
    if (!m->act) {
        m->dest = dup0("?");
        return prep_fail(m, OUT_RETRY, "no action named '%s' in the configuration", r->action);
    }
    /* the key travels in HTTP and mail headers */
    if (strlen(r->idem_key) > 200 || cw_utf8_check(r->idem_key, strlen(r->idem_key), 0)) {
        m->dest = dup0("?");
        return prep_fail(m, OUT_DEAD, "idempotency key is not one line of at most 200 bytes");
    }
    json_error_t jerr;
    json_t *p = json_loads(r->payload, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(p)) {
        json_decref(p);
        m->dest = dup0("?");
        return prep_fail(m, OUT_DEAD, "payload is not a JSON object");
    }
    json_object_set_new(p, "action", json_string(r->action));
    json_object_set_new(p, "idem_key", json_string(r->idem_key));
    const cw_action *x = m->act;
    const cw_template *t = x->tmpl ? cw_actions_template(a, x->tmpl) : NULL;
    int ok = 1;
    switch (x->type) {
    case CW_ACTION_TASK: {
        const char *acc = jstr(p, "account_id");
        const char *owner = jstr(p, "owner");
        m->assignee = dup0(owner);
        m->account = dup0(acc ? acc : "?");
        m->dest = cw_strdupf("task:%s", owner ? owner : "unassigned");
        m->title = render(t->subject, p, CW_ESCAPE_HEADER, m, "title");
        m->text = m->title ? render(t->body, p, CW_ESCAPE_NONE, m, "body") : NULL;
        const char *od = jstr(p, "opened_day");
        int64_t day = now - now % 86400;
        if (od)
            cw_time_parse(od, strlen(od), CW_TIME_NAIVE_UTC, &day, NULL);
        m->due_day = day + (int64_t)x->due_days * 86400;
        ok = m->text != NULL;
        break;
    }
    case CW_ACTION_EMAIL: ok = build_email(m, cfg, p, t, r->idem_key, now); break;
    case CW_ACTION_WEBHOOK: {
        json_t *alert = json_deep_copy(p);
        json_object_del(alert, "action");
        json_object_del(alert, "idem_key");
        m->body = dump(json_pack("{s:s, s:s, s:s, s:o}", "event", "alert", "action", r->action,
                                 "idempotency_key", r->idem_key, "alert", alert));
        break;
    }
    case CW_ACTION_SLACK: {
        char *text = render(t->subject ? t->subject : t->body, p, CW_ESCAPE_SLACK, m, "text");
        char *body = text ? render(t->body, p, CW_ESCAPE_SLACK, m, "body") : NULL;
        if (body) {
            char ctx[256];
            snprintf(ctx, sizeof ctx, "churnwatch | %s", r->idem_key);
            m->body =
                dump(json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}, {s:s, s:[{s:s, s:s}]}]}", "text",
                               text, "blocks", "type", "section", "text", "type", "mrkdwn", "text",
                               body, "type", "context", "elements", "type", "mrkdwn", "text", ctx));
        }
        ok = body != NULL;
        free(text);
        free(body);
        break;
    }
    case CW_ACTION_INAPP: {
        char *text = render(t->body, p, CW_ESCAPE_NONE, m, "message");
        char *cta = text && x->cta_url && *x->cta_url
                        ? render(x->cta_url, p, CW_ESCAPE_NONE, m, "cta_url")
                        : NULL;
        if (text && (cta || !x->cta_url || !*x->cta_url)) {
            json_t *uid = json_object_get(p, "user_id");
            m->body =
                dump(json_pack("{s:O?, s:O?, s:s, s:s?}", "user_id", uid, "account_id",
                               json_object_get(p, "account_id"), "message", text, "cta_url", cta));
        }
        ok = !m->failed;
        free(text);
        free(cta);
        break;
    }
    case CW_ACTION_JSONL: {
        json_t *alert = json_deep_copy(p);
        json_object_del(alert, "action");
        json_object_del(alert, "idem_key");
        m->body = dump(json_pack("{s:s, s:s, s:o}", "idempotency_key", r->idem_key, "action",
                                 r->action, "alert", alert));
        m->dest = cw_strdupf("file:%s", x->file);
        break;
    }
    }
    if (ok && (x->type == CW_ACTION_WEBHOOK || x->type == CW_ACTION_SLACK ||
               x->type == CW_ACTION_INAPP)) {
        if (!x->url) {
            free(m->dest);
            m->dest = dup0("?");
            ok = prep_fail(m, OUT_RETRY, "no url: set [action.%s] url", x->name);
        } else {
            m->dest = url_host(x->url);
            if (!m->dest)
                ok = prep_fail(m, OUT_DEAD, "url '%s' cannot be parsed", x->url);
        }
    }
    if (ok && m->body)
        m->body_len = strlen(m->body);
    if (ok && !m->failed && x->type != CW_ACTION_TASK && !m->body)
        ok = prep_fail(m, OUT_RETRY, "out of memory");
    if (!m->dest)
        m->dest = dup0("?");
    json_decref(p);
    return ok && !m->failed;
}

/* ---- transports -------------------------------------------------------- */

typedef struct resp {
    char snippet[200];
    size_t n;
    int64_t retry_after_s;
    int64_t now;
} resp;

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    resp *r = ud;
    size_t n = size * nmemb;
    for (size_t i = 0; i < n && r->n + 1 < sizeof r->snippet; i++) {
        unsigned char c = (unsigned char)p[i];
        r->snippet[r->n++] = (char)(c < 0x20 ? ' ' : c);
    }
    r->snippet[r->n] = 0;
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    resp *r = ud;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[128];
        size_t l = n - 12 < sizeof v - 1 ? n - 12 : sizeof v - 1;
        memcpy(v, p + 12, l);
        v[l] = 0;
        char *s = v;
        while (*s == ' ' || *s == '\t')
            s++;
        char *e = s + strlen(s);
        while (e > s && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
            *--e = 0;
        char *end;
        long long secs = strtoll(s, &end, 10);
        if (end != s && !*end && secs >= 0) {
            r->retry_after_s = secs;
        } else {
            time_t when = curl_getdate(s, NULL);
            if (when > 0 && (int64_t)when > r->now)
                r->retry_after_s = (int64_t)when - r->now;
        }
    }
    return n;
}

static void send_http(CURL *c, const msg *m, const char *idem_key, int64_t now, int timeout_ms,
                      outcome *o)
{
    resp r = {.now = now};
    char ts[32], hdr[160], sig[96];
    snprintf(ts, sizeof ts, "%lld", (long long)now);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    snprintf(hdr, sizeof hdr, "X-Churnwatch-Timestamp: %s", ts);
    h = curl_slist_append(h, hdr);
    snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", idem_key);
    h = curl_slist_append(h, hdr);
    if (m->act->secret) {
        cw_deliver_sign(m->act->secret, ts, m->body, m->body_len, sig, sizeof sig);
        snprintf(hdr, sizeof hdr, "X-Churnwatch-Signature: %s", sig);
        h = curl_slist_append(h, hdr);
    }
    h = curl_slist_append(h, "Expect:");
    char err[CURL_ERROR_SIZE] = "";
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, m->act->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, m->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)m->body_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "churnwatch/" CW_VERSION);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    o->retry_after_s = r.retry_after_s;
    if (rc != CURLE_OK) {
        o->result =
            rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ? OUT_DEAD : OUT_RETRY;
        snprintf(o->why, sizeof o->why, "%s", *err ? err : curl_easy_strerror(rc));
    } else if (code >= 200 && code < 300) {
        o->result = OUT_DELIVERED;
    } else {
        /* 408 and 429 ask to come back later, 5xx is the receiver's fault;
         * any other answer (4xx, or a redirect, which is not followed) will
         * not change by itself: dead at once. */
        o->result = code == 408 || code == 429 || code >= 500 ? OUT_RETRY : OUT_DEAD;
        /* the receiver's bytes go into the outbox and JSON listings: keep
         * them valid UTF-8 (a cut sequence or a binary answer becomes '?') */
        if (cw_utf8_check(r.snippet, r.n, 0))
            for (size_t i = 0; i < r.n; i++)
                if ((unsigned char)r.snippet[i] >= 0x80)
                    r.snippet[i] = '?';
        snprintf(o->why, sizeof o->why, "HTTP %ld%s%s", code, r.n ? ": " : "", r.snippet);
    }
}

typedef struct upload {
    const char *p;
    size_t left;
} upload;

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    upload *u = ud;
    size_t n = size * nmemb < u->left ? size * nmemb : u->left;
    memcpy(buf, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

static void send_smtp(CURL *c, const cw_config *cfg, const msg *m, int timeout_ms, outcome *o)
{
    char from[512], rcpt[512], err[CURL_ERROR_SIZE] = "";
    snprintf(from, sizeof from, "<%s>", cw_config_get(cfg, "deliver.from"));
    snprintf(rcpt, sizeof rcpt, "<%s>", m->rcpt);
    struct curl_slist *to = curl_slist_append(NULL, rcpt);
    upload u = {m->body, m->body_len};
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, cw_config_get(cfg, "deliver.smtp_url"));
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, to);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &u);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    const char *tls = cw_config_get(cfg, "deliver.smtp_starttls");
    curl_easy_setopt(c, CURLOPT_USE_SSL,
                     strcmp(tls, "require") == 0 ? (long)CURLUSESSL_ALL
                     : strcmp(tls, "never") == 0 ? (long)CURLUSESSL_NONE
                                                 : (long)CURLUSESSL_TRY);
    const char *user = cw_config_get(cfg, "deliver.smtp_user");
    const char *pwenv = cw_config_get(cfg, "deliver.smtp_password_env");
    if (user && *user) {
        const char *pw = pwenv && *pwenv ? getenv(pwenv) : NULL;
        curl_easy_setopt(c, CURLOPT_USERNAME, user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, pw ? pw : "");
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(to);
    if (rc == CURLE_OK) {
        o->result = OUT_DELIVERED;
        return;
    }
    /* 5xx replies are permanent in SMTP (RFC 5321 4.2.1); 4xx and network
     * failures are worth another try. */
    o->result = code >= 500 && code < 600 ? OUT_DEAD : OUT_RETRY;
    /* except a refused login (535): the account's fault, not the message's;
     * fixing the credentials must let every waiting e-mail go */
    if (rc == CURLE_LOGIN_DENIED)
        o->result = OUT_RETRY;
    snprintf(o->why, sizeof o->why, "SMTP: %s%s%ld", *err ? err : curl_easy_strerror(rc),
             code ? ", reply " : "", code);
    if (!code)
        o->why[strlen(o->why) - 1] = 0; /* drop the "0" */
}

/* JSON Lines files stay open for the run; "-" is opts->out. */
typedef struct sinks {
    char *path[16];
    FILE *f[16];
    int n;
} sinks;

static void send_jsonl(sinks *s, FILE *out, const msg *m, outcome *o)
{
    FILE *f = NULL;
    int is_stdout = strcmp(m->act->file, "-") == 0;
    if (is_stdout) {
        f = out;
    } else {
        for (int i = 0; i < s->n && !f; i++)
            if (strcmp(s->path[i], m->act->file) == 0)
                f = s->f[i];
        if (!f) {
            f = fopen(m->act->file, "a");
            if (!f) {
                o->result = OUT_RETRY;
                snprintf(o->why, sizeof o->why, "%s: %s", m->act->file, strerror(errno));
                return;
            }
            if (s->n < 16) {
                s->path[s->n] = dup0(m->act->file);
                s->f[s->n++] = f;
            }
        }
    }
    int bad = fprintf(f, "%s\n", m->body) < 0 || fflush(f) != 0;
    /* durable before the row says delivered */
    if (!bad && !is_stdout && fsync(fileno(f)) != 0)
        bad = 1;
    int err = bad ? errno : 0; /* ENOSPC, EIO: kept before fclose can change errno */
    if (!is_stdout) {
        int cached = 0;
        for (int i = 0; i < s->n; i++)
            cached |= s->f[i] == f;
        if (!cached)
            fclose(f);
        else if (bad)
            clearerr(f); /* the retry writes afresh */
    }
    o->result = bad ? OUT_RETRY : OUT_DELIVERED;
    if (bad)
        snprintf(o->why, sizeof o->why, "%s: write failed: %s", m->act->file,
                 err ? strerror(err) : "unknown error");
}

static void sinks_close(sinks *s)
{
    for (int i = 0; i < s->n; i++) {
        fclose(s->f[i]);
        free(s->path[i]);
    }
    s->n = 0;
}

/* ---- the run ------------------------------------------------------------ */

static void log_line(const cw_deliver_opts *o, const cw_due_row *r, const msg *m, const char *what,
                     const char *why)
{
    if (!o->log)
        return;
    /* A transport's error text may quote the URL it failed on. */
    char *dest = cw_mask_secrets(NULL, m->dest), *reason = cw_mask_secrets(NULL, why);
    if (why && *why)
        fprintf(o->log, "#%lld %s -> %s: %s (%s)\n", (long long)r->id, r->action,
                dest ? dest : CW_MASK, what, reason ? reason : CW_MASK);
    else
        fprintf(o->log, "#%lld %s -> %s: %s\n", (long long)r->id, r->action, dest ? dest : CW_MASK,
                what);
    free(dest);
    free(reason);
}

static void dry_print(FILE *out, const cw_due_row *r, const msg *m)
{
    fprintf(out, "#%lld %s [%s] -> %s (key %s, attempt %d)\n", (long long)r->id, r->action,
            m->act ? cw_action_type_name(m->act->type) : "?", m->dest, r->idem_key,
            r->attempts + 1);
    if (m->failed) {
        char *why = cw_mask_secrets(NULL, m->fail.why);
        fprintf(out, "  would fail: %s\n", why ? why : CW_MASK);
        free(why);
        return;
    }
    if (m->act->type == CW_ACTION_TASK) {
        char due[32];
        cw_time_format(m->due_day, CW_TIME_DATE, due, sizeof due);
        fprintf(out, "  task for %s, due %s: %s\n", m->assignee ? m->assignee : "(unassigned)", due,
                m->title);
        return;
    }
    if (m->act->type == CW_ACTION_EMAIL) {
        /* headers then the body, indented */
        const char *p = m->body;
        while (*p) {
            const char *e = strstr(p, "\r\n");
            size_t l = e ? (size_t)(e - p) : strlen(p);
            fprintf(out, "  | %.*s\n", (int)l, p);
            p += l + (e ? 2 : 0);
        }
        return;
    }
    if (m->act->url) {
        /* credentials in the URL and ?token= values are masked (core/mask.h) */
        char *url = cw_mask_secrets(NULL, m->act->url);
        fprintf(out, "  POST %s%s\n", url ? url : CW_MASK, m->act->secret ? " (signed)" : "");
        free(url);
    }
    fprintf(out, "  %s\n", m->body);
}

typedef struct run {
    cw_store *st;
    const cw_config *cfg;
    const cw_actions *a;
    const cw_deliver_opts *o;
    cw_deliver_stats *stats;
    CURL *curl;
    sinks sinks;
    int64_t base_s, max_s, lease_s;
    int jitter, max_attempts, timeout_ms;
    int64_t start; /* messages due by the run's start are this run's work */
} run;

/* The run's clock: --now when given (tests), else the real time, read
 * afresh so a long run records true attempt times, backoffs and windows. */
static int64_t clock_now(const run *R)
{
    return R->o->now ? R->o->now : (int64_t)time(NULL);
}

static int max_attempts_of(const run *R, const cw_action *x)
{
    return x && x->max_attempts ? x->max_attempts : R->max_attempts;
}

static int timeout_of(const run *R, const cw_action *x)
{
    return x && x->timeout_ms ? x->timeout_ms : R->timeout_ms;
}

/* Records a failed attempt: a retry with backoff, or dead after the last. */
static cw_status settle_failure(run *R, const cw_due_row *r, const msg *m, const outcome *oc,
                                int attempts)
{
    int64_t now = clock_now(R);
    char why[700];
    if (oc->result == OUT_DEAD || attempts >= max_attempts_of(R, m->act)) {
        if (oc->result == OUT_DEAD)
            snprintf(why, sizeof why, "%s", oc->why);
        else
            snprintf(why, sizeof why, "gave up after %d attempts: %s", attempts, oc->why);
        R->stats->dead++;
        log_line(R->o, r, m, "dead", why);
        return cw_outbox_settle(R->st, r->id, CW_OUTBOX_DEAD, now, now, why);
    }
    int64_t next = now + cw_deliver_backoff(attempts, R->base_s, R->max_s, R->jitter, r->idem_key);
    if (oc->retry_after_s > 0) {
        int64_t ra = oc->retry_after_s < 7 * 86400 ? oc->retry_after_s : 7 * 86400;
        if (now + ra > next)
            next = now + ra;
    }
    R->stats->retrying++;
    char what[96];
    snprintf(what, sizeof what, "retry in %llds", (long long)(next - now));
    log_line(R->o, r, m, what, oc->why);
    return cw_outbox_settle(R->st, r->id, CW_OUTBOX_PENDING, now, next, oc->why);
}

static cw_status perform(run *R, const cw_due_row *r, msg *m)
{
    const cw_store_ops *ops = cw_store_get_ops(R->st);
    int64_t now = clock_now(R);
    int attempts = r->attempts + 1;
    outcome oc = {0};
    R->stats->attempted++;
    switch (m->act->type) {
    case CW_ACTION_TASK: {
        /* the task and the delivered mark commit together: exactly once */
        cw_status s = ops->begin(R->st);
        if (s == CW_OK)
            s = cw_task_insert(R->st, r->idem_key, m->account, m->assignee, m->title, m->text,
                               m->due_day, now);
        if (s == CW_OK)
            s = cw_outbox_settle(R->st, r->id, CW_OUTBOX_DELIVERED, now, now, NULL);
        if (s == CW_OK)
            s = ops->commit(R->st);
        if (s != CW_OK) {
            ops->rollback(R->st);
            return s;
        }
        R->stats->delivered++;
        log_line(R->o, r, m, "delivered", NULL);
        return CW_OK;
    }
    case CW_ACTION_EMAIL: send_smtp(R->curl, R->cfg, m, timeout_of(R, m->act), &oc); break;
    case CW_ACTION_WEBHOOK:
    case CW_ACTION_SLACK:
    case CW_ACTION_INAPP:
        send_http(R->curl, m, r->idem_key, now, timeout_of(R, m->act), &oc);
        break;
    case CW_ACTION_JSONL: send_jsonl(&R->sinks, R->o->out ? R->o->out : stdout, m, &oc); break;
    }
    if (oc.result == OUT_DELIVERED) {
        R->stats->delivered++;
        log_line(R->o, r, m, "delivered", NULL);
        return cw_outbox_settle(R->st, r->id, CW_OUTBOX_DELIVERED, now, now, NULL);
    }
    /* The reason is logged and kept (outbox list): a URL it quotes is masked. */
    char *masked = cw_mask_secrets(NULL, oc.why);
    if (masked) {
        snprintf(oc.why, sizeof oc.why, "%s", masked);
        free(masked);
    }
    return settle_failure(R, r, m, &oc, attempts);
}

/* Claims one batch in a single transaction. ready[i] = 1 for the rows to
 * send now; the others were settled (prepared badly, rate-limited, or out
 * of attempts after an interrupted run). */
static cw_status claim_batch(run *R, cw_due_row *rows, msg *msgs, int *ready, int n)
{
    const cw_store_ops *ops = cw_store_get_ops(R->st);
    int64_t now = clock_now(R), lease_s = 0;
    cw_status s = ops->begin(R->st);
    for (int i = 0; s == CW_OK && i < n; i++) {
        cw_due_row *r = &rows[i];
        msg *m = &msgs[i];
        ready[i] = 0;
        if (r->attempts >= max_attempts_of(R, m->act)) {
            char why[160];
            snprintf(why, sizeof why, "gave up after %d attempts (the last was interrupted)",
                     r->attempts);
            R->stats->dead++;
            log_line(R->o, r, m, "dead", why);
            s = cw_outbox_settle(R->st, r->id, CW_OUTBOX_DEAD, now, now, why);
            continue;
        }
        if (!m->failed && m->act->rate_per_minute > 0) {
            int allowed;
            s = cw_outbox_rate_take(R->st, m->dest, now / 60, m->act->rate_per_minute, &allowed);
            if (s == CW_OK && !allowed) {
                /* stays pending, no attempt counted, due in the next window */
                R->stats->rate_limited++;
                char why[160];
                snprintf(why, sizeof why, "rate limit %d/min for %s", m->act->rate_per_minute,
                         m->dest);
                log_line(R->o, r, m, "deferred to the next minute", why);
                s = cw_outbox_settle(R->st, r->id, CW_OUTBOX_PENDING, now, (now / 60 + 1) * 60,
                                     why);
                continue;
            }
        }
        /* The lease covers the sends queued before this one in the batch
         * (each may take its whole time limit), so a concurrent run does not
         * take the message while this one still means to send it. */
        int claimed = 0;
        lease_s += (timeout_of(R, m->act) + 999) / 1000;
        if (s == CW_OK)
            s = cw_outbox_claim(R->st, r->id, r->attempts, now, now + lease_s + R->lease_s, m->dest,
                                &claimed);
        if (s != CW_OK || !claimed)
            continue;
        if (m->failed) {
            R->stats->attempted++;
            s = settle_failure(R, r, m, &m->fail, r->attempts + 1);
        } else {
            ready[i] = 1;
        }
    }
    if (s == CW_OK)
        s = ops->commit(R->st);
    else
        ops->rollback(R->st);
    return s;
}

cw_status cw_deliver_run(cw_store *st, const cw_config *cfg, const cw_actions *a,
                         const cw_deliver_opts *o, cw_deliver_stats *stats)
{
    cw_store_enter(st, "deliver");
    cw_deliver_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    run R = {.st = st, .cfg = cfg, .a = a, .o = o, .stats = stats};
    R.base_s = cw_config_get_int(cfg, "deliver.backoff_base_s");
    R.max_s = cw_config_get_int(cfg, "deliver.backoff_max_s");
    R.lease_s = cw_config_get_int(cfg, "deliver.lease_s");
    R.jitter = (int)cw_config_get_int(cfg, "deliver.jitter_pct");
    R.max_attempts = (int)cw_config_get_int(cfg, "deliver.max_attempts");
    R.timeout_ms = (int)cw_config_get_int(cfg, "deliver.timeout_ms");
    int batch = (int)cw_config_get_int(cfg, "deliver.batch");
    R.start = clock_now(&R);
    FILE *out = o->out ? o->out : stdout;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return cw_store_set_error(st, CW_ERR_IO, "deliver: libcurl cannot start");
    R.curl = o->dry_run ? NULL : curl_easy_init();
    if (!o->dry_run && !R.curl) {
        curl_global_cleanup();
        return cw_store_set_error(st, CW_ERR_NOMEM, "deliver: libcurl cannot start");
    }
    cw_status s = CW_OK;
    int64_t done = 0;
    while (s == CW_OK && (!o->limit || done < o->limit)) {
        int want = batch;
        if (o->limit && o->limit - done < want)
            want = (int)(o->limit - done);
        cw_due_row *rows;
        int n;
        if (o->dry_run) {
            /* nothing is claimed, so page past what was already printed */
            s = cw_outbox_due(st, R.start, done, want, &rows, &n);
            if (s != CW_OK)
                break;
            for (int i = 0; i < n; i++) {
                msg m;
                prepare(&m, a, cfg, &rows[i], R.start);
                dry_print(out, &rows[i], &m);
                msg_free(&m);
                stats->attempted++;
            }
            cw_outbox_due_free(rows, n);
            done += n;
            if (n < want)
                break;
            continue;
        }
        s = cw_outbox_due(st, R.start, 0, want, &rows, &n);
        if (s != CW_OK || n == 0) {
            if (s == CW_OK)
                cw_outbox_due_free(rows, n);
            break;
        }
        msg *msgs = calloc((size_t)n, sizeof *msgs);
        int *ready = calloc((size_t)n, sizeof *ready);
        if (!msgs || !ready) {
            free(msgs);
            free(ready);
            cw_outbox_due_free(rows, n);
            s = cw_store_set_error(st, CW_ERR_NOMEM, "deliver: out of memory");
            break;
        }
        for (int i = 0; i < n; i++)
            prepare(&msgs[i], a, cfg, &rows[i], clock_now(&R));
        s = claim_batch(&R, rows, msgs, ready, n);
        for (int i = 0; s == CW_OK && i < n; i++)
            if (ready[i])
                s = perform(&R, &rows[i], &msgs[i]);
        for (int i = 0; i < n; i++)
            msg_free(&msgs[i]);
        free(msgs);
        free(ready);
        cw_outbox_due_free(rows, n);
        done += n;
    }
    sinks_close(&R.sinks);
    if (R.curl)
        curl_easy_cleanup(R.curl);
    curl_global_cleanup();
    return s;
}
