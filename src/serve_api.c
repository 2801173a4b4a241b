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

#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <strings.h>
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

static json_t *user_json(const cw_app_user *u)
{
    return json_pack("{s:s, s:s, s:s}", "name", u->name, "email", u->email, "role",
                     cw_user_role_name(u->role) ? cw_user_role_name(u->role) : "?");
}

/* GET /session: who is asking. A session's answer carries its CSRF token,
 * which every change it asks for must send back as X-CSRF-Token. */
static int h_session(srv_req *r, json_t **out)
{
    const srv_auth *a = r->auth;
    if (a->kind == 0) { /* no credentials at all: not an error, the sign-in page */
        *out = json_pack("{s:s, s:b, s:s}", "kind", "none", "signed_in", 0, "version", CW_VERSION);
        return 200;
    }
    if (a->kind == 2) {
        *out = json_pack("{s:s, s:b, s:o, s:s, s:b, s:b, s:s, s:s, s:I}", "kind", "session",
                         "signed_in", 1, "user", user_json(&a->user), "role",
                         cw_user_role_name(a->user.role), "can_write", a->level >= 1, "can_admin",
                         a->level >= 2, "csrf_token", a->csrf, "version", CW_VERSION,
                         "idle_timeout_s", (json_int_t)r->session_idle_s);
        return 200;
    }
    *out = json_pack("{s:s, s:b, s:s, s:s, s:b, s:b, s:s}", "kind", "token", "signed_in", 1, "role",
                     r->write ? "write" : "read", "token", a->token_name, "can_write", r->write,
                     "can_admin", 0, "version", CW_VERSION);
    return 200;
}

/* ---- sign-in ------------------------------------------------------------
 * Failed sign-ins are counted per client address and per name asked for,
 * in memory, over a window of LOGIN_WINDOW_S: past the limit, sign-ins of
 * that address or name are refused (429 with Retry-After) until the window
 * that began with its first failure ends, right password or not. A success
 * clears the name's count. Unknown names cost the same scrypt as known ones
 * and get the same answer. */
#define LOGIN_WINDOW_S     900
#define LOGIN_MAX_PER_ADDR 20
#define LOGIN_MAX_PER_NAME 5
#define LOGIN_SLOTS        1024

typedef struct login_slot {
    char key[CW_USER_EMAIL_MAX + 8];
    int64_t since;
    int fails;
} login_slot;

static login_slot g_login[LOGIN_SLOTS];
static pthread_mutex_t g_login_lock = PTHREAD_MUTEX_INITIALIZER;

/* The slot of key (a new or the oldest one when absent); lock held. */
static login_slot *login_slot_of(const char *key, int64_t now, int create)
{
    login_slot *oldest = &g_login[0];
    for (int i = 0; i < LOGIN_SLOTS; i++) {
        login_slot *l = &g_login[i];
        if (l->fails && now - l->since >= LOGIN_WINDOW_S)
            l->fails = 0; /* window over */
        if (l->fails && strcmp(l->key, key) == 0)
            return l;
        if (!l->fails || l->since < oldest->since || !oldest->fails)
            oldest = !oldest->fails ? oldest : l;
    }
    if (!create)
        return NULL;
    snprintf(oldest->key, sizeof oldest->key, "%s", key);
    oldest->since = now;
    oldest->fails = 0;
    return oldest;
}

/* Seconds until key may try again (0: now). */
static int login_blocked(const char *key, int max, int64_t now)
{
    pthread_mutex_lock(&g_login_lock);
    login_slot *l = login_slot_of(key, now, 0);
    int wait = l && l->fails >= max ? (int)(l->since + LOGIN_WINDOW_S - now) : 0;
    pthread_mutex_unlock(&g_login_lock);
    return wait > 0 ? wait : 0;
}

static void login_count(const char *key, int64_t now, int clear)
{
    pthread_mutex_lock(&g_login_lock);
    login_slot *l = login_slot_of(key, now, !clear);
    if (l && clear)
        l->fails = 0;
    else if (l)
        l->fails++;
    pthread_mutex_unlock(&g_login_lock);
}

