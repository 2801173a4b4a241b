/*
 * store/sql/store_alerts.c — the SQL of alerts (store/store_alerts.h), over
 * the statement seam (store/sql.h) and so for every backend: reading the
 * entities, scores and predictions a rule evaluation needs, the alert
 * episodes, and writing alerts, their events, play assignments and
 * evaluated days (tables of the "alerts" migration). Statements are
 * parameterised, portable (no dialect branch in this file) and, for the
 * writes of one evaluation, prepared once (cw_alert_db_writer). Orders that
 * must be byte order are sorted here in C: PostgreSQL sorts text by its
 * collation, SQLite by memcmp.
 */
#include "core/util.h"
#include "store/sql.h"
#include "store/store.h"
#include "store/store_alerts.h"

#include <stdlib.h>
#include <string.h>

static cw_status dberr(cw_store *st, const char *what)
{
    return cw_store_set_error(st, CW_ERR_DB, "alerts: %s: %s", what, cw_sql_errmsg(st));
}

static char *col_dup(cw_stmt *q, int c)
{
    const unsigned char *t = cw_sql_col_text(q, c);
    return t ? cw_strndup((const char *)t, (size_t)cw_sql_col_bytes(q, c)) : NULL;
}

static cw_status max_id(cw_store *st, const char *sql, int64_t *n)
{
    cw_stmt *q;
    if (cw_sql_prepare(st, sql, 0, &q) != CW_SQL_OK)
        return dberr(st, "max id");
    *n = cw_sql_step(q) == CW_SQL_ROW ? cw_sql_col_i64(q, 0) + 1 : 1;
    cw_sql_finalize(q);
    return CW_OK;
}

/* Calls row(q, id, ud) for every row of sql (its first column the id) whose
 * id is in [0, n): the id-indexed tables the alert engine loads whole. */
static cw_status scan_by_id(cw_store *st, const char *sql, const char *what, int64_t n,
                            void (*row)(cw_stmt *q, int64_t id, void *ud), void *ud)
{
    cw_stmt *q;
    if (cw_sql_prepare(st, sql, 0, &q) != CW_SQL_OK)
        return dberr(st, what);
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        int64_t id = cw_sql_col_i64(q, 0);
        if (id >= 0 && id < n)
            row(q, id, ud);
    }
    cw_status s = rc == CW_SQL_DONE ? CW_OK : dberr(st, what);
    cw_sql_finalize(q);
    return s;
}

static void account_row(cw_stmt *q, int64_t id, void *ud)
{
    cw_alert_db_accounts *a = ud;
    a->ext[id] = col_dup(q, 1);
    a->name[id] = col_dup(q, 2);
    a->segment[id] = col_dup(q, 3);
    a->owner[id] = col_dup(q, 4);
}

cw_status cw_alert_db_load_accounts(cw_store *st, cw_alert_db_accounts *a)
{
    memset(a, 0, sizeof *a);
    cw_status s = max_id(st, "SELECT coalesce(max(id),0) FROM accounts", &a->n);
    if (s != CW_OK)
        return s;
    a->ext = calloc((size_t)a->n, sizeof *a->ext);
    a->name = calloc((size_t)a->n, sizeof *a->name);
    a->segment = calloc((size_t)a->n, sizeof *a->segment);
    a->owner = calloc((size_t)a->n, sizeof *a->owner);
    if (!a->ext || !a->name || !a->segment || !a->owner)
        return cw_store_set_error(st, CW_ERR_NOMEM, "alerts: out of memory loading accounts");
    return scan_by_id(st, "SELECT id, account_id, name, segment, owner FROM accounts", "accounts",
                      a->n, account_row, a);
}

