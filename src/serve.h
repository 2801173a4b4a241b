/*
 * serve.h — what `churnwatch serve`'s HTTP transport (serve_http.c) and its
 * request handlers (serve_api.c) share: the request context, the route
 * table and the embedded dashboard assets (generated at build time by
 * cmake/embed.cmake from web/).
 */
#ifndef CW_SERVE_H
#define CW_SERVE_H

#include "churnwatch.h"

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;

/* Who sent a request (serve_http.c works it out before the handler runs). */
typedef struct srv_auth {
    int kind;  /* 0 none (public routes), 1 bearer token, 2 session cookie */
    int level; /* 0 reads only, 1 also changes alerts and tasks (csm, write
                * token), 2 also manages users (admin) */
    char actor[CW_USER_NAME_MAX + 140]; /* the name kept in histories */
    cw_app_user user;                   /* kind 2 */
    char csrf[CW_CSRF_LEN + 1];         /* kind 2 */
    char token_name[130];               /* kind 1 */
} srv_auth;

/* One request as the handlers see it. */
typedef struct srv_req {
    struct MHD_Connection *conn;
    const char *method, *path;
    const char *arg; /* the {id} segment of the route, NULL when none */
    const char *body;
    size_t body_len;
    cw_store *rd; /* this thread's read connection, in a read transaction */
    cw_store *wr; /* the writer connection; hold *wr_lock while using it */
    pthread_mutex_t *wr_lock;
    int64_t now;                /* Unix seconds */
    const char *tmpdir;         /* where ingest bodies are spooled */
    int db_error;               /* set by a handler that met a database error */
    int write;                  /* the token may write */
    struct cw_api_cache *cache; /* this thread's at-risk list cache (lib/api/api.h) */
    const cw_config *cfg;       /* the configuration ([ingest] settings of h_ingest) */
    const srv_auth *auth;       /* who sent it */
    char *set_cookie;           /* a Set-Cookie value for the answer ("" none) */
    size_t set_cookie_size;
    int *retry_after;   /* seconds for a Retry-After header (0 none) */
    const char *client; /* the peer's address, text */
    int secure_cookie;  /* the session cookie gets Secure */
    int64_t session_idle_s, session_max_s;
} srv_req;

/* A handler returns the HTTP status and sets *out to the JSON body (an
 * error object {"error": reason, "status": code} for 4xx/5xx); the
 * transport frees it. */
typedef int (*srv_handler)(srv_req *r, json_t **out);

typedef struct srv_route {
    const char *method;
    const char *pattern; /* "/api/v1/accounts/{id}": {id} is one path segment */
    const char *name;    /* label in /metrics */
    int write;           /* 1: needs a write token or a csm/admin session;
                          * 2: an admin session; -1: no credentials at all
                          * (sign-in and sign-out); -2: credentials checked
                          * when given, else none (GET /session) */
    int big_body;        /* accepts bodies up to the ingest limit */
    srv_handler fn;
} srv_route;

extern const srv_route srv_routes[];
extern const int srv_nroutes;

/* The error body {"error": reason, "status": status}; returns status. The
 * reason goes through srv_json_text (at most SRV_MAX_MESSAGE bytes). */
int srv_error(json_t **out, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define SRV_MAX_MESSAGE 512
/* s as a JSON string, whatever its bytes: each byte that is not part of
 * valid UTF-8 becomes U+FFFD, and text longer than max bytes is cut at a
 * character boundary and ends with "…" (jansson refuses invalid UTF-8, and
 * a byte-wise cut can split a character). NULL only when out of memory. */
json_t *srv_json_text(const char *s, size_t max);
/* Whether the n bytes at s are valid UTF-8 without any NUL byte. */
int srv_utf8_valid(const char *s, size_t n);
/* Request header name of r, or NULL. */
const char *srv_header(const srv_req *r, const char *name);
/* Whether the request's Origin header, when it has one, names the host of
 * its Host header (the dashboard's own origin). */
int srv_same_origin(const srv_req *r);
/* Query argument name of r, or NULL. */
const char *srv_query(const srv_req *r, const char *name);

/* Embedded assets (generated): name (e.g. "app.js"), bytes, length. */
typedef struct cw_asset {
    const char *name;
    const unsigned char *data;
    size_t len;
} cw_asset;
extern const cw_asset cw_assets[];
extern const size_t cw_nassets;
const cw_asset *cw_asset_find(const char *name);

/* Runs the server until SIGINT/SIGTERM; returns an exit code. */
typedef struct srv_opts {
    const char *db, *listen;
    int threads;
    size_t max_body, max_ingest_body;
    int access_log;
    unsigned max_per_ip;  /* connections at once from one address; 0: no limit */
    int header_timeout;   /* seconds for a request's headers, from the connection's
                           * opening or the end of its previous request */
    const cw_config *cfg; /* the configuration the server was started with */
} srv_opts;
int srv_run(const srv_opts *o);

#endif