/* A hash of no one's password, for unknown names to cost the same scrypt. */
static char g_dummy_hash[CW_PASSWORD_HASH_MAX];
static pthread_once_t g_dummy_once = PTHREAD_ONCE_INIT;
static void make_dummy(void)
{
    if (cw_password_hash("no such user, no such password", g_dummy_hash) != CW_OK)
        g_dummy_hash[0] = '\0';
}

static int json_body(srv_req *r, json_t **body, json_t **out)
{
    const char *ct = srv_header(r, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0)
        return srv_error(out, 415, "Content-Type: expected application/json");
    json_error_t je;
    *body = r->body_len ? json_loadb(r->body, r->body_len, 0, &je) : NULL;
    if (!json_is_object(*body)) {
        json_decref(*body);
        *body = NULL;
        return srv_error(out, 400, "body: expected a JSON object");
    }
    return 0;
}

static const char *str_field(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void set_session_cookie(srv_req *r, const char *sid, int64_t max_age)
{
    snprintf(r->set_cookie, r->set_cookie_size,
             "cw_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s", sid,
             (long long)max_age, r->secure_cookie ? "; Secure" : "");
}

/* POST /login {"name" or "email", "password"}: a session cookie and the
 * session's CSRF token. */
static int h_login(srv_req *r, json_t **out)
{
    if (!srv_same_origin(r))
        return srv_error(out, 403, "cross-origin request refused");
    json_t *body;
    int e = json_body(r, &body, out);
    if (e)
        return e;
    const char *ident = str_field(body, "name");
    if (!ident)
        ident = str_field(body, "email");
    const char *pw = str_field(body, "password");
    if (!ident || !*ident || !pw) {
        json_decref(body);
        return srv_error(out, 400, "expected {\"name\" (or \"email\"), \"password\"}");
    }
    char akey[80], ukey[CW_USER_EMAIL_MAX + 8];
    snprintf(akey, sizeof akey, "a:%s", r->client ? r->client : "?");
    size_t n = 0;
    ukey[n++] = 'u';
    ukey[n++] = ':';
    for (const char *p = ident; *p && n + 1 < sizeof ukey; p++)
        ukey[n++] = (char)tolower((unsigned char)*p);
    ukey[n] = '\0';
    int wait = login_blocked(akey, LOGIN_MAX_PER_ADDR, r->now);
    int wu = login_blocked(ukey, LOGIN_MAX_PER_NAME, r->now);
    if (wu > wait)
        wait = wu;
    if (wait) {
        json_decref(body);
        *r->retry_after = wait;
        return srv_error(out, 429, "too many failed sign-ins: try again in %d s", wait);
    }
    cw_app_user u;
    char stored[CW_PASSWORD_HASH_MAX];
    cw_status s = cw_user_find(r->rd, ident, &u, stored);
    if (s == CW_ERR_DB) {
        json_decref(body);
        return from_status(r, r->rd, s, out);
    }
    pthread_once(&g_dummy_once, make_dummy);
    int ok = cw_password_verify(pw, s == CW_OK ? stored : g_dummy_hash) && s == CW_OK;
    json_decref(body);
    if (!ok) {
        login_count(akey, r->now, 0);
        login_count(ukey, r->now, 0);
        return srv_error(out, 401, "wrong name or password");
    }
    login_count(ukey, r->now, 1);
    char sid[CW_SESSION_LEN + 1], csrf[CW_CSRF_LEN + 1];
    int64_t expires = r->now + r->session_max_s;
    pthread_mutex_lock(r->wr_lock);
    s = cw_session_create(r->wr, u.id, r->now, expires, r->session_idle_s, sid, csrf);
    int status = 200;
    if (s != CW_OK)
        status = from_status(r, r->wr, s, out);
    pthread_mutex_unlock(r->wr_lock);
    if (status != 200)
        return status;
    set_session_cookie(r, sid, r->session_max_s);
    char until[32];
    cw_time_format(expires, CW_TIME_TIMESTAMP, until, sizeof until);
    *out = json_pack("{s:s, s:o, s:s, s:b, s:b, s:s, s:s, s:I}", "kind", "session", "user",
                     user_json(&u), "role", cw_user_role_name(u.role), "can_write",
                     u.role >= CW_USER_CSM, "can_admin", u.role == CW_USER_ADMIN, "csrf_token",
                     csrf, "expires_at", until, "idle_timeout_s", (json_int_t)r->session_idle_s);
    return 200;
}

/* POST /logout: ends the cookie's session, if any, and clears the cookie. */
static int h_logout(srv_req *r, json_t **out)
{
    if (!srv_same_origin(r))
        return srv_error(out, 403, "cross-origin request refused");
    const char *sid = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "cw_session");
    if (sid && *sid) {
        pthread_mutex_lock(r->wr_lock);
        cw_status s = cw_session_end(r->wr, sid, strlen(sid));
        int status = s == CW_OK ? 200 : from_status(r, r->wr, s, out);
        pthread_mutex_unlock(r->wr_lock);
        if (status != 200)
            return status;
    }
    snprintf(r->set_cookie, r->set_cookie_size,
             "cw_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
             r->secure_cookie ? "; Secure" : "");
    *out = json_pack("{s:b}", "signed_out", 1);
    return 200;
}

