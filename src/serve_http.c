/*
 * serve_http.c — the HTTP transport of `churnwatch serve` on
 * libmicrohttpd: a pool of worker threads, each with its own read-only
 * SQLite connection (WAL: readers never block the writer, and every
 * request reads inside one short transaction); one writer connection
 * behind a mutex for the few writes (alert changes, ingest). It
 * authenticates bearer tokens, bounds request bodies, routes to the
 * handlers of serve_api.c, serves the embedded dashboard with security
 * headers, and counts what it does for /metrics (Prometheus text format).
 */
#define _GNU_SOURCE
#include "api/api.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/mask.h"
#include "core/util.h"
#include "store/store.h"
#include "cli.h"
#include "serve.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- metrics ---------------------------------------------------------- */

#define N_BUCKETS 12
static const double bucket_s[N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,   0.25,   0.5,   1.0,  2.5,   5.0};
static const int status_codes[] = {200, 201, 204, 304, 400, 401, 403, 404, 405,
                                   408, 409, 413, 414, 415, 429, 431, 500, 503};
#define N_STATUS   ((int)(sizeof status_codes / sizeof status_codes[0]))
#define MAX_ROUTES 40 /* handlers + static + healthz + metrics + not found */

typedef struct route_stats {
    atomic_uint_fast64_t by_status[N_STATUS + 1]; /* last: any other status */
    atomic_uint_fast64_t bucket[N_BUCKETS + 1];   /* cumulative at export time */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;
} route_stats;

enum { R_STATIC = 0, R_HEALTHZ, R_METRICS, R_NOTFOUND, R_FIRST_API };

static route_stats g_stats[MAX_ROUTES];
static atomic_int g_inflight;
static atomic_uint_fast64_t g_db_errors;
static atomic_uint_fast64_t g_header_timeouts; /* connections the header deadline closed */

static const char *route_name(int i)
{
    static const char *const fixed[] = {"static", "healthz", "metrics", "unmatched"};
    return i < R_FIRST_API ? fixed[i] : srv_routes[i - R_FIRST_API].name;
}

static void count(int route, int status, double secs)
{
    route_stats *r = &g_stats[route];
    int k = N_STATUS;
    for (int i = 0; i < N_STATUS; i++)
        if (status_codes[i] == status)
            k = i;
    atomic_fetch_add(&r->by_status[k], 1);
    int b = N_BUCKETS;
    for (int i = 0; i < N_BUCKETS; i++)
        if (secs <= bucket_s[i]) {
            b = i;
            break;
        }
    atomic_fetch_add(&r->bucket[b], 1);
    atomic_fetch_add(&r->count, 1);
    atomic_fetch_add(&r->sum_us, (uint_fast64_t)(secs * 1e6));
}

static cw_status outbox_gauge(const char *action, const char *dest, int64_t queued, int64_t dead,
                              void *ud)
{
    cw_buf *b = ud;
    /* action names are [action.NAME] keys, dest a host or address: no
     * quotes or backslashes to escape, but keep the label text well-formed */
    char a[128], d[256];
    size_t n = 0;
    for (const char *p = action ? action : ""; *p && n + 1 < sizeof a; p++)
        a[n++] = *p == '"' || *p == '\\' || *p == '\n' ? '_' : *p;
    a[n] = '\0';
    n = 0;
    for (const char *p = dest ? dest : ""; *p && n + 1 < sizeof d; p++)
        d[n++] = *p == '"' || *p == '\\' || *p == '\n' ? '_' : *p;
    d[n] = '\0';
    cw_buf_addf(b,
                "churnwatch_outbox_messages{action=\"%s\",dest=\"%s\",state=\"queued\"} %lld\n"
                "churnwatch_outbox_messages{action=\"%s\",dest=\"%s\",state=\"dead\"} %lld\n",
                a, d, (long long)queued, a, d, (long long)dead);
    return CW_OK;
}

/* The gauges read from the database (docs/operations.md): data freshness
 * per input kind, the last run, the outbox's backlog per destination and
 * open alerts by severity, read in one transaction. Returns 0 on a database
 * error (the gauges are then left out). */