void cw_alert_db_accounts_free(cw_alert_db_accounts *a)
{
    for (int64_t i = 0; i < a->n; i++) {
        if (a->ext)
            free(a->ext[i]);
        if (a->name)
            free(a->name[i]);
        if (a->segment)
            free(a->segment[i]);
        if (a->owner)
            free(a->owner[i]);
    }
    free(a->ext);
    free(a->name);
    free(a->segment);
    free(a->owner);
    memset(a, 0, sizeof *a);
}

static void user_row(cw_stmt *q, int64_t id, void *ud)
{
    cw_alert_db_users *u = ud;
    u->ext[id] = col_dup(q, 1);
    u->email[id] = col_dup(q, 2);
    u->account[id] = cw_sql_col_i64(q, 3);
    int64_t t = cw_sql_col_i64(q, 4);
    u->prov_day[id] = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

cw_status cw_alert_db_load_users(cw_store *st, cw_alert_db_users *u)
{
    memset(u, 0, sizeof *u);
    cw_status s = max_id(st, "SELECT coalesce(max(id),0) FROM users", &u->n);
    if (s != CW_OK)
        return s;
    u->ext = calloc((size_t)u->n, sizeof *u->ext);
    u->email = calloc((size_t)u->n, sizeof *u->email);
    u->account = calloc((size_t)u->n, sizeof *u->account);
    u->prov_day = calloc((size_t)u->n, sizeof *u->prov_day);
    if (!u->ext || !u->email || !u->account || !u->prov_day)
        return cw_store_set_error(st, CW_ERR_NOMEM, "alerts: out of memory loading users");
    return scan_by_id(st, "SELECT id, user_id, email, account, provisioned_at FROM users", "users",
                      u->n, user_row, u);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

cw_status cw_alert_db_load_feature_names(cw_store *st, char ***names, int64_t *n)
{
    *names = NULL;
    *n = 0;
    cw_stmt *q;
    if (cw_sql_prepare(st, "SELECT DISTINCT feature FROM features", 0, &q) != CW_SQL_OK)
        return dberr(st, "features");
    int64_t cap = 0;
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nn = realloc(*names, (size_t)cap * sizeof *nn);
            if (!nn) {
                cw_sql_finalize(q);
                return cw_store_set_error(st, CW_ERR_NOMEM,
                                          "alerts: out of memory loading feature names");
            }
            *names = nn;
        }
        if (!((*names)[*n] = col_dup(q, 0))) {
            cw_sql_finalize(q);
            return cw_store_set_error(st, CW_ERR_NOMEM,
                                      "alerts: out of memory loading feature names");
        }
        (*n)++;
    }
    cw_status s = rc == CW_SQL_DONE ? CW_OK : dberr(st, "features");
    cw_sql_finalize(q);
    /* Byte order, the metrics engine's strcmp order (SQLite's BINARY
     * collation; an ORDER BY on PostgreSQL would follow its locale). */
    if (s == CW_OK && *n > 1)
        qsort(*names, (size_t)*n, sizeof **names, cmp_name);
    return s;
}

