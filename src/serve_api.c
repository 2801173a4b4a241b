/*
 * serve_api.c — the request handlers of `churnwatch serve`'s JSON API
 * (docs/api.md, docs/openapi.yaml) and the route table the transport
 * (serve_http.c) dispatches on. Handlers parse and bound their parameters,
 * call the read models of lib/store/sql/store_api.c or the library's report
 * and ingest functions, and map statuses to HTTP codes with a reason.
 */
#define _GNU_SOURCE
#include "api/api.h"
#include "churnwatch.h"
#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Maps a library status to an HTTP status with the store's message. */
static int from_status(srv_req *r, cw_store *st, cw_status s, json_t **out)
{
    const char *msg = cw_store_errmsg(st);
    switch (s) {
    case CW_ERR_NOTFOUND: return srv_error(out, 404, "%s", *msg ? msg : "not found");
    case CW_ERR_USAGE: return srv_error(out, 400, "%s", *msg ? msg : "bad request");
    case CW_ERR_INPUT:
    case CW_ERR_SMALLDATA:
        return srv_error(out, 422, "%s", *msg ? msg : "cannot report on this data");
    case CW_ERR_DB: r->db_error = 1; return srv_error(out, 503, "database error: %s", msg);
    default: return srv_error(out, 500, "%s", cw_strerror(s));
    }
}

/* Parses an optional integer argument in [lo, hi]; returns 0 on success,
 * else an error status in *out. */
static int arg_int(srv_req *r, const char *name, int64_t lo, int64_t hi, int64_t *v, json_t **out)
{
    const char *s = srv_query(r, name);
    if (!s)
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi)
        return srv_error(out, 400, "%s: expected an integer in %lld..%lld", name, (long long)lo,
                         (long long)hi);
    *v = x;
    return 0;
}

static int h_session(srv_req *r, json_t **out)
{
    *out = json_pack("{s:s, s:s}", "role", r->write ? "write" : "read", "version", CW_VERSION);
    return 200;
}

static int h_accounts(srv_req *r, json_t **out)
{
    cw_api_accounts_q q;
    cw_api_accounts_q_init(&q);
    if (r->cfg)
        cw_flag_parse(cw_config_get(r->cfg, "model.flag"), &q.flag, NULL); /* validated at load */
    const char *c = srv_query(r, "colour");
    if (!c)
        c = srv_query(r, "color");
    if (c && *c && (q.colour = cw_api_colour_from_name(c)) < 0)
        return srv_error(out, 400, "colour: expected green, yellow or red");
    q.segment = srv_query(r, "segment");
    q.owner = srv_query(r, "owner");
    q.status = srv_query(r, "status");
    q.search = srv_query(r, "q");
    if (q.segment && !*q.segment)
        q.segment = NULL;
    if (q.owner && !*q.owner)
        q.owner = NULL;
    if (q.status && !*q.status)
        q.status = NULL;
    const char *sort = srv_query(r, "sort");
    if (sort && *sort)
        q.sort = sort;
    const char *order = srv_query(r, "order");
    if (order && *order) {
        if (strcmp(order, "asc") && strcmp(order, "desc"))
            return srv_error(out, 400, "order: expected asc or desc");
        q.desc = strcmp(order, "desc") == 0;
    }
    int64_t v = -1;
    int e;
    if ((e = arg_int(r, "renewal_within_days", 0, 3660, &v, out)))
        return e;
    q.renewal_days = (int)v;
    if ((e = arg_int(r, "limit", 1, 500, &q.limit, out)) ||
        (e = arg_int(r, "offset", 0, INT64_MAX / 2, &q.offset, out)))
        return e;
    v = q.sparkline;
    if ((e = arg_int(r, "trend_points", 0, 104, &v, out)))
        return e;
    q.sparkline = (int)v;
    cw_status s = cw_api_accounts(r->rd, r->cache, &q, out);
    return s == CW_OK ? 200 : from_status(r, r->rd, s, out);
}

static int h_facets(srv_req *r, json_t **out)
{
    cw_status s = cw_api_facets(r->rd, out);
    return s == CW_OK ? 200 : from_status(r, r->rd, s, out);
}