static int store_metrics(cw_buf *b, cw_store *rd)
{
    cw_store_health h;
    cw_run_info run;
    int have_run = 0;
    if (cw_store_read_begin(rd) != CW_OK)
        return 0;
    int ok = cw_store_health_get(rd, &h) == CW_OK && cw_run_log_last(rd, &run, &have_run) == CW_OK;
    if (ok) {
        cw_buf_addf(b, "# HELP churnwatch_data_latest_timestamp_seconds Newest time in the stored "
                       "data of each input kind (events: the start of the last day with events).\n"
                       "# TYPE churnwatch_data_latest_timestamp_seconds gauge\n");
        for (int k = 1; k < CW_KIND__COUNT; k++)
            if (h.data_latest_ts[k])
                cw_buf_addf(b, "churnwatch_data_latest_timestamp_seconds{kind=\"%s\"} %lld\n",
                            cw_kind_get((cw_kind)k)->name, (long long)h.data_latest_ts[k]);
        cw_buf_addf(b, "# HELP churnwatch_ingest_last_timestamp_seconds When a file of each input "
                       "kind was last ingested.\n"
                       "# TYPE churnwatch_ingest_last_timestamp_seconds gauge\n");
        for (int k = 1; k < CW_KIND__COUNT; k++)
            if (h.ingested_last_ts[k])
                cw_buf_addf(b, "churnwatch_ingest_last_timestamp_seconds{kind=\"%s\"} %lld\n",
                            cw_kind_get((cw_kind)k)->name, (long long)h.ingested_last_ts[k]);
        cw_buf_addf(b,
                    "# HELP churnwatch_alerts_open Open alerts (open, acknowledged or snoozed) by "
                    "severity.\n"
                    "# TYPE churnwatch_alerts_open gauge\n"
                    "churnwatch_alerts_open{severity=\"warning\"} %lld\n"
                    "churnwatch_alerts_open{severity=\"critical\"} %lld\n",
                    (long long)h.alerts_open[CW_SEVERITY_WARNING],
                    (long long)h.alerts_open[CW_SEVERITY_CRITICAL]);
        if (have_run)
            cw_buf_addf(
                b,
                "# HELP churnwatch_run_last_start_timestamp_seconds When the last `churnwatch "
                "run` started.\n"
                "# TYPE churnwatch_run_last_start_timestamp_seconds gauge\n"
                "churnwatch_run_last_start_timestamp_seconds %lld\n"
                "# HELP churnwatch_run_last_end_timestamp_seconds When the last run ended "
                "(0: still running, or killed).\n"
                "# TYPE churnwatch_run_last_end_timestamp_seconds gauge\n"
                "churnwatch_run_last_end_timestamp_seconds %lld\n"
                "# HELP churnwatch_run_last_exit_code The last run's exit code "
                "(churnwatch help exit-codes; -1: still running, or killed).\n"
                "# TYPE churnwatch_run_last_exit_code gauge\n"
                "churnwatch_run_last_exit_code %d\n"
                "# HELP churnwatch_run_last_success 1 when the last run ended with exit "
                "code 0.\n"
                "# TYPE churnwatch_run_last_success gauge\n"
                "churnwatch_run_last_success %d\n",
                (long long)run.started_at, (long long)run.ended_at, run.exit_code,
                run.exit_code == 0);
        cw_buf_addf(b,
                    "# HELP churnwatch_outbox_messages Outbox messages waiting (queued) or given "
                    "up (dead), by action and destination (\"\": not attempted yet).\n"
                    "# TYPE churnwatch_outbox_messages gauge\n");
        ok = cw_outbox_dest_counts(rd, outbox_gauge, b) == CW_OK;
    }
    cw_store_read_end(rd);
    return ok;
}

