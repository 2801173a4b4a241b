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
#include "../lib/api.h"
#include "../lib/internal.h"
#include "cli.h"
#include "serve.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- metrics ---------------------------------------------------------- */

#define N_BUCKETS 12
static const double bucket_s[N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                           0.1,   0.25,   0.5,   1.0,  2.5,   5.0};
static const int status_codes[] = {200, 201, 204, 304, 400, 401, 403,
                                   404, 405, 409, 413, 415, 500, 503};
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

/* Appends printf output to a growing buffer (bounded by memory only: the
 * metrics text has a fixed number of lines). */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0)
            return;
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 8192) + (size_t)k;
        char *p = realloc(b->p, cap);
        if (!p)
            return;
        b->p = p;
        b->cap = cap;
    }
}

static char *metrics_text(size_t *len, const cw_quarantine_counts *q)
{
    sbuf b = {0};
    sb_printf(&b, "# HELP churnwatch_http_requests_total HTTP requests by route and status.\n"
                  "# TYPE churnwatch_http_requests_total counter\n");
    int nr = R_FIRST_API + srv_nroutes;
    for (int r = 0; r < nr; r++)
        for (int k = 0; k <= N_STATUS; k++) {
            uint_fast64_t v = atomic_load(&g_stats[r].by_status[k]);
            if (!v)
                continue;
            if (k < N_STATUS)
                sb_printf(&b, "churnwatch_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                          route_name(r), status_codes[k], (unsigned long long)v);
            else
                sb_printf(&b,
                          "churnwatch_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
                          route_name(r), (unsigned long long)v);
        }
    sb_printf(&b, "# HELP churnwatch_http_request_duration_seconds Request latency by route.\n"
                  "# TYPE churnwatch_http_request_duration_seconds histogram\n");
    for (int r = 0; r < nr; r++) {
        uint_fast64_t cnt = atomic_load(&g_stats[r].count);
        if (!cnt)
            continue;
        uint_fast64_t cum = 0;
        for (int i = 0; i < N_BUCKETS; i++) {
            cum += atomic_load(&g_stats[r].bucket[i]);
            sb_printf(&b,
                      "churnwatch_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"}"
                      " %llu\n",
                      route_name(r), bucket_s[i], (unsigned long long)cum);
        }
        sb_printf(&b,
                  "churnwatch_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                  "churnwatch_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                  "churnwatch_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                  route_name(r), (unsigned long long)cnt, route_name(r),
                  (double)atomic_load(&g_stats[r].sum_us) / 1e6, route_name(r),
                  (unsigned long long)cnt);
    }
    sb_printf(&b,
              "# HELP churnwatch_http_requests_in_flight Requests being served.\n"
              "# TYPE churnwatch_http_requests_in_flight gauge\n"
              "churnwatch_http_requests_in_flight %d\n"
              "# HELP churnwatch_db_errors_total Database errors met while serving.\n"
              "# TYPE churnwatch_db_errors_total counter\n"
              "churnwatch_db_errors_total %llu\n",
              atomic_load(&g_inflight), (unsigned long long)atomic_load(&g_db_errors));
    if (q)
        sb_printf(&b,
                  "# HELP churnwatch_quarantined_rows Bad input rows held in the quarantine.\n"
                  "# TYPE churnwatch_quarantined_rows gauge\n"
                  "churnwatch_quarantined_rows %lld\n"
                  "# HELP churnwatch_quarantined_rows_last_run Rows the last quarantining run "
                  "kept aside.\n"
                  "# TYPE churnwatch_quarantined_rows_last_run gauge\n"
                  "churnwatch_quarantined_rows_last_run %lld\n",
                  (long long)q->total, (long long)q->last_run);
    *len = b.n;
    return b.p;
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

/* Per-connection request state, from the first callback to completion. */
typedef struct conn_state {
    double t0;
    int route, status, api;
    const srv_route *rt;
    char arg[256];
    char *body;
    size_t len, cap, limit;
    int too_big, responded, write;
} conn_state;

int srv_error(json_t **out, int status, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    *out = json_pack("{s:s, s:i}", "error", buf, "status", status);
    return status;
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
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    cs->status = status;
    cs->responded = 1;
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, conn_state *cs, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        static char oom[] = "{\"error\":\"out of memory\",\"status\":500}";
        return send_bytes(c, cs, 500, "application/json", oom, sizeof oom - 1, 0, 0);
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
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return send_json(c, cs, status, json_pack("{s:s, s:i}", "error", buf, "status", status));
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
        return send_error(c, cs, 404, "no such page: %.200s", url);
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
                 cs->body,
                 cs->len,
                 rd,
                 g_srv.wr,
                 &g_srv.wr_lock,
                 (int64_t)time(NULL),
                 g_srv.tmpdir,
                 0,
                 cs->write,
                 tl_cache,
                 g_srv.o->cfg};
    sqlite3 *db = cw_store_sqlite(rd);
    json_t *out = NULL;
    int status;
    /* One short read transaction per request: a consistent view, and the
     * WAL is never pinned longer than the request. */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        r.db_error = 1;
        status = srv_error(&out, 503, "database busy: %s", sqlite3_errmsg(db));
    } else {
        status = cs->rt->fn(&r, &out);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    if (r.db_error)
        atomic_fetch_add(&g_db_errors, 1);
    send_json(c, cs, status, out);
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
        atomic_fetch_add(&g_inflight, 1);
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
                           ? send_error(c, cs, 405, "method %s not allowed on %.200s", method, url)
                           : send_error(c, cs, 404, "no such endpoint: %.200s", url);
        }
        const char *tok;
        size_t toklen;
        if (!bearer(c, &tok, &toklen))
            return send_error(c, cs, 401, "missing bearer token (Authorization: Bearer …)");
        cw_store *rd = reader();
        if (!rd) {
            atomic_fetch_add(&g_db_errors, 1);
            return send_error(c, cs, 503, "database unavailable");
        }
        cw_token_role role;
        cw_status s = cw_token_verify(rd, tok, toklen, &role, NULL);
        if (s == CW_ERR_DB) {
            atomic_fetch_add(&g_db_errors, 1);
            return send_error(c, cs, 503, "database error checking the token");
        }
        if (s != CW_OK)
            return send_error(c, cs, 401, "invalid or revoked token");
        if (cs->rt && cs->rt->write && role != CW_ROLE_WRITE)
            return send_error(c, cs, 403, "this endpoint needs a write token");
        cs->write = role == CW_ROLE_WRITE;
        cs->limit = cs->rt && cs->rt->big_body ? g_srv.o->max_ingest_body : g_srv.o->max_body;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > cs->limit)
            return send_error(c, cs, 413, "request body larger than %zu bytes", cs->limit);
        return MHD_YES;
    }
    if (cs->responded) {
        *upload_size = 0; /* a response is queued: discard the rest */
        return MHD_YES;
    }
    if (*upload_size) {
        if (cs->too_big || cs->len + *upload_size > cs->limit) {
            cs->too_big = 1;
        } else {
            if (cs->len + *upload_size + 1 > cs->cap) {
                size_t cap = cs->cap ? cs->cap : 16384;
                while (cap < cs->len + *upload_size + 1)
                    cap *= 2;
                char *p = realloc(cs->body, cap);
                if (!p)
                    return MHD_NO;
                cs->body = p;
                cs->cap = cap;
            }
            memcpy(cs->body + cs->len, upload, *upload_size);
            cs->len += *upload_size;
            cs->body[cs->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (cs->too_big)
        return send_error(c, cs, 413, "request body larger than %zu bytes", cs->limit);
    if (cs->route == R_METRICS) {
        size_t n;
        /* The quarantine's counts come from the store; without a reader
         * (database unavailable) they are left out. */
        cw_quarantine_counts q;
        cw_store *rd = reader();
        int have_q = rd && cw_quarantine_counts_get(rd, &q) == CW_OK;
        if (rd && !have_q)
            atomic_fetch_add(&g_db_errors, 1);
        char *text = metrics_text(&n, have_q ? &q : NULL);
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
    (void)c;
    (void)toe;
    conn_state *cs = *con_cls;
    if (!cs)
        return;
    double dt = cw_now() - cs->t0;
    count(cs->route, cs->status, dt);
    atomic_fetch_sub(&g_inflight, 1);
    if (g_srv.o->access_log)
        fprintf(stderr, "%s %d %.1fms\n", route_name(cs->route), cs->status, dt * 1000);
    free(cs->body);
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
    g_srv.o = o;
    pthread_mutex_init(&g_srv.wr_lock, NULL);
    pthread_mutex_init(&g_srv.rd_lock, NULL);
    char *err = NULL;
    /* The writer waits up to 30 s for another process's write transaction
     * (a CLI ingest) before an API write answers 503. */
    cw_store_opts wo = {0, 0, 30000};
    cw_status s = cw_store_open(o->db, &wo, &g_srv.wr, &err);
    if (s != CW_OK) {
        cli_error("%s", err ? err : cw_strerror(s));
        free(err);
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
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->threads > 0 ? o->threads : 4),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_END);
    int rc = 0;
    if (!d) {
        cli_error("cannot listen on %s (address in use, or not allowed)", o->listen);
        rc = EXIT_IO;
    } else {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        char host[128];
        snprintf(host, sizeof host, "%.*s", (int)(strrchr(o->listen, ':') - o->listen), o->listen);
        printf("churnwatch: serving %s on http://%s:%u/\n", o->db, host,
               info ? (unsigned)info->port : 0u);
        fflush(stdout);
        int sig;
        sigwait(&set, &sig);
        fprintf(stderr, "churnwatch: stopping (signal %d)\n", sig);
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