static int h_account(srv_req *r, json_t **out)
{
    cw_flag_rule fr = {.share = 0.10};
    if (r->cfg)
        cw_flag_parse(cw_config_get(r->cfg, "model.flag"), &fr, NULL); /* validated at load */
    cw_status s = cw_api_account_flag(r->rd, r->arg, &fr, out);
    return s == CW_OK ? 200 : from_status(r, r->rd, s, out);
}

static int h_alerts(srv_req *r, json_t **out)
{
    int64_t limit = 100, offset = 0;
    int e;
    if ((e = arg_int(r, "limit", 1, 500, &limit, out)) ||
        (e = arg_int(r, "offset", 0, INT64_MAX / 2, &offset, out)))
        return e;
    cw_status s = cw_api_alerts_list(r->rd, srv_query(r, "status"), srv_query(r, "account"), limit,
                                     offset, r->now, out);
    return s == CW_OK ? 200 : from_status(r, r->rd, s, out);
}

/* POST /alerts/{id}/ack|snooze|resolve. The body is optional JSON: for a
 * snooze {"until": "YYYY-MM-DD[THH:MM:SSZ]"} or {"days": N} (default 7). */
static int alert_op(srv_req *r, cw_api_alert_op op, json_t **out)
{
    char *end;
    errno = 0;
    long long id = strtoll(r->arg, &end, 10);
    if (errno || *end || id <= 0)
        return srv_error(out, 404, "no alert '%s'", r->arg);
    json_t *body = NULL;
    if (r->body_len) {
        json_error_t je;
        body = json_loadb(r->body, r->body_len, 0, &je);
        if (!json_is_object(body)) {
            json_decref(body);
            return srv_error(out, 400, "body: expected a JSON object (%s at line %d)",
                             body ? "not an object" : je.text, je.line);
        }
    }
    /* A snooze runs on the alerts' clock (the last evaluated snapshot day):
     * {"days": N} counts from it, {"until": DATE} is a day on it. */
    int64_t until = 0, days = 7;
    if (op == CW_ALERT_SNOOZE && body) {
        json_t *u = json_object_get(body, "until"), *d = json_object_get(body, "days");
        const char *why = NULL;
        if (json_is_string(u)) {
            if (cw_time_parse(json_string_value(u), json_string_length(u), CW_TIME_NAIVE_UTC,
                              &until, &why) != CW_OK) {
                json_decref(body);
                return srv_error(out, 400, "until: %s", why ? why : "not a date");
            }
            days = 0;
        } else if (json_is_integer(d) && json_integer_value(d) > 0 &&
                   json_integer_value(d) <= 365) {
            days = json_integer_value(d);
        } else if (u || d) {
            json_decref(body);
            return srv_error(out, 400, "expected \"until\": date or \"days\": 1..365");
        }
    }
    json_decref(body);
    pthread_mutex_lock(r->wr_lock);
    cw_status s = cw_api_alert_update(r->wr, id, op, until, days, r->now, out);
    int status = 200;
    if (s == CW_ERR_USAGE)
        status = srv_error(out, 409, "%s", cw_store_errmsg(r->wr));
    else if (s != CW_OK)
        status = from_status(r, r->wr, s, out);
    pthread_mutex_unlock(r->wr_lock);
    return status;
}

static int h_ack(srv_req *r, json_t **out)
{
    return alert_op(r, CW_ALERT_ACK, out);
}
static int h_snooze(srv_req *r, json_t **out)
{
    return alert_op(r, CW_ALERT_SNOOZE, out);
}
static int h_resolve(srv_req *r, json_t **out)
{
    return alert_op(r, CW_ALERT_RESOLVE, out);
}

/* Reports: nothing to report is not an error for a dashboard. */
static int report_status(srv_req *r, cw_status s, json_t **out)
{
    if (s == CW_OK)
        return 200;
    if (s == CW_ERR_NOTFOUND) {
        *out = json_pack("{s:b, s:o}", "empty", 1, "reason",
                         srv_json_text(cw_store_errmsg(r->rd), SRV_MAX_MESSAGE));
        return 200;
    }
    return from_status(r, r->rd, s, out);
}