static char *metrics_text(size_t *len, const cw_quarantine_counts *q, cw_store *rd)
{
    cw_buf b; /* a line per route, kind, severity and outbox destination */
    cw_buf_init(&b, CW_BUF_MAX_DOC);
    cw_buf_addf(&b, "# HELP churnwatch_http_requests_total HTTP requests by route and status.\n"
                    "# TYPE churnwatch_http_requests_total counter\n");
    int nr = R_FIRST_API + srv_nroutes;
    for (int r = 0; r < nr; r++)
        for (int k = 0; k <= N_STATUS; k++) {
            uint_fast64_t v = atomic_load(&g_stats[r].by_status[k]);
            if (!v)
                continue;
            if (k < N_STATUS)
                cw_buf_addf(&b, "churnwatch_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                            route_name(r), status_codes[k], (unsigned long long)v);
            else
                cw_buf_addf(&b,
                            "churnwatch_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                            route_name(r), (unsigned long long)v);
        }
    cw_buf_addf(&b, "# HELP churnwatch_http_request_duration_seconds Request latency by route.\n"
                    "# TYPE churnwatch_http_request_duration_seconds histogram\n");
    for (int r = 0; r < nr; r++) {
        uint_fast64_t cnt = atomic_load(&g_stats[r].count);
        if (!cnt)
            continue;
        uint_fast64_t cum = 0;
        for (int i = 0; i < N_BUCKETS; i++) {
            cum += atomic_load(&g_stats[r].bucket[i]);
            cw_buf_addf(&b,
                        "churnwatch_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"}"
                        " %llu\n",
                        route_name(r), bucket_s[i], (unsigned long long)cum);
        }
        cw_buf_addf(
            &b,
            "churnwatch_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
            "churnwatch_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
            "churnwatch_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
            route_name(r), (unsigned long long)cnt, route_name(r),
            (double)atomic_load(&g_stats[r].sum_us) / 1e6, route_name(r), (unsigned long long)cnt);
    }
    cw_buf_addf(&b,
                "# HELP churnwatch_http_requests_in_flight Requests being served.\n"
                "# TYPE churnwatch_http_requests_in_flight gauge\n"
                "churnwatch_http_requests_in_flight %d\n"
                "# HELP churnwatch_db_errors_total Database errors met while serving.\n"
                "# TYPE churnwatch_db_errors_total counter\n"
                "churnwatch_db_errors_total %llu\n"
                "# HELP churnwatch_http_header_timeouts_total Connections closed for headers not "
                "complete in time.\n"
                "# TYPE churnwatch_http_header_timeouts_total counter\n"
                "churnwatch_http_header_timeouts_total %llu\n",
                atomic_load(&g_inflight), (unsigned long long)atomic_load(&g_db_errors),
                (unsigned long long)atomic_load(&g_header_timeouts));
    if (q)
        cw_buf_addf(&b,
                    "# HELP churnwatch_quarantined_rows Bad input rows held in the quarantine.\n"
                    "# TYPE churnwatch_quarantined_rows gauge\n"
                    "churnwatch_quarantined_rows %lld\n"
                    "# HELP churnwatch_quarantined_rows_last_run Rows the last quarantining run "
                    "kept aside.\n"
                    "# TYPE churnwatch_quarantined_rows_last_run gauge\n"
                    "churnwatch_quarantined_rows_last_run %lld\n",
                    (long long)q->total, (long long)q->last_run);
    if (rd && !store_metrics(&b, rd))
        atomic_fetch_add(&g_db_errors, 1);
    return cw_buf_steal(&b, len);
}

/* ---- server state ------------------------------------------------------ */

typedef struct server {
    const srv_opts *o;
    cw_store *wr;
    pthread_mutex_t wr_lock;
    pthread_mutex_t rd_lock; /* guards the list of readers */
    cw_store **readers;
    cw_api_cache **caches; /* one per reader, same index */
    size_t nreaders, cap_readers;
    char tmpdir[256];
    int64_t session_idle_s, session_max_s;
    int secure_cookies; /* serve.secure_cookies */
} server;

static server g_srv;
static _Thread_local cw_store *tl_reader;
static _Thread_local cw_api_cache *tl_cache;

/* This thread's read connection, opened on first use. */
static cw_store *reader(void)
{
    if (tl_reader)
        return tl_reader;
    cw_store *r = NULL;
    pthread_mutex_lock(&g_srv.wr_lock);
    cw_status s = cw_store_get_ops(g_srv.wr)->open_reader(g_srv.wr, &r);
    pthread_mutex_unlock(&g_srv.wr_lock);
    if (s != CW_OK)
        return NULL;
    cw_api_cache *c = cw_api_cache_new();
    pthread_mutex_lock(&g_srv.rd_lock);
    if (c && g_srv.nreaders == g_srv.cap_readers) {
        size_t cap = g_srv.cap_readers ? g_srv.cap_readers * 2 : 8;
        cw_store **p = realloc(g_srv.readers, cap * sizeof *p);
        if (p)
            g_srv.readers = p;
        cw_api_cache **pc = p ? realloc(g_srv.caches, cap * sizeof *pc) : NULL;
        if (pc) {
            g_srv.caches = pc;
            g_srv.cap_readers = cap;
        }
    }
    if (!c || g_srv.nreaders == g_srv.cap_readers) {
        pthread_mutex_unlock(&g_srv.rd_lock);
        cw_api_cache_free(c);
        cw_store_close(r);
        return NULL;
    }
    g_srv.caches[g_srv.nreaders] = c;
    g_srv.readers[g_srv.nreaders++] = r;
    pthread_mutex_unlock(&g_srv.rd_lock);
    tl_reader = r;
    tl_cache = c;
    return r;
}

/* Per-request state, from the URI log callback (which sees the request
 * target before libmicrohttpd percent-decodes it) to completion. */
typedef struct conn_state {
    double t0;
    int route, status, api;
    int seen;       /* the access handler ran: counted in flight and in the stats */
    size_t uri_len; /* the raw request target's length */
    int bad_target; /* a NUL byte or invalid UTF-8 once percent-decoded */
    const srv_route *rt;
    char arg[256];
    cw_buf body; /* bounded by limit once the headers are in */
    size_t limit;
    int responded, write;
    int cut;        /* 413 written straight to the socket mid-body */
    double cut_at;  /* when */
    size_t drained; /* body bytes discarded since */
    srv_auth auth;  /* who sent it */
    char set_cookie[512];
    int retry_after;
} conn_state;

/* ---- text as JSON ------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid:
 * no overlong forms, surrogates or code points past U+10FFFF, as jansson
 * checks. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        k = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        k = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        k = 4;
    else
        return 0;
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return k;
}

int srv_utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = u[i] ? utf8_seq(u + i, n - i) : 0;
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

json_t *srv_json_text(const char *s, size_t max)
{
    static const char repl[] = "\xEF\xBF\xBD", ell[] = "\xE2\x80\xA6";
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    size_t n = strlen((const char *)u);
    char *buf = malloc(max + sizeof ell);
    if (!buf)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        const char *src = k ? (const char *)u + i : repl;
        size_t len = k ? k : 3;
        if (o + len > max) {
            memcpy(buf + o, ell, 3); /* max + 3 bytes fit: buf has max + 4 */
            o += 3;
            break;
        }
        memcpy(buf + o, src, len);
        o += len;
        i += k ? k : 1;
    }
    json_t *j = json_stringn(buf, o);
    free(buf);
    return j;
}

/* The error object of status with the printf-formatted reason. */
static json_t *error_object(int status, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    json_t *text = srv_json_text(msg ? msg : "out of memory", SRV_MAX_MESSAGE);
    free(msg);
    return text ? json_pack("{s:o, s:i}", "error", text, "status", status) : NULL;
}

int srv_error(json_t **out, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *out = error_object(status, fmt, ap);
    va_end(ap);
    return status;
}

const char *srv_header(const srv_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* Whether c's Origin header, when it has one, is the origin of its Host
 * header: a browser sends Origin with every cross-site write. */
static int origin_ok(struct MHD_Connection *c)
{
    const char *o = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (!o)
        return 1;
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (strncmp(o, "http://", 7) == 0)
        o += 7;
    else if (strncmp(o, "https://", 8) == 0)
        o += 8;
    else
        return 0; /* "null" and other schemes */
    return host && *host && strcasecmp(o, host) == 0;
}

int srv_same_origin(const srv_req *r)
{
    return origin_ok(r->conn);
}

const char *srv_query(const srv_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static void security_headers(struct MHD_Response *resp, int page)
{
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            page ? "default-src 'none'; script-src 'self'; style-src 'self';"
                                   " img-src 'self' data:; connect-src 'self'; font-src 'self';"
                                   " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
                                 : "default-src 'none'; frame-ancestors 'none'");
    MHD_add_response_header(resp, "Cache-Control", page ? "no-cache" : "no-store");
}

static enum MHD_Result send_bytes(struct MHD_Connection *c, conn_state *cs, int status,
                                  const char *ctype, void *buf, size_t len, int owned, int page)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, buf, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (owned)
            free(buf);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    security_headers(resp, page);
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"churnwatch\"");
    if (cs->set_cookie[0])
        MHD_add_response_header(resp, "Set-Cookie", cs->set_cookie);
    if (cs->retry_after > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%d", cs->retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    cs->status = status;
    cs->responded = 1;
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, conn_state *cs, int status, json_t *j)
{
    char *text = j ? cw_json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        /* Text reaching the JSON goes through srv_json_text, so this is a
         * failed allocation (or a handler that built no answer). */
        static char fail[] =
            "{\"error\":\"cannot build the answer (out of memory)\",\"status\":500}";
        return send_bytes(c, cs, 500, "application/json", fail, sizeof fail - 1, 0, 0);
    }
    size_t n = strlen(text);
    text[n] = '\0';
    return send_bytes(c, cs, status, "application/json", text, n, 1, 0);
}