void cw_alert_db_names_free(char **names, int64_t n)
{
    for (int64_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

void cw_alert_db_users_free(cw_alert_db_users *u)
{
    for (int64_t i = 0; i < u->n; i++) {
        if (u->ext)
            free(u->ext[i]);
        if (u->email)
            free(u->email[i]);
    }
    free(u->ext);
    free(u->email);
    free(u->account);
    free(u->prov_day);
    memset(u, 0, sizeof *u);
}

cw_status cw_alert_db_load_scores(cw_store *st, int64_t day, int64_t n, double *score,
                                  double *colour, double *change, double *prob, double *prob_change)
{
    cw_stmt *q;
    if (cw_sql_prepare(st, "SELECT account, score, colour, change FROM scores WHERE day = ?", 0,
                       &q) != CW_SQL_OK)
        return dberr(st, "scores");
    cw_sql_bind_i64(q, 1, day);
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        int64_t a = cw_sql_col_i64(q, 0);
        if (a < 0 || a >= n)
            continue;
        score[a] = cw_sql_col_double(q, 1);
        colour[a] = cw_sql_col_double(q, 2);
        if (cw_sql_col_type(q, 3) != CW_SQL_NULL)
            change[a] = cw_sql_col_double(q, 3);
    }
    cw_status s = rc == CW_SQL_DONE ? CW_OK : dberr(st, "scores");
    cw_sql_finalize(q);
    if (s != CW_OK)
        return s;
    /* The active model's probability on day, and its change since its
     * latest prediction at least 28 days earlier (as health_change). The
     * cut-off day is bound (?2) rather than computed from ?1 so that
     * PostgreSQL infers no narrower type for ?1. */
    if (cw_sql_prepare(st,
                       "SELECT p.account, p.probability,"
                       " (SELECT o.probability FROM predictions o WHERE o.account = p.account"
                       "  AND o.model = p.model AND o.day <= ?2 ORDER BY o.day DESC LIMIT 1)"
                       " FROM predictions p JOIN models m ON m.id = p.model AND m.active = 1"
                       " WHERE p.day = ?1",
                       0, &q) != CW_SQL_OK)
        return dberr(st, "predictions");
    cw_sql_bind_i64(q, 1, day);
    cw_sql_bind_i64(q, 2, day - 28);
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        int64_t a = cw_sql_col_i64(q, 0);
        if (a < 0 || a >= n)
            continue;
        prob[a] = cw_sql_col_double(q, 1);
        if (cw_sql_col_type(q, 2) != CW_SQL_NULL)
            prob_change[a] = prob[a] - cw_sql_col_double(q, 2);
    }
    s = rc == CW_SQL_DONE ? CW_OK : dberr(st, "predictions");
    cw_sql_finalize(q);
    return s;
}

cw_status cw_alert_db_last_day(cw_store *st, int64_t *day)
{
    cw_stmt *q;
    if (cw_sql_prepare(st, "SELECT max(day) FROM alert_days", 0, &q) != CW_SQL_OK)
        return dberr(st, "alert_days");
    *day = -1;
    if (cw_sql_step(q) == CW_SQL_ROW && cw_sql_col_type(q, 0) != CW_SQL_NULL)
        *day = cw_sql_col_i64(q, 0);
    cw_sql_finalize(q);
    return CW_OK;
}

cw_status cw_alert_db_scan_episodes(cw_store *st,
                                    cw_status (*fn)(const char *rule, int64_t account, int64_t user,
                                                    int open, int64_t id, int status,
                                                    int64_t snoozed_until, int64_t closed_day,
                                                    void *ud),
                                    void *ud)
{
    cw_stmt *q;
    if (cw_sql_prepare(st,
                       "SELECT rule, account, \"user\", 1, id, status, coalesce(snoozed_until,-1),"
                       " -1 FROM alerts WHERE status IN (1,2,3)"
                       " UNION ALL SELECT rule, account, \"user\", 0, 0, 0, -1, max(closed_day)"
                       " FROM alerts WHERE status >= 4 GROUP BY rule, account, \"user\"",
                       0, &q) != CW_SQL_OK)
        return dberr(st, "episodes");
    int rc;
    cw_status s = CW_OK;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW)
        s = fn((const char *)cw_sql_col_text(q, 0), cw_sql_col_i64(q, 1), cw_sql_col_i64(q, 2),
               cw_sql_col_int(q, 3), cw_sql_col_i64(q, 4), cw_sql_col_int(q, 5),
               cw_sql_col_i64(q, 6), cw_sql_col_i64(q, 7), ud);
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = dberr(st, "episodes");
    cw_sql_finalize(q);
    return s;
}

struct cw_alert_db_writer {
    cw_store *st;
    cw_stmt *ins, *status, *touch, *event, *assign;
};