static int h_revenue(srv_req *r, json_t **out)
{
    const char *by = srv_query(r, "by");
    if (by && strcmp(by, "month") && strcmp(by, "quarter"))
        return srv_error(out, 400, "by: expected month or quarter");
    const char *seg = srv_query(r, "segment");
    cw_status s = cw_api_report_revenue(r->rd, by && strcmp(by, "quarter") == 0,
                                        seg && *seg ? seg : NULL, out);
    return report_status(r, s, out);
}

static int h_cohorts(srv_req *r, json_t **out)
{
    int64_t months = 12;
    int e;
    if ((e = arg_int(r, "months", 1, 60, &months, out)))
        return e;
    const char *seg = srv_query(r, "segment");
    cw_status s = cw_api_report_cohorts(r->rd, seg && *seg ? seg : NULL, (int)months, out);
    return report_status(r, s, out);
}

static int h_reasons(srv_req *r, json_t **out)
{
    const char *seg = srv_query(r, "segment");
    cw_status s = cw_api_report_reasons(r->rd, seg && *seg ? seg : NULL, out);
    return report_status(r, s, out);
}

static int h_backtests(srv_req *r, json_t **out)
{
    cw_status s = cw_api_backtests(r->rd, out);
    return s == CW_OK ? 200 : from_status(r, r->rd, s, out);
}

static int h_models(srv_req *r, json_t **out)
{
    cw_status s = cw_api_models(r->rd, out);
    return s == CW_OK ? 200 : from_status(r, r->rd, s, out);
}

/* ---- ingest ------------------------------------------------------------ */

typedef struct ingest_msgs {
    json_t *errors, *warnings;
    const char *prefix; /* the spool directory + '/', cut from messages */
    size_t plen;
} ingest_msgs;

static void on_ingest_message(int is_warning, const char *msg, void *ud)
{
    ingest_msgs *m = ud;
    json_t *list = is_warning ? m->warnings : m->errors;
    if (json_array_size(list) >= 100)
        return;
    /* Messages name the spooled file: show it as "body". */
    size_t n = strlen(msg);
    char *buf = malloc(n + 1);
    if (!buf)
        return;
    size_t o = 0;
    for (const char *p = msg; *p;) {
        if (strncmp(p, m->prefix, m->plen) == 0) {
            p += m->plen;
            continue;
        }
        buf[o++] = *p++;
    }
    buf[o] = '\0';
    /* A message quoting the input may hold its invalid UTF-8, which
     * json_string() refuses: the message would be lost. */
    json_array_append_new(list, srv_json_text(buf, 2048));
    free(buf);
}

/* POST /api/v1/ingest[?kind=K]: the body is one file as `churnwatch
 * ingest` reads it (JSON Lines or CSV), ingested with exactly its
 * validation in one transaction: any bad row changes nothing (400 with the
 * body:line errors). The body is spooled to a private file because kind
 * detection reads the start twice. */