static enum MHD_Result send_error(struct MHD_Connection *c, conn_state *cs, int status,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(struct MHD_Connection *c, conn_state *cs, int status,
                                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_t *j = error_object(status, fmt, ap);
    va_end(ap);
    return send_json(c, cs, status, j);
}

/* ---- routing ------------------------------------------------------------ */

/* Matches path against pattern; a "{id}" segment captures one non-empty
 * segment into arg. */
static int match(const char *pattern, const char *path, char *arg, size_t argsz)
{
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (strncmp(p, "{id}", 4) == 0) {
            size_t n = strcspn(u, "/");
            if (n == 0 || n >= argsz)
                return 0;
            memcpy(arg, u, n);
            arg[n] = '\0';
            p += 4;
            u += n;
            continue;
        }
        if (*p != *u)
            return 0;
        p++;
        u++;
    }
    return *p == '\0' && *u == '\0';
}

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return "application/octet-stream";
    if (strcmp(dot, ".html") == 0)
        return "text/html; charset=utf-8";
    if (strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    if (strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (strcmp(dot, ".svg") == 0)
        return "image/svg+xml";
    if (strcmp(dot, ".json") == 0 || strcmp(dot, ".yaml") == 0)
        return "text/plain; charset=utf-8";
    return "application/octet-stream";
}

const cw_asset *cw_asset_find(const char *name)
{
    for (size_t i = 0; i < cw_nassets; i++)
        if (strcmp(cw_assets[i].name, name) == 0)
            return &cw_assets[i];
    return NULL;
}

/* Static files come only from the table compiled into the binary, looked
 * up by exact name: no path ever reaches the file system. */
static enum MHD_Result serve_static(struct MHD_Connection *c, conn_state *cs, const char *url)
{
    const char *name = NULL;
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        name = "index.html";
    else if (strncmp(url, "/assets/", 8) == 0)
        name = url + 8;
    const cw_asset *a = name ? cw_asset_find(name) : NULL;
    if (!a)
        return send_error(c, cs, 404, "no such page: %s", url);
    return send_bytes(c, cs, 200, content_type(a->name), (void *)a->data, a->len, 0, 1);
}

/* The bearer token of the request: 0 when missing or malformed. */
static int bearer(struct MHD_Connection *c, const char **tok, size_t *len)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    *tok = h;
    *len = strcspn(h, " \t");
    return *len > 0;
}

/* Who sent the request: a bearer token, else a session cookie (whose
 * writes must carry the session's CSRF token and come from the page's own
 * origin). Returns 1 with *ret set when it was answered (401, 403, 503). */
static int authenticate(struct MHD_Connection *c, conn_state *cs, const char *method,
                        enum MHD_Result *ret)
{
    const char *tok, *sid = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "cw_session");
    size_t toklen;
    int has_bearer = bearer(c, &tok, &toklen);
    if (!has_bearer && !sid) {
        *ret = send_error(c, cs, 401,
                          "not signed in: sign in (POST /api/v1/login) or send a bearer token "
                          "(Authorization: Bearer …)");
        return 1;
    }
    cw_store *rd = reader();
    if (!rd) {
        atomic_fetch_add(&g_db_errors, 1);
        *ret = send_error(c, cs, 503, "database unavailable");
        return 1;
    }
    int64_t now = (int64_t)time(NULL);
    srv_auth *a = &cs->auth;
    if (has_bearer) {
        cw_token_role role;
        int64_t id = 0;
        cw_status s =
            cw_token_verify(rd, tok, toklen, now, &role, &id, a->token_name, sizeof a->token_name);
        if (s == CW_ERR_DB) {
            atomic_fetch_add(&g_db_errors, 1);
            *ret = send_error(c, cs, 503, "database error checking the token");
            return 1;
        }
        if (s != CW_OK) {
            *ret = send_error(c, cs, 401, "invalid, expired or revoked token");
            return 1;
        }
        a->kind = 1;
        a->level = role == CW_ROLE_WRITE ? 1 : 0;
        if (a->token_name[0])
            snprintf(a->actor, sizeof a->actor, "token:%s", a->token_name);
        else
            snprintf(a->actor, sizeof a->actor, "token:#%lld", (long long)id);
        if (cs->rt && cs->rt->write == 1 && a->level < 1) {
            *ret = send_error(c, cs, 403, "this endpoint needs a write token");
            return 1;
        }
        if (cs->rt && cs->rt->write == 2) {
            *ret = send_error(c, cs, 403, "managing users needs an admin's session, not a token");
            return 1;
        }
        return 0;
    }
    int64_t last_seen = 0;
    cw_status s = cw_session_check(rd, sid, strlen(sid), now, g_srv.session_idle_s, &a->user,
                                   a->csrf, &last_seen);
    if (s == CW_ERR_DB) {
        atomic_fetch_add(&g_db_errors, 1);
        *ret = send_error(c, cs, 503, "database error checking the session");
        return 1;
    }
    if (s != CW_OK) {
        snprintf(cs->set_cookie, sizeof cs->set_cookie,
                 "cw_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
        *ret = send_error(c, cs, 401, "session expired or unknown: sign in again");
        return 1;
    }
    a->kind = 2;
    a->level = a->user.role == CW_USER_ADMIN ? 2 : a->user.role == CW_USER_CSM ? 1 : 0;
    snprintf(a->actor, sizeof a->actor, "%s", a->user.name);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
        if (!origin_ok(c)) {
            *ret = send_error(c, cs, 403, "cross-origin request refused");
            return 1;
        }
        if (!t || strlen(t) != CW_CSRF_LEN || CRYPTO_memcmp(t, a->csrf, CW_CSRF_LEN) != 0) {
            *ret = send_error(c, cs, 403,
                              "missing or wrong X-CSRF-Token (GET /api/v1/session gives it)");
            return 1;
        }
    }
    if (cs->rt && cs->rt->write > a->level) {
        *ret = send_error(c, cs, 403, "your role (%s) %s", cw_user_role_name(a->user.role),
                          cs->rt->write == 2 ? "cannot manage users: an admin's job"
                                             : "can read, not change anything");
        return 1;
    }
    /* The idle clock: recorded at most once a minute. */
    if (now - last_seen >= 60) {
        pthread_mutex_lock(&g_srv.wr_lock);
        if (cw_session_touch(g_srv.wr, sid, strlen(sid), now) != CW_OK)
            atomic_fetch_add(&g_db_errors, 1);
        pthread_mutex_unlock(&g_srv.wr_lock);
    }
    return 0;
}