/* ---- tasks --------------------------------------------------------------- */

static const char *const task_status_names[] = {"open", "done", "dismissed"};

typedef struct task_page {
    json_t *items;
    int64_t skip, limit, total;
} task_page;

static json_t *stamp_json(int64_t t, int date_only)
{
    char b[32];
    if (!t)
        return json_null();
    cw_time_format(t, date_only ? CW_TIME_DATE : CW_TIME_TIMESTAMP, b, sizeof b);
    return json_string(b);
}

static cw_status task_item(const cw_task *t, void *ud)
{
    task_page *p = ud;
    if (p->total++ < p->skip || json_array_size(p->items) >= (size_t)p->limit)
        return CW_OK;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(t->id));
    json_object_set_new(o, "account", srv_json_text(t->account, SRV_MAX_MESSAGE));
    json_object_set_new(o, "assignee", t->assignee ? srv_json_text(t->assignee, 256) : json_null());
    json_object_set_new(o, "status",
                        json_string((unsigned)t->status < 3 ? task_status_names[t->status] : "?"));
    json_object_set_new(o, "due_day", stamp_json(t->due_day, 1));
    json_object_set_new(o, "title", srv_json_text(t->title, 2048));
    json_object_set_new(o, "body", srv_json_text(t->body, 16384));
    json_object_set_new(o, "created_at", stamp_json(t->created_at, 0));
    json_object_set_new(o, "closed_at", stamp_json(t->closed_at, 0));
    json_object_set_new(o, "closed_by",
                        t->closed_by ? srv_json_text(t->closed_by, 256) : json_null());
    return json_array_append_new(p->items, o) == 0 ? CW_OK : CW_ERR_NOMEM;
}

/* GET /tasks?status=open|done|dismissed|all&assignee=E: by due day. */
static int h_tasks(srv_req *r, json_t **out)
{
    const char *st = srv_query(r, "status"), *assignee = srv_query(r, "assignee");
    int status = 0;
    if (st && *st) {
        status = strcmp(st, "all") == 0 ? -1 : -2;
        for (int i = 0; i < 3; i++)
            if (strcmp(st, task_status_names[i]) == 0)
                status = i;
        if (status == -2)
            return srv_error(out, 400, "status: expected open, done, dismissed or all");
    }
    task_page p = {json_array(), 0, 100, 0};
    int e;
    if ((e = arg_int(r, "limit", 1, 500, &p.limit, out)) ||
        (e = arg_int(r, "offset", 0, INT64_MAX / 2, &p.skip, out))) {
        json_decref(p.items);
        return e;
    }
    cw_status s =
        cw_tasks_scan(r->rd, status, assignee && *assignee ? assignee : NULL, task_item, &p);
    if (s != CW_OK) {
        json_decref(p.items);
        return from_status(r, r->rd, s, out);
    }
    *out = json_pack("{s:I, s:o}", "total", (json_int_t)p.total, "items", p.items);
    return 200;
}