cw_status cw_alert_db_writer_open(cw_store *st, cw_alert_db_writer **out)
{
    *out = NULL;
    cw_alert_db_writer *w = calloc(1, sizeof *w);
    if (!w)
        return cw_store_set_error(st, CW_ERR_NOMEM,
                                  "alerts: out of memory opening the alert writer");
    w->st = st;
    /* The CASTs are for PostgreSQL: ?2 is also the integer status column's
     * value (one type per parameter), and a CASE of a parameter and NULL
     * alone would be typed text. */
    if (cw_sql_prepare(st,
                       "INSERT INTO alerts(rule, scope, account, \"user\", status, severity,"
                       " opened_day, last_firing_day, vals, playbook, created_at)"
                       " VALUES(?,?,?,?,1,?,?,?,?,?,?) RETURNING id",
                       0, &w->ins) != CW_SQL_OK ||
        cw_sql_prepare(st,
                       "UPDATE alerts SET status = ?2,"
                       " closed_day = CASE WHEN ?3 >= 0 THEN ?3 ELSE closed_day END,"
                       " snoozed_until = CASE WHEN CAST(?2 AS BIGINT) = 3 THEN CAST(?4 AS BIGINT)"
                       " ELSE NULL END,"
                       " acked_by = coalesce(?5, acked_by) WHERE id = ?1",
                       0, &w->status) != CW_SQL_OK ||
        cw_sql_prepare(st,
                       "UPDATE alerts SET last_firing_day = ?2 WHERE id = ?1"
                       " AND last_firing_day < ?2",
                       0, &w->touch) != CW_SQL_OK ||
        cw_sql_prepare(st,
                       "INSERT INTO alert_events(alert, kind, day, at, actor, note)"
                       " VALUES(?,?,?,?,?,?)",
                       0, &w->event) != CW_SQL_OK ||
        cw_sql_prepare(st,
                       "INSERT INTO play_assignments(alert, playbook, control, share, day)"
                       " VALUES(?,?,?,?,?) ON CONFLICT(alert) DO NOTHING",
                       0, &w->assign) != CW_SQL_OK) {
        cw_status s = dberr(st, "prepare");
        cw_alert_db_writer_close(w);
        return s;
    }
    *out = w;
    return CW_OK;
}

void cw_alert_db_writer_close(cw_alert_db_writer *w)
{
    if (!w)
        return;
    cw_sql_finalize(w->ins);
    cw_sql_finalize(w->status);
    cw_sql_finalize(w->touch);
    cw_sql_finalize(w->event);
    cw_sql_finalize(w->assign);
    free(w);
}

/* Steps q expecting want (CW_SQL_DONE, or CW_SQL_ROW for the RETURNING
 * insert, whose id goes to *id), then makes it ready for the next row: the
 * bound strings are the caller's. */
static cw_status run(cw_alert_db_writer *w, cw_stmt *q, int want, int64_t *id, const char *what)
{
    int rc = cw_sql_step(q);
    if (rc == CW_SQL_ROW && id)
        *id = cw_sql_col_i64(q, 0);
    cw_status s = rc == want ? CW_OK : dberr(w->st, what);
    cw_sql_reset(q);
    cw_sql_clear_bindings(q);
    return s;
}

cw_status cw_alert_db_insert(cw_alert_db_writer *w, const char *rule, int scope, int64_t account,
                             int64_t user, int severity, int64_t day, const char *vals_json,
                             const char *playbook, int64_t now, int64_t *id)
{
    cw_stmt *q = w->ins;
    cw_sql_bind_text(q, 1, rule, -1);
    cw_sql_bind_i64(q, 2, scope);
    cw_sql_bind_i64(q, 3, account);
    cw_sql_bind_i64(q, 4, user);
    cw_sql_bind_i64(q, 5, severity);
    cw_sql_bind_i64(q, 6, day);
    cw_sql_bind_i64(q, 7, day);
    cw_sql_bind_text(q, 8, vals_json, -1);
    if (playbook)
        cw_sql_bind_text(q, 9, playbook, -1);
    cw_sql_bind_i64(q, 10, now);
    return run(w, q, CW_SQL_ROW, id, "insert alert");
}