/* The peer's address as text. */
static void client_addr(struct MHD_Connection *c, char *buf, size_t n)
{
    snprintf(buf, n, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)n);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)n);
}

static void run_handler(struct MHD_Connection *c, conn_state *cs, const char *method,
                        const char *url)
{
    cw_store *rd = reader();
    if (!rd) {
        atomic_fetch_add(&g_db_errors, 1);
        send_error(c, cs, 503, "database unavailable");
        return;
    }
    srv_req r = {c,
                 method,
                 url,
                 cs->arg[0] ? cs->arg : NULL,
                 cs->body.p,
                 cs->body.len,
                 rd,
                 g_srv.wr,
                 &g_srv.wr_lock,
                 (int64_t)time(NULL),
                 g_srv.tmpdir,
                 0,
                 cs->write,
                 tl_cache,
                 g_srv.o->cfg,
                 &cs->auth,
                 cs->set_cookie,
                 sizeof cs->set_cookie,
                 &cs->retry_after,
                 NULL,
                 0,
                 g_srv.session_idle_s,
                 g_srv.session_max_s};
    char addr[INET6_ADDRSTRLEN + 1];
    client_addr(c, addr, sizeof addr);
    r.client = addr;
    const char *xfp = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-Proto");
    r.secure_cookie = g_srv.secure_cookies || (xfp && strcasecmp(xfp, "https") == 0);
    json_t *out = NULL;
    int status;
    /* One short read transaction per request: a consistent view, and the
     * WAL is never pinned longer than the request. */
    if (cw_store_read_begin(rd) != CW_OK) {
        r.db_error = 1;
        status = srv_error(&out, 503, "database busy: %s", cw_store_errmsg(rd));
    } else {
        status = cs->rt->fn(&r, &out);
        cw_store_read_end(rd);
    }
    if (r.db_error)
        atomic_fetch_add(&g_db_errors, 1);
    send_json(c, cs, status, out);
}

/* ---- connections: header deadline, raw early answers --------------------- */

/* Every open connection, for the header deadline. libmicrohttpd's
 * connection timeout restarts with each byte received, so a client that
 * sends one header line every few seconds holds a connection for ever; the
 * watchdog thread closes a connection whose request headers are not
 * complete header_timeout seconds after it opened or its previous request
 * ended. */
typedef struct conn_track {
    struct conn_track *prev, *next;
    int fd;
    double since;    /* opened, or its previous request ended */
    int waiting;     /* a request's headers are not complete yet */
    int started;     /* the current request's request line was seen */
    int cut;         /* the watchdog closed it */
    double close_at; /* after an early 413: when to close it, whatever comes */
} conn_track;

static pthread_mutex_t g_track_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_track_cond; /* on CLOCK_MONOTONIC: set up by srv_run */
static conn_track *g_track;
static int g_track_stop;

static conn_track *track_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Sets the waiting state of c's connection (under the lock: the watchdog
 * reads it). */
static void track_set(struct MHD_Connection *c, int waiting, int started)
{
    conn_track *t = track_of(c);
    if (!t)
        return;
    pthread_mutex_lock(&g_track_lock);
    if (waiting && !t->waiting)
        t->since = cw_now();
    t->waiting = waiting;
    t->started = started;
    pthread_mutex_unlock(&g_track_lock);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_track *t = calloc(1, sizeof *t);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!t || !ci) {
            free(t);
            return;
        }
        t->fd = ci->connect_fd;
        t->since = cw_now();
        t->waiting = 1;
        pthread_mutex_lock(&g_track_lock);
        t->next = g_track;
        if (g_track)
            g_track->prev = t;
        g_track = t;
        pthread_mutex_unlock(&g_track_lock);
        *socket_context = t;
        return;
    }
    conn_track *t = *socket_context;
    if (!t)
        return;
    /* Unlinked before libmicrohttpd closes the socket: the watchdog never
     * touches a descriptor that may have been reused. */
    pthread_mutex_lock(&g_track_lock);
    if (t->prev)
        t->prev->next = t->next;
    else
        g_track = t->next;
    if (t->next)
        t->next->prev = t->prev;
    pthread_mutex_unlock(&g_track_lock);
    free(t);
    *socket_context = NULL;
}