static int h_ingest(srv_req *r, json_t **out)
{
    /* The [ingest] settings, as `churnwatch ingest` and `run --drop` read them. */
    cw_ingest_opts o;
    if (r->cfg)
        cw_ingest_opts_from_config(&o, r->cfg);
    else
        cw_ingest_opts_init(&o);
    const char *kind = srv_query(r, "kind");
    if (kind && *kind && (o.kind = cw_kind_from_name(kind)) == CW_KIND_NONE)
        return srv_error(out, 400, "kind: unknown kind '%s'", kind);
    /* A mapping, as `churnwatch ingest --source/--preset` applies it: a
     * [source.NAME] of the server's configuration or a built-in preset. */
    const char *source = srv_query(r, "source"), *preset = srv_query(r, "preset");
    if (source && *source && preset && *preset)
        return srv_error(out, 400, "source, preset: give one of them");
    if (source && *source)
        o.source = source;
    if (preset && *preset)
        o.preset = preset;
    const char *data_end = srv_query(r, "data_end");
    if (data_end && *data_end) {
        int64_t t;
        const char *why = NULL;
        if (strlen(data_end) != 10 ||
            cw_time_parse(data_end, 10, CW_TIME_NAIVE_UTC, &t, &why) != CW_OK)
            return srv_error(out, 400, "data_end: '%s' is not a date (YYYY-MM-DD)", data_end);
        o.data_end = t;
    }
    if (r->body_len == 0)
        return srv_error(out, 400, "empty body: send JSON Lines (one object per line)");
    char path[512], prefix[300];
    snprintf(path, sizeof path, "%s/body", r->tmpdir);
    snprintf(prefix, sizeof prefix, "%s/", r->tmpdir);
    ingest_msgs m = {json_array(), json_array(), prefix, strlen(prefix)};
    o.on_message = on_ingest_message;
    o.ud = &m;
    pthread_mutex_lock(r->wr_lock);
    int status;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t done = 0;
    while (fd >= 0 && done < r->body_len) {
        ssize_t w = write(fd, r->body + done, r->body_len - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    if (fd < 0 || done != r->body_len || close(fd) != 0) {
        if (fd >= 0 && done != r->body_len)
            close(fd);
        unlink(path);
        pthread_mutex_unlock(r->wr_lock);
        json_decref(m.errors);
        json_decref(m.warnings);
        return srv_error(out, 500, "cannot spool the body");
    }
    const char *paths[1] = {path};
    cw_ingest_stats st;
    cw_status s = cw_ingest_files(r->wr, paths, 1, &o, &st);
    unlink(path);
    pthread_mutex_unlock(r->wr_lock);
    if (s == CW_OK) {
        json_t *rr = json_object(), *rw = json_object();
        for (int k = 1; k < CW_KIND__COUNT; k++)
            if (st.rows_read[k]) {
                json_object_set_new(rr, cw_kind_get((cw_kind)k)->name,
                                    json_integer(st.rows_read[k]));
                json_object_set_new(rw, cw_kind_get((cw_kind)k)->name,
                                    json_integer(st.rows_written[k]));
            }
        *out = json_pack("{s:b, s:o, s:o, s:I, s:I, s:I, s:I, s:o}", "committed", st.committed,
                         "rows_read", rr, "rows_written", rw, "unchanged",
                         (json_int_t)st.rows_unchanged, "duplicates", (json_int_t)st.duplicates,
                         "filtered", (json_int_t)st.filtered, "provisioned_users",
                         (json_int_t)st.provisioned_users, "warnings", m.warnings);
        json_decref(m.errors);
        return 200;
    }
    if (s == CW_ERR_DB) {
        r->db_error = 1;
        status = 503;
    } else if (s == CW_ERR_NOMEM || s == CW_ERR_IO) {
        status = 500;
    } else {
        status = 400;
    }
    *out = json_pack("{s:s, s:i, s:o, s:o}", "error",
                     status == 400 ? "input failed validation; nothing was written"
                                   : "ingest failed; nothing was written",
                     "status", status, "errors", m.errors, "warnings", m.warnings);
    return status;
}

const srv_route srv_routes[] = {
    {"GET", "/api/v1/session", "session", 0, 0, h_session},
    {"GET", "/api/v1/accounts", "accounts", 0, 0, h_accounts},
    {"GET", "/api/v1/accounts/{id}", "account", 0, 0, h_account},
    {"GET", "/api/v1/facets", "facets", 0, 0, h_facets},
    {"GET", "/api/v1/alerts", "alerts", 0, 0, h_alerts},
    {"POST", "/api/v1/alerts/{id}/ack", "alert_ack", 1, 0, h_ack},
    {"POST", "/api/v1/alerts/{id}/snooze", "alert_snooze", 1, 0, h_snooze},
    {"POST", "/api/v1/alerts/{id}/resolve", "alert_resolve", 1, 0, h_resolve},
    {"GET", "/api/v1/reports/revenue", "report_revenue", 0, 0, h_revenue},
    {"GET", "/api/v1/reports/cohorts", "report_cohorts", 0, 0, h_cohorts},
    {"GET", "/api/v1/reports/reasons", "report_reasons", 0, 0, h_reasons},
    {"GET", "/api/v1/backtests", "backtests", 0, 0, h_backtests},
    {"GET", "/api/v1/models", "models", 0, 0, h_models},
    {"POST", "/api/v1/ingest", "ingest", 1, 1, h_ingest},
};
const int srv_nroutes = (int)(sizeof srv_routes / sizeof srv_routes[0]);