cw_status cw_alert_db_set_status(cw_alert_db_writer *w, int64_t id, int status, int64_t closed_day,
                                 int64_t snoozed_until, const char *acked_by)
{
    cw_stmt *q = w->status;
    cw_sql_bind_i64(q, 1, id);
    cw_sql_bind_i64(q, 2, status);
    cw_sql_bind_i64(q, 3, closed_day);
    cw_sql_bind_i64(q, 4, snoozed_until);
    if (acked_by)
        cw_sql_bind_text(q, 5, acked_by, -1);
    return run(w, q, CW_SQL_DONE, NULL, "update alert");
}

cw_status cw_alert_db_touch(cw_alert_db_writer *w, int64_t id, int64_t day)
{
    cw_sql_bind_i64(w->touch, 1, id);
    cw_sql_bind_i64(w->touch, 2, day);
    return run(w, w->touch, CW_SQL_DONE, NULL, "update alert");
}

cw_status cw_alert_db_event(cw_alert_db_writer *w, int64_t id, int kind, int64_t day, int64_t at,
                            const char *actor, const char *note)
{
    cw_stmt *q = w->event;
    cw_sql_bind_i64(q, 1, id);
    cw_sql_bind_i64(q, 2, kind);
    cw_sql_bind_i64(q, 3, day);
    cw_sql_bind_i64(q, 4, at);
    if (actor)
        cw_sql_bind_text(q, 5, actor, -1);
    if (note)
        cw_sql_bind_text(q, 6, note, -1);
    return run(w, q, CW_SQL_DONE, NULL, "alert event");
}

cw_status cw_alert_db_assign(cw_alert_db_writer *w, int64_t id, const char *playbook, int control,
                             double share, int64_t day)
{
    cw_stmt *q = w->assign;
    cw_sql_bind_i64(q, 1, id);
    cw_sql_bind_text(q, 2, playbook, -1);
    cw_sql_bind_i64(q, 3, control);
    cw_sql_bind_double(q, 4, share);
    cw_sql_bind_i64(q, 5, day);
    return run(w, q, CW_SQL_DONE, NULL, "play assignment");
}

cw_status cw_alert_db_mark_day(cw_store *st, int64_t day, int64_t at, int64_t opened,
                               int64_t closed)
{
    cw_stmt *q;
    if (cw_sql_prepare(st,
                       "INSERT INTO alert_days(day, at, opened, closed) VALUES(?,?,?,?)"
                       " ON CONFLICT(day) DO NOTHING",
                       0, &q) != CW_SQL_OK)
        return dberr(st, "alert_days");
    cw_sql_bind_i64(q, 1, day);
    cw_sql_bind_i64(q, 2, at);
    cw_sql_bind_i64(q, 3, opened);
    cw_sql_bind_i64(q, 4, closed);
    cw_status s = cw_sql_step(q) == CW_SQL_DONE ? CW_OK : dberr(st, "alert_days");
    cw_sql_finalize(q);
    return s;
}

cw_status cw_alert_db_get_status(cw_store *st, int64_t id, int *status, int *found)
{
    cw_stmt *q;
    if (cw_sql_prepare(st, "SELECT status FROM alerts WHERE id = ?", 0, &q) != CW_SQL_OK)
        return dberr(st, "alerts");
    cw_sql_bind_i64(q, 1, id);
    *found = cw_sql_step(q) == CW_SQL_ROW;
    if (*found)
        *status = cw_sql_col_int(q, 0);
    cw_sql_finalize(q);
    return CW_OK;
}

/* ---- listing, history and the plays report (public API) -------------- */

/* ?1 is an integer flag (compared with 0: PostgreSQL has no integer OR);
 * ?3 and ?4 are texts that may be NULL, typed by CAST for PostgreSQL. */