/* Writes a whole JSON error answer straight to the socket and ends our
 * side of it (Connection: close), for the cases libmicrohttpd 0.9 cannot
 * queue a response in: mid-body and before the headers are complete. The
 * socket is non-blocking; the answer is far smaller than a send buffer. */
static void raw_json_reply(int fd, int status, const char *reason, const char *msg)
{
    char body[256], buf[1024];
    int bl = snprintf(body, sizeof body, "{\"error\":\"%s\",\"status\":%d}", msg, status);
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\nX-Content-Type-Options: nosniff\r\n"
                     "Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n"
                     "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
                     "Cache-Control: no-store\r\n\r\n%s",
                     status, reason, bl, body);
    if (bl > 0 && (size_t)bl < sizeof body && n > 0 && (size_t)n < sizeof buf)
        (void)!send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(fd, SHUT_WR);
}

static void *watchdog(void *arg)
{
    double limit = *(const int *)arg;
    pthread_mutex_lock(&g_track_lock);
    while (!g_track_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g_track_cond, &g_track_lock, &ts);
        double now = cw_now();
        for (conn_track *t = g_track; t && !g_track_stop; t = t->next) {
            if (!t->cut && t->close_at > 0 && now >= t->close_at) {
                /* An early 413 whose client stopped sending without closing. */
                t->cut = 1;
                shutdown(t->fd, SHUT_RDWR);
                continue;
            }
            if (!t->waiting || t->cut || now - t->since < limit)
                continue;
            t->cut = 1;
            atomic_fetch_add(&g_header_timeouts, 1);
            /* A request under way is told why; an idle keep-alive connection
             * is just closed. shutdown() makes libmicrohttpd's next read see
             * the end, and it closes the connection in its own thread. */
            if (t->started)
                raw_json_reply(t->fd, 408, "Request Timeout",
                               "request headers not complete in time");
            shutdown(t->fd, SHUT_RDWR);
        }
    }
    pthread_mutex_unlock(&g_track_lock);
    return NULL;
}

/* ---- requests -------------------------------------------------------------- */

#define SRV_MAX_URI          8192  /* request target, bytes: 414 beyond */
#define SRV_MAX_HEADER_BYTES 16384 /* header fields together: 431 beyond */
#define SRV_MAX_HEADERS      100   /* header fields: 431 beyond */
/* libmicrohttpd's memory per connection: the request line and headers must
 * fit in it, and anything bigger gets its own HTML 414/431. Well above the
 * limits above, so that our JSON answers them first. */
#define SRV_CONN_MEMORY      (128u * 1024)
/* After an early 413, body bytes still read and discarded before the
 * connection is closed: a client that sends its whole body before reading
 * gets the answer instead of a reset (a bounded lingering close). */
#define SRV_DRAIN_BYTES      (256u * 1024)
#define SRV_DRAIN_SECS       1.0

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Whether the request target, percent-decoded as libmicrohttpd decodes it,
 * is valid UTF-8 without NUL: libmicrohttpd hands the handler C strings, so
 * "/accounts/A1%00x" would otherwise arrive as "/accounts/A1". */
static int target_ok(const char *uri, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (uri[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)uri[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)uri[i + 2])) >= 0) {
            d[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[o++] = uri[i];
        }
    }
    int ok = srv_utf8_valid(d, o);
    free(d);
    return ok;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    track_set(c, 1, 1);
    conn_state *cs = calloc(1, sizeof *cs);
    if (!cs)
        return NULL;
    cs->t0 = cw_now();
    cs->route = R_NOTFOUND;
    cs->uri_len = strlen(uri);
    cs->bad_target = cs->uri_len <= SRV_MAX_URI && !target_ok(uri, cs->uri_len);
    return cs;
}

typedef struct header_sum {
    size_t bytes, n;
} header_sum;

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    header_sum *h = cls;
    h->bytes += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    h->n++;
    return MHD_YES;
}

/* The answers due before routing: sizes and the request target. */
static int refuse_early(struct MHD_Connection *c, conn_state *cs, enum MHD_Result *ret)
{
    if (cs->uri_len > SRV_MAX_URI) {
        *ret = send_error(c, cs, 414, "request target longer than %d bytes", SRV_MAX_URI);
        return 1;
    }
    header_sum h = {0, 0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, &h);
    if (h.bytes > SRV_MAX_HEADER_BYTES || h.n > SRV_MAX_HEADERS) {
        *ret = send_error(c, cs, 431, "request headers over %d bytes or %d fields",
                          SRV_MAX_HEADER_BYTES, SRV_MAX_HEADERS);
        return 1;
    }
    if (cs->bad_target) {
        *ret = send_error(c, cs, 400,
                          "request path: a NUL byte or invalid UTF-8 once percent-decoded");
        return 1;
    }
    return 0;
}