/* POST /tasks/{id}/done|dismiss: closes an open task under the caller's name. */
static int task_close(srv_req *r, cw_task_status to, json_t **out)
{
    char *end;
    errno = 0;
    long long id = strtoll(r->arg, &end, 10);
    if (errno || *end || id <= 0)
        return srv_error(out, 404, "no task '%s'", r->arg);
    pthread_mutex_lock(r->wr_lock);
    cw_status s = cw_task_close(r->wr, id, to, r->now, r->auth->actor);
    int status = 200;
    if (s == CW_ERR_USAGE)
        status = srv_error(out, 409, "%s", cw_store_errmsg(r->wr));
    else if (s != CW_OK)
        status = from_status(r, r->wr, s, out);
    pthread_mutex_unlock(r->wr_lock);
    if (status == 200)
        *out = json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "status", task_status_names[to],
                         "closed_by", r->auth->actor);
    return status;
}

static int h_task_done(srv_req *r, json_t **out)
{
    return task_close(r, CW_TASK_DONE, out);
}
static int h_task_dismiss(srv_req *r, json_t **out)
{
    return task_close(r, CW_TASK_DISMISSED, out);
}

/* ---- users (admins) ----------------------------------------------------- */

static cw_status user_item(const cw_app_user *u, void *ud)
{
    json_t *o = user_json(u);
    char c[32], d[32];
    cw_time_format(u->created_at, CW_TIME_TIMESTAMP, c, sizeof c);
    json_object_set_new(o, "id", json_integer(u->id));
    json_object_set_new(o, "created_at", json_string(c));
    if (u->disabled_at)
        cw_time_format(u->disabled_at, CW_TIME_TIMESTAMP, d, sizeof d);
    json_object_set_new(o, "disabled_at", u->disabled_at ? json_string(d) : json_null());
    return json_array_append_new(ud, o) == 0 ? CW_OK : CW_ERR_NOMEM;
}

static int h_users(srv_req *r, json_t **out)
{
    json_t *items = json_array();
    cw_status s = cw_user_list(r->rd, user_item, items);
    if (s != CW_OK) {
        json_decref(items);
        return from_status(r, r->rd, s, out);
    }
    *out = json_pack("{s:o}", "items", items);
    return 200;
}

/* POST /users {"name", "email", "role", "password"}: 201 with the user. */
static int h_user_add(srv_req *r, json_t **out)
{
    json_t *body;
    int e = json_body(r, &body, out);
    if (e)
        return e;
    const char *name = str_field(body, "name"), *email = str_field(body, "email"),
               *role = str_field(body, "role"), *pw = str_field(body, "password");
    int ro = cw_user_role_from_name(role);
    if (!name || !email || !pw || ro < 0) {
        json_decref(body);
        return srv_error(out, 400,
                         "expected {\"name\", \"email\", \"role\": viewer|csm|admin, "
                         "\"password\"}");
    }
    pthread_mutex_lock(r->wr_lock);
    int64_t id = 0;
    cw_status s = cw_user_add(r->wr, name, email, ro, pw, r->now, &id);
    int status = 201;
    if (s == CW_ERR_USAGE)
        status = srv_error(out, 422, "%s", cw_store_errmsg(r->wr));
    else if (s != CW_OK)
        status = from_status(r, r->wr, s, out);
    pthread_mutex_unlock(r->wr_lock);
    if (status == 201)
        *out = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "name", name, "email", email,
                         "role", role);
    json_decref(body);
    return status;
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
    cw_status s = cw_api_alert_update(r->wr, id, op, until, days, r->now, r->auth->actor, out);
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
    {"GET", "/api/v1/session", "session", -2, 0, h_session},
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
    {"POST", "/api/v1/login", "login", -1, 0, h_login},
    {"POST", "/api/v1/logout", "logout", -1, 0, h_logout},
    {"GET", "/api/v1/tasks", "tasks", 0, 0, h_tasks},
    {"POST", "/api/v1/tasks/{id}/done", "task_done", 1, 0, h_task_done},
    {"POST", "/api/v1/tasks/{id}/dismiss", "task_dismiss", 1, 0, h_task_dismiss},
    {"GET", "/api/v1/users", "users", 2, 0, h_users},
    {"POST", "/api/v1/users", "user_add", 2, 0, h_user_add},
};
const int srv_nroutes = (int)(sizeof srv_routes / sizeof srv_routes[0]);