static const char list_sql[] =
    "SELECT a.id, a.rule, c.account_id, c.name, u.user_id, a.playbook, a.vals, a.acked_by,"
    " a.status, a.severity, a.opened_day, a.last_firing_day, coalesce(a.closed_day,-1),"
    " coalesce(a.snoozed_until,-1), coalesce(p.control,-1)"
    " FROM alerts a JOIN accounts c ON c.id = a.account"
    " LEFT JOIN users u ON u.id = a.\"user\" AND a.\"user\" != 0"
    " LEFT JOIN play_assignments p ON p.alert = a.id"
    " WHERE (?1 <> 0 OR a.status IN (1,2,3))"
    " AND (?2 < 0 OR a.status != 3 OR a.snoozed_until <= ?2)"
    " AND (CAST(?3 AS TEXT) IS NULL OR a.rule = ?3)"
    " AND (CAST(?4 AS TEXT) IS NULL OR c.account_id = ?4)"
    " AND (?5 = 0 OR a.id = ?5) AND (?6 <= 0 OR a.opened_day >= ?6)"
    " ORDER BY a.severity DESC, a.opened_day DESC, a.id DESC";

static void list_row(cw_stmt *q, cw_alert *a)
{
    memset(a, 0, sizeof *a);
    a->id = cw_sql_col_i64(q, 0);
    a->rule = col_dup(q, 1);
    a->account_id = col_dup(q, 2);
    a->account_name = col_dup(q, 3);
    a->user_id = col_dup(q, 4);
    a->playbook = col_dup(q, 5);
    a->values_json = col_dup(q, 6);
    a->acked_by = col_dup(q, 7);
    a->status = cw_sql_col_int(q, 8);
    a->severity = (cw_severity)cw_sql_col_int(q, 9);
    a->opened_day = cw_sql_col_i64(q, 10);
    a->last_firing_day = cw_sql_col_i64(q, 11);
    a->closed_day = cw_sql_col_i64(q, 12);
    a->snoozed_until = cw_sql_col_i64(q, 13);
    a->control = cw_sql_col_int(q, 14);
}

cw_status cw_alerts_list(cw_store *st, const cw_alerts_query *qo, cw_alert_list *out)
{
    cw_store_enter(st, "alerts");
    memset(out, 0, sizeof *out);
    cw_stmt *q;
    if (cw_sql_prepare(st, list_sql, 0, &q) != CW_SQL_OK)
        return dberr(st, "list");
    cw_sql_bind_i64(q, 1, qo->all || qo->id);
    cw_sql_bind_i64(q, 2, qo->id ? -1 : qo->today);
    if (qo->rule)
        cw_sql_bind_text(q, 3, qo->rule, -1);
    if (qo->account)
        cw_sql_bind_text(q, 4, qo->account, -1);
    cw_sql_bind_i64(q, 5, qo->id);
    cw_sql_bind_i64(q, 6, qo->id ? 0 : qo->opened_from);
    int rc;
    int64_t cap = 0;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        if (out->n == cap) {
            cap = cap ? 2 * cap : 64;
            cw_alert *n = realloc(out->alerts, (size_t)cap * sizeof *n);
            if (!n) {
                cw_sql_finalize(q);
                return cw_store_set_error(st, CW_ERR_NOMEM, "alerts: out of memory listing alerts");
            }
            out->alerts = n;
        }
        list_row(q, &out->alerts[out->n++]);
    }
    cw_status s = rc == CW_SQL_DONE ? CW_OK : dberr(st, "list");
    cw_sql_finalize(q);
    return s;
}