/* A body passed its limit: answer 413 at once and stop keeping it. */
static enum MHD_Result body_too_big(struct MHD_Connection *c, conn_state *cs)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return MHD_NO;
    char msg[96];
    snprintf(msg, sizeof msg, "request body larger than %zu bytes", cs->limit);
    raw_json_reply(ci->connect_fd, 413, "Payload Too Large", msg);
    cs->status = 413;
    cs->cut = 1;
    cs->cut_at = cw_now();
    conn_track *t = track_of(c);
    if (t) {
        pthread_mutex_lock(&g_track_lock);
        t->close_at = cs->cut_at + SRV_DRAIN_SECS;
        pthread_mutex_unlock(&g_track_lock);
    }
    cw_buf_free(&cs->body);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    conn_state *cs = *con_cls;
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs)
            return MHD_NO;
        *con_cls = cs;
        cs->t0 = cw_now();
        cs->route = R_NOTFOUND;
    }
    if (!cs->seen) {
        cs->seen = 1;
        track_set(c, 0, 1);
        atomic_fetch_add(&g_inflight, 1);
        enum MHD_Result ret;
        if (refuse_early(c, cs, &ret))
            return ret;
        if (strcmp(url, "/healthz") == 0) {
            cs->route = R_HEALTHZ;
            static char ok[] = "{\"status\":\"ok\"}";
            return send_bytes(c, cs, 200, "application/json", ok, sizeof ok - 1, 0, 0);
        }
        int is_api = strncmp(url, "/api/", 5) == 0, is_metrics = strcmp(url, "/metrics") == 0;
        if (!is_api && !is_metrics) {
            cs->route = R_STATIC;
            if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
                return send_error(c, cs, 405, "method %s not allowed here", method);
            return serve_static(c, cs, url);
        }
        /* Route first (404/405 need no token to be told apart from 401). */
        int path_match = 0;
        if (is_metrics) {
            cs->route = R_METRICS;
            path_match = strcmp(method, "GET") == 0;
            if (!path_match)
                return send_error(c, cs, 405, "method %s not allowed on /metrics", method);
        } else {
            for (int i = 0; i < srv_nroutes; i++) {
                char arg[256] = "";
                if (!match(srv_routes[i].pattern, url, arg, sizeof arg))
                    continue;
                path_match = 1;
                if (strcmp(srv_routes[i].method, method) == 0) {
                    cs->rt = &srv_routes[i];
                    cs->route = R_FIRST_API + i;
                    memcpy(cs->arg, arg, sizeof arg);
                    break;
                }
            }
            if (!cs->rt)
                return path_match
                           ? send_error(c, cs, 405, "method %s not allowed on %s", method, url)
                           : send_error(c, cs, 404, "no such endpoint: %s", url);
        }
        int optional = cs->rt && cs->rt->write == -2 &&
                       !MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization") &&
                       !MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "cw_session");
        if ((!cs->rt || cs->rt->write >= 0 || cs->rt->write == -2) && !optional) {
            enum MHD_Result r;
            if (authenticate(c, cs, method, &r))
                return r;
        }
        cs->write = cs->auth.level >= 1;
        cs->limit = cs->rt && cs->rt->big_body ? g_srv.o->max_ingest_body : g_srv.o->max_body;
        cw_buf_init(&cs->body, cs->limit);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > cs->limit)
            return send_error(c, cs, 413, "request body larger than %zu bytes", cs->limit);
        return MHD_YES;
    }
    if (cs->responded) {
        *upload_size = 0; /* a response is queued: discard the rest */
        return MHD_YES;
    }
    if (cs->cut) {
        /* The 413 is out: discard what follows for a bounded time, then
         * close (MHD_NO) — also at the body's end, as nothing may be
         * queued after the answer written to the socket. */
        cs->drained += *upload_size;
        int more = *upload_size && cs->drained <= SRV_DRAIN_BYTES &&
                   cw_now() - cs->cut_at < SRV_DRAIN_SECS;
        *upload_size = 0;
        return more ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        /* Chunked bodies have no Content-Length to refuse from: the limit
         * is checked as the bytes arrive. */
        cw_status s = cw_buf_add(&cs->body, upload, *upload_size);
        *upload_size = 0;
        if (s == CW_ERR_TOOBIG)
            return body_too_big(c, cs);
        if (s != CW_OK)
            return MHD_NO;
        return MHD_YES;
    }
    if (cs->route == R_METRICS) {
        size_t n;
        /* The quarantine's counts come from the store; without a reader
         * (database unavailable) they are left out. */
        cw_quarantine_counts q;
        cw_store *rd = reader();
        int have_q = rd && cw_quarantine_counts_get(rd, &q) == CW_OK;
        if (rd && !have_q)
            atomic_fetch_add(&g_db_errors, 1);
        char *text = metrics_text(&n, have_q ? &q : NULL, have_q ? rd : NULL);
        if (!text)
            return send_error(c, cs, 500, "out of memory");
        return send_bytes(c, cs, 200, "text/plain; version=0.0.4", text, n, 1, 0);
    }
    run_handler(c, cs, method, url);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    track_set(c, 1, 0); /* the next request's headers are due */
    conn_state *cs = *con_cls;
    if (!cs)
        return;
    /* A request libmicrohttpd answered itself (malformed, or too big for
     * its memory) never reached the handler: nothing to count. */
    if (cs->seen) {
        double dt = cw_now() - cs->t0;
        count(cs->route, cs->status, dt);
        atomic_fetch_sub(&g_inflight, 1);
        if (g_srv.o->access_log && cli_log_is_json()) {
            char st[16], ms[32];
            snprintf(st, sizeof st, "%d", cs->status);
            snprintf(ms, sizeof ms, "%.3f", dt * 1000);
            cli_log(cs->status >= 500 ? "error" : "info", "request", "route", route_name(cs->route),
                    "#status", st, "#duration_ms", ms, NULL);
        } else if (g_srv.o->access_log) {
            fprintf(stderr, "%s %d %.1fms\n", route_name(cs->route), cs->status, dt * 1000);
        }
    }
    cw_buf_free(&cs->body);
    free(cs);
    *con_cls = NULL;
}