void cw_alert_list_free(cw_alert_list *l)
{
    if (!l)
        return;
    for (int64_t i = 0; i < l->n; i++) {
        cw_alert *a = &l->alerts[i];
        free(a->rule);
        free(a->account_id);
        free(a->account_name);
        free(a->user_id);
        free(a->playbook);
        free(a->values_json);
        free(a->acked_by);
    }
    free(l->alerts);
    l->alerts = NULL;
    l->n = 0;
}

cw_status cw_alert_history(cw_store *st, int64_t id, FILE *out)
{
    cw_store_enter(st, "alert history");
    cw_stmt *q;
    if (cw_sql_prepare(st,
                       "SELECT kind, day, at, actor, note FROM alert_events WHERE alert = ?"
                       " ORDER BY id",
                       0, &q) != CW_SQL_OK)
        return dberr(st, "history");
    cw_sql_bind_i64(q, 1, id);
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        char d[16], t[32];
        cw_time_format(cw_sql_col_i64(q, 1) * 86400, CW_TIME_DATE, d, sizeof d);
        cw_time_format(cw_sql_col_i64(q, 2), CW_TIME_TIMESTAMP, t, sizeof t);
        const char *actor = (const char *)cw_sql_col_text(q, 3);
        const char *note = (const char *)cw_sql_col_text(q, 4);
        const char *kn = cw_alert_event_name(cw_sql_col_int(q, 0));
        fprintf(out, "  %s  %-13s day %s%s%s%s%s\n", t, kn ? kn : "?", d, actor ? "  by " : "",
                actor ? actor : "", note ? "  " : "", note ? note : "");
    }
    cw_status s = rc == CW_SQL_DONE ? CW_OK : dberr(st, "history");
    cw_sql_finalize(q);
    return s;
}

/* Alerts with a play assignment, opened in range and mature (opened at
 * least horizon days before the last evaluated day): playbook, control,
 * auto-resolved, and whether the account churned within the horizon (its
 * churn_date, or a subscription change to MRR 0). The two flags are
 * CASE … THEN 1 ELSE 0: PostgreSQL would return booleans. */
static const char plays_sql[] =
    "SELECT p.playbook, p.control, CASE WHEN a.status = 4 THEN 1 ELSE 0 END,"
    " CASE WHEN (c.churn_date IS NOT NULL AND c.churn_date >= a.opened_day * 86400"
    "   AND c.churn_date < (a.opened_day + ?3 + 1) * 86400)"
    " OR EXISTS(SELECT 1 FROM subscriptions s WHERE s.account = a.account"
    "   AND s.mrr_minor = 0 AND s.effective_at >= a.opened_day * 86400"
    "   AND s.effective_at < (a.opened_day + ?3 + 1) * 86400) THEN 1 ELSE 0 END"
    " FROM play_assignments p JOIN alerts a ON a.id = p.alert"
    " JOIN accounts c ON c.id = a.account"
    " WHERE (?1 < 0 OR a.opened_day >= ?1) AND (?2 < 0 OR a.opened_day <= ?2)"
    " AND a.opened_day + ?3 <= (SELECT coalesce(max(day), -1) FROM alert_days)"
    " ORDER BY p.playbook";

cw_status cw_alert_db_scan_plays(cw_store *st, int64_t from, int64_t to, int horizon,
                                 cw_status (*fn)(const char *playbook, int control, int recovered,
                                                 int churned, void *ud),
                                 void *ud)
{
    cw_stmt *q;
    if (cw_sql_prepare(st, plays_sql, 0, &q) != CW_SQL_OK)
        return dberr(st, "plays");
    cw_sql_bind_i64(q, 1, from);
    cw_sql_bind_i64(q, 2, to);
    cw_sql_bind_i64(q, 3, horizon);
    int rc;
    cw_status s = CW_OK;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW)
        s = fn((const char *)cw_sql_col_text(q, 0), cw_sql_col_int(q, 1), cw_sql_col_int(q, 2),
               cw_sql_col_int(q, 3), ud);
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = dberr(st, "plays");
    cw_sql_finalize(q);
    return s;
}