/* ---- startup ---------------------------------------------------------- */

/* Parses "host:port" or "[v6]:port" into a socket address. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sl, int *loopback)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
        return -1;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535)
        return -1;
    memset(ss, 0, sizeof *ss);
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
            return -1;
        *sl = sizeof *a;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
        return 0;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        memcpy(host, "127.0.0.1", sizeof "127.0.0.1");
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        return -1;
    *sl = sizeof *a;
    *loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    return 0;
}

/* The options, and the [serve] session settings (defaults without a
 * configuration). */
static void session_settings(const srv_opts *o)
{
    const cw_config *cfg = o->cfg;
    g_srv.o = o;
    g_srv.session_idle_s = (cfg ? cw_config_get_int(cfg, "serve.session_idle_h") : 12) * 3600;
    g_srv.session_max_s = (cfg ? cw_config_get_int(cfg, "serve.session_max_days") : 7) * 86400;
    g_srv.secure_cookies = cfg ? (int)cw_config_get_int(cfg, "serve.secure_cookies") : 0;
}

int srv_run(const srv_opts *o)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int loopback;
    if (parse_listen(o->listen, &ss, &sl, &loopback) != 0) {
        cli_error("--listen %s: expected HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)", o->listen);
        return EXIT_USAGE;
    }
    if (!loopback)
        fprintf(stderr,
                "churnwatch: warning: listening on %s, beyond this machine; put TLS in"
                " front (a reverse proxy)\n",
                o->listen);
    memset(&g_srv, 0, sizeof g_srv);
    session_settings(o);
    pthread_mutex_init(&g_srv.wr_lock, NULL);
    pthread_mutex_init(&g_srv.rd_lock, NULL);
    cw_error err;
    /* The writer waits up to 30 s for another process's write transaction
     * (a CLI ingest) before an API write answers 503. */
    cw_store_opts wo = {.cache_kib =
                            o->cfg ? cw_config_get_int(o->cfg, "store.cache_mib") * 1024 : 0,
                        .busy_timeout_ms = 30000};
    int prc = o->cfg ? cli_store_password(o->cfg, &wo) : 0; /* store.password_env */
    if (prc)
        return prc;
    cw_status s = cw_store_open(o->db, &wo, &g_srv.wr, &err);
    if (s != CW_OK) {
        cli_error("%s", err.msg);
        return cli_exit_code(s);
    }
    const char *td = getenv("TMPDIR");
    snprintf(g_srv.tmpdir, sizeof g_srv.tmpdir, "%s/churnwatch-serve-XXXXXX",
             td && *td ? td : "/tmp");
    if (!mkdtemp(g_srv.tmpdir)) {
        cli_error("cannot create a temporary directory under %s", td && *td ? td : "/tmp");
        cw_store_close(g_srv.wr);
        return EXIT_IO;
    }
    /* Block the stop signals in every thread; this one waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The connection timeout is per activity (any byte restarts it); the
     * header deadline of the watchdog bounds a request's headers as a
     * whole, and the per-address limit keeps one client from taking all
     * 512 connections. */
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->threads > 0 ? o->threads : 4),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, NULL, MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)SRV_CONN_MEMORY, MHD_OPTION_END);
    pthread_t wd;
    int header_timeout = o->header_timeout > 0 ? o->header_timeout : 10, have_wd = 0;
    if (d) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* immune to clock changes */
        pthread_cond_init(&g_track_cond, &ca);
        pthread_condattr_destroy(&ca);
        g_track_stop = 0;
        have_wd = pthread_create(&wd, NULL, watchdog, &header_timeout) == 0;
    }
    int rc = 0;
    if (d && !have_wd) {
        cli_error("cannot start the header-deadline thread");
        MHD_stop_daemon(d);
        rc = EXIT_IO;
    } else if (!d) {
        cli_error("cannot listen on %s (address in use, or not allowed)", o->listen);
        rc = EXIT_IO;
    } else {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        char host[128];
        snprintf(host, sizeof host, "%.*s", (int)(strrchr(o->listen, ':') - o->listen), o->listen);
        char *db = cw_mask_secrets(NULL, o->db); /* a database URL's password */
        printf("churnwatch: serving %s on http://%s:%u/\n", db ? db : CW_MASK, host,
               info ? (unsigned)info->port : 0u);
        if (cli_log_is_json()) { /* the same, for the log */
            char port[16];
            snprintf(port, sizeof port, "%u", info ? (unsigned)info->port : 0u);
            cli_log("info", "serving", "db", db ? db : CW_MASK, "host", host, "#port", port, NULL);
        }
        free(db);
        fflush(stdout);
        int sig;
        sigwait(&set, &sig);
        if (cli_log_is_json()) {
            char sg[16];
            snprintf(sg, sizeof sg, "%d", sig);
            cli_log("info", "stopping", "#signal", sg, NULL);
        } else {
            fprintf(stderr, "churnwatch: stopping (signal %d)\n", sig);
        }
        if (have_wd) {
            pthread_mutex_lock(&g_track_lock);
            g_track_stop = 1;
            pthread_cond_signal(&g_track_cond);
            pthread_mutex_unlock(&g_track_lock);
            pthread_join(wd, NULL);
        }
        MHD_stop_daemon(d);
    }
    for (size_t i = 0; i < g_srv.nreaders; i++) {
        cw_store_close(g_srv.readers[i]);
        cw_api_cache_free(g_srv.caches[i]);
    }
    free(g_srv.readers);
    free(g_srv.caches);
    cw_store_close(g_srv.wr);
    rmdir(g_srv.tmpdir);
    return rc;
}
