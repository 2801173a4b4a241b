/*
 * store/sqlite/sqlite_api.c — the SQL behind the JSON API and the HTML report
 * (store/store_api.h; lib/api/ shapes the answers). Every statement is
 * parameterised; the only SQL chosen at run time is an ORDER BY picked from
 * a fixed table by sort key. Rows become JSON generically (row_object): a
 * column aliased "x_json" holds JSON text served as the value of "x"; REAL
 * NaN becomes null; a column whose name starts with "_" is read, not served.
 *
 * Dates go out as "YYYY-MM-DD" strings (days since the epoch in scores and
 * snapshots, Unix seconds elsewhere), money as integer minor units beside
 * its currency.
 */
#include "store/store.h"
#include "store/store_api.h"
#include "store/sqlite/sqlite_int.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The top driver in words: the model's first driver, else the scorecard
 * measure that cost the most points ("usage (-12 points)"). */
#define TOP_DRIVER_SQL                                                                             \
    "coalesce(json_extract(p.drivers, '$[0].text'), (SELECT key || ' (' ||"                        \
    " CAST(round(value) AS INTEGER) || ' points)' FROM json_each(s.contrib) WHERE value < 0"       \
    " ORDER BY value LIMIT 1))"

static cw_status fail(cw_store *st, const char *what)
{
    return cw_store_set_error(st, CW_ERR_DB, "%s: %s", what, sqlite3_errmsg(cw_store_sqlite(st)));
}

static cw_status prep(cw_store *st, const char *sql, sqlite3_stmt **q)
{
    if (sqlite3_prepare_v2(cw_store_sqlite(st), sql, -1, q, NULL) != SQLITE_OK) {
        *q = NULL;
        return fail(st, "query");
    }
    return CW_OK;
}

static json_t *col_value(sqlite3_stmt *q, int i)
{
    switch (sqlite3_column_type(q, i)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(q, i));
    case SQLITE_FLOAT: {
        double d = sqlite3_column_double(q, i);
        return isfinite(d) ? json_real(d) : json_null();
    }
    case SQLITE_TEXT: {
        const char *name = sqlite3_column_name(q, i);
        size_t nl = strlen(name);
        const char *t = (const char *)sqlite3_column_text(q, i);
        if (nl > 5 && strcmp(name + nl - 5, "_json") == 0) {
            json_t *j = json_loadb(t, (size_t)sqlite3_column_bytes(q, i), JSON_DECODE_ANY, NULL);
            return j ? j : json_null();
        }
        return json_stringn(t, (size_t)sqlite3_column_bytes(q, i));
    }
    default: return json_null();
    }
}

/* The current row as an object keyed by column name ("_json" suffix cut),
 * without the columns whose name starts with "_". */
static json_t *row_object(sqlite3_stmt *q)
{
    json_t *o = json_object();
    int n = sqlite3_column_count(q);
    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(q, i);
        size_t nl = strlen(name);
        char key[64];
        if (name[0] == '_')
            continue;
        if (nl > 5 && strcmp(name + nl - 5, "_json") == 0)
            nl -= 5;
        if (nl >= sizeof key)
            nl = sizeof key - 1;
        memcpy(key, name, nl);
        key[nl] = '\0';
        json_object_set_new(o, key, col_value(q, i));
    }
    return o;
}

/* Steps q to the end, appending each row to arr; finalizes q. */
static cw_status rows_into(cw_store *st, sqlite3_stmt *q, json_t *arr)
{
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        json_array_append_new(arr, row_object(q));
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? CW_OK : fail(st, "query");
}

static cw_status scalar_i64(cw_store *st, const char *sql, int64_t bind1, int64_t *out, int *null)
{
    sqlite3_stmt *q;
    cw_status s = prep(st, sql, &q);
    if (s != CW_OK)
        return s;
    if (sqlite3_bind_parameter_count(q) >= 1)
        sqlite3_bind_int64(q, 1, bind1);
    int rc = sqlite3_step(q);
    *null = rc != SQLITE_ROW || sqlite3_column_type(q, 0) == SQLITE_NULL;
    *out = *null ? 0 : sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? CW_OK : fail(st, "query");
}

cw_status cw_store_api_view(cw_store *st, cw_api_view *v)
{
    int64_t *day = &v->day, *score_day = &v->score_day, *model = &v->model,
            *pred_day = &v->pred_day;
    int null;
    cw_status s;
    if ((s = scalar_i64(st, "SELECT max(day) FROM scores", 0, score_day, &null)) != CW_OK)
        return s;
    if (null)
        *score_day = -1;
    if ((s = scalar_i64(st, "SELECT id FROM models WHERE active=1 ORDER BY id DESC LIMIT 1", 0,
                        model, &null)) != CW_OK)
        return s;
    *pred_day = -1;
    if (null) {
        *model = -1;
    } else {
        if ((s = scalar_i64(st, "SELECT max(day) FROM predictions WHERE model=?", *model, pred_day,
                            &null)) != CW_OK)
            return s;
        if (null)
            *pred_day = -1;
    }
    *day = *score_day;
    if (*day < 0 && *pred_day >= 0)
        *day = *pred_day;
    if (*day < 0) {
        if ((s = scalar_i64(st, "SELECT max(day) FROM metric_snapshots", 0, day, &null)) != CW_OK)
            return s;
        if (null)
            *day = (int64_t)time(NULL) / 86400;
    }
    return CW_OK;
}

cw_status cw_store_data_version(cw_store *st, int64_t *out)
{
    int null;
    return scalar_i64(st, "PRAGMA data_version", 0, out, &null);
}

/* ---- accounts list -------------------------------------------------- */

/* ORDER BY of each sort key (cw_api_sort order): NULLs always last. */
static const struct {
    const char *asc, *desc;
} sorts[CW_API_SORT__COUNT] = {
    {"p.probability IS NULL, p.probability, s.score IS NULL, s.score DESC, a.id",
     "p.probability IS NULL, p.probability DESC, s.score IS NULL, s.score, a.id"},
    {"s.score IS NULL, s.score, a.id", "s.score IS NULL, s.score DESC, a.id"},
    {"p.probability IS NULL, p.probability, a.id",
     "p.probability IS NULL, p.probability DESC, a.id"},
    {"s.change IS NULL, s.change, a.id", "s.change IS NULL, s.change DESC, a.id"},
    {"a.renewal_date IS NULL, a.renewal_date, a.id",
     "a.renewal_date IS NULL, a.renewal_date DESC, a.id"},
    {"a.mrr_minor, a.id", "a.mrr_minor DESC, a.id"},
    {"p.probability IS NULL, a.mrr_minor * p.probability, a.id",
     "p.probability IS NULL, a.mrr_minor * p.probability DESC, a.id"},
    {"a.name, a.id", "a.name DESC, a.id"},
};

/* Filters on the accounts row alone. */
#define ACCOUNT_FILTERS                                                                            \
    " AND (:segment IS NULL OR a.segment = :segment)"                                              \
    " AND (:owner IS NULL OR a.owner = :owner)"                                                    \
    " AND (:status IS NULL OR a.status = :status)"                                                 \
    " AND (:search IS NULL OR instr(lower(a.name), lower(:search)) > 0"                            \
    "      OR instr(lower(a.account_id), lower(:search)) > 0)"                                     \
    " AND (:rdays IS NULL OR (a.renewal_date >= :asof AND a.renewal_date < :asof + :rdays * "      \
    "86400))"

#define ACCOUNTS_FROM                                                                              \
    " FROM accounts a"                                                                             \
    " LEFT JOIN scores s ON s.day = :sday AND s.account = a.id"                                    \
    " LEFT JOIN predictions p ON p.day = :pday AND p.account = a.id AND p.model = :model"          \
    " WHERE (:colour IS NULL OR s.colour = :colour)" ACCOUNT_FILTERS

/* The total needs no join unless a colour is asked for: then it is driven
 * by that day's scores. */
#define COUNT_ALL "SELECT count(*) FROM accounts a WHERE 1" ACCOUNT_FILTERS
#define COUNT_COLOUR                                                                               \
    "SELECT count(*) FROM scores s JOIN accounts a ON a.id = s.account"                            \
    " WHERE s.day = :sday AND s.colour = :colour" ACCOUNT_FILTERS

static void bind_name_i64(sqlite3_stmt *q, const char *name, int64_t v, int null)
{
    int i = sqlite3_bind_parameter_index(q, name);
    if (i > 0) {
        if (null)
            sqlite3_bind_null(q, i);
        else
            sqlite3_bind_int64(q, i, v);
    }
}

static void bind_name_text(sqlite3_stmt *q, const char *name, const char *v)
{
    int i = sqlite3_bind_parameter_index(q, name);
    if (i > 0) {
        if (v)
            sqlite3_bind_text(q, i, v, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(q, i);
    }
}

static void bind_accounts(sqlite3_stmt *q, const cw_api_accounts_q *f, int64_t sday, int64_t pday,
                          int64_t model, int64_t asof_unix)
{
    bind_name_i64(q, ":sday", sday, 0);
    bind_name_i64(q, ":pday", pday, 0);
    bind_name_i64(q, ":model", model, 0);
    bind_name_i64(q, ":colour", f->colour, f->colour < 0);
    bind_name_text(q, ":segment", f->segment);
    bind_name_text(q, ":owner", f->owner);
    bind_name_text(q, ":status", f->status);
    bind_name_text(q, ":search", f->search && *f->search ? f->search : NULL);
    bind_name_i64(q, ":rdays", f->renewal_days, f->renewal_days < 0);
    bind_name_i64(q, ":asof", asof_unix, 0);
}

static cw_status sparkline(cw_store *st, sqlite3_stmt *q, int64_t account, json_t *item)
{
    sqlite3_reset(q);
    sqlite3_bind_int64(q, 1, account);
    json_t *pts = json_array();
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        json_array_insert_new(pts, 0, json_real(sqlite3_column_double(q, 0)));
    json_object_set_new(item, "trend", pts);
    return rc == SQLITE_DONE ? CW_OK : fail(st, "sparkline");
}

static double col_or_nan(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? (double)NAN : sqlite3_column_double(q, i);
}

cw_status cw_store_api_list_scan(cw_store *st, const cw_api_view *v,
                                 cw_status (*fn)(const cw_api_list_row *r, void *ud), void *ud)
{
    sqlite3_stmt *q;
    cw_status s =
        prep(st,
             "SELECT a.id, a.mrr_minor, a.renewal_date, s.score, p.probability,"
             " s.change, s.colour, a.name, a.account_id, a.segment, a.owner, a.status"
             " FROM accounts a LEFT JOIN scores s ON s.day = ?1 AND s.account = a.id"
             " LEFT JOIN predictions p ON p.day = ?2 AND p.account = a.id AND p.model = ?3",
             &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, v->score_day);
    sqlite3_bind_int64(q, 2, v->pred_day);
    sqlite3_bind_int64(q, 3, v->model);
    int rc;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        cw_api_list_row r;
        r.id = sqlite3_column_int64(q, 0);
        r.mrr_minor = sqlite3_column_int64(q, 1);
        r.renewal_unix =
            sqlite3_column_type(q, 2) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(q, 2);
        r.score = col_or_nan(q, 3);
        r.prob = col_or_nan(q, 4);
        r.change = col_or_nan(q, 5);
        r.colour = sqlite3_column_type(q, 6) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 6);
        const char *t[5];
        for (int i = 0; i < 5; i++) {
            t[i] = (const char *)sqlite3_column_text(q, 7 + i);
            if (!t[i] && i != 3)
                t[i] = "";
        }
        r.name = t[0];
        r.ext = t[1];
        r.segment = t[2];
        r.owner = t[3];
        r.status = t[4];
        s = fn(&r, ud);
    }
    sqlite3_finalize(q);
    if (s == CW_OK && rc != SQLITE_DONE)
        s = fail(st, "accounts");
    return s;
}

#define PAGE_ROW_SQL                                                                               \
    "SELECT a.id AS _id, a.account_id AS id, a.name, a.segment, a.owner, a.status,"                \
    " a.seats, a.mrr_minor, a.currency,"                                                           \
    " CASE WHEN a.renewal_date IS NULL THEN NULL ELSE date(a.renewal_date,'unixepoch')"            \
    " END AS renewal_date,"                                                                        \
    " CASE WHEN a.renewal_date IS NULL THEN NULL ELSE"                                             \
    " CAST(floor((a.renewal_date - :asof) / 86400.0) AS INTEGER) END AS days_to_renewal,"          \
    " s.score, s.colour, s.change, p.probability,"                                                 \
    " CASE WHEN p.probability IS NULL THEN NULL ELSE"                                              \
    " CAST(round(a.mrr_minor * p.probability) AS INTEGER) END AS mrr_at_risk_minor,"               \
    " " TOP_DRIVER_SQL " AS top_driver"

cw_status cw_store_api_list_rows(cw_store *st, const cw_api_view *v, const int64_t *ids, size_t n,
                                 int sparkline_n, json_t *items)
{
    sqlite3_stmt *q = NULL, *qs = NULL;
    cw_status s;
    if ((s = prep(st,
                  PAGE_ROW_SQL " FROM accounts a"
                               " LEFT JOIN scores s ON s.day = :sday AND s.account = a.id"
                               " LEFT JOIN predictions p ON p.day = :pday AND p.account = a.id"
                               " AND p.model = :model WHERE a.id = :id",
                  &q)) != CW_OK ||
        (s = prep(st, "SELECT score FROM scores WHERE account=? ORDER BY day DESC LIMIT ?", &qs)) !=
            CW_OK) {
        sqlite3_finalize(q);
        return s;
    }
    bind_name_i64(q, ":sday", v->score_day, 0);
    bind_name_i64(q, ":pday", v->pred_day, 0);
    bind_name_i64(q, ":model", v->model, 0);
    bind_name_i64(q, ":asof", v->day * 86400, 0);
    sqlite3_bind_int(qs, 2, sparkline_n);
    for (size_t i = 0; i < n && s == CW_OK; i++) {
        sqlite3_reset(q);
        bind_name_i64(q, ":id", ids[i], 0);
        if (sqlite3_step(q) != SQLITE_ROW) {
            s = fail(st, "account row");
            break;
        }
        json_t *it = row_object(q);
        if (sparkline_n > 0)
            s = sparkline(st, qs, ids[i], it);
        json_array_append_new(items, it);
    }
    sqlite3_finalize(q);
    sqlite3_finalize(qs);
    return s;
}

cw_status cw_store_api_list_sql(cw_store *st, const cw_api_view *v, const cw_api_accounts_q *f,
                                cw_api_sort key, int desc, json_t *items, int64_t *total)
{
    /* Two phases in one statement: the inner query sorts only keys to pick
     * the page; the outer one formats the page's rows (json_extract, dates)
     * for those rows alone, not for every account. */
    const char *order = desc ? sorts[key].desc : sorts[key].asc;
    char sql[4096];
    snprintf(sql, sizeof sql,
             PAGE_ROW_SQL
             " FROM (SELECT a.id AS pid" ACCOUNTS_FROM " ORDER BY %s LIMIT :limit OFFSET :offset)"
             " JOIN accounts a ON a.id = pid"
             " LEFT JOIN scores s ON s.day = :sday AND s.account = a.id"
             " LEFT JOIN predictions p ON p.day = :pday AND p.account = a.id AND p.model = :model"
             " ORDER BY %s",
             order, order);
    sqlite3_stmt *q = NULL, *qc = NULL, *qs = NULL;
    cw_status s;
    if ((s = prep(st, sql, &q)) != CW_OK ||
        (s = prep(st, f->colour < 0 ? COUNT_ALL : COUNT_COLOUR, &qc)) != CW_OK ||
        (s = prep(st, "SELECT score FROM scores WHERE account=? ORDER BY day DESC LIMIT ?", &qs)) !=
            CW_OK) {
        sqlite3_finalize(q);
        sqlite3_finalize(qc);
        return s;
    }
    int64_t asof_unix = v->day * 86400;
    bind_accounts(q, f, v->score_day, v->pred_day, v->model, asof_unix);
    bind_accounts(qc, f, v->score_day, v->pred_day, v->model, asof_unix);
    bind_name_i64(q, ":limit", f->limit, 0);
    bind_name_i64(q, ":offset", f->offset, 0);
    sqlite3_bind_int(qs, 2, f->sparkline);
    int rc;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *it = row_object(q);
        int64_t id = sqlite3_column_int64(q, 0);
        if (f->sparkline > 0)
            s = sparkline(st, qs, id, it);
        json_array_append_new(items, it);
    }
    if (s == CW_OK && rc != SQLITE_DONE)
        s = fail(st, "accounts");
    *total = 0;
    if (s == CW_OK) {
        if (sqlite3_step(qc) == SQLITE_ROW)
            *total = sqlite3_column_int64(qc, 0);
        else
            s = fail(st, "accounts count");
    }
    sqlite3_finalize(q);
    sqlite3_finalize(qc);
    sqlite3_finalize(qs);
    return s;
}

/* ---- facets ---------------------------------------------------------- */

cw_status cw_store_api_facets(cw_store *st, const cw_api_view *v, json_t *segments, json_t *owners,
                              int64_t colour_counts[3])
{
    sqlite3_stmt *q;
    int rc = SQLITE_DONE;
    cw_status s;
    if ((s = prep(st, "SELECT DISTINCT segment FROM accounts ORDER BY 1", &q)) == CW_OK) {
        while ((rc = sqlite3_step(q)) == SQLITE_ROW)
            json_array_append_new(segments, col_value(q, 0));
        sqlite3_finalize(q);
    }
    if (s == CW_OK && rc == SQLITE_DONE &&
        (s = prep(st, "SELECT DISTINCT owner FROM accounts WHERE owner IS NOT NULL ORDER BY 1",
                  &q)) == CW_OK) {
        while ((rc = sqlite3_step(q)) == SQLITE_ROW)
            json_array_append_new(owners, col_value(q, 0));
        sqlite3_finalize(q);
    }
    if (s == CW_OK && rc == SQLITE_DONE &&
        (s = prep(st, "SELECT colour, count(*) FROM scores WHERE day=? GROUP BY colour", &q)) ==
            CW_OK) {
        sqlite3_bind_int64(q, 1, v->score_day);
        for (int i = 0; i < 3; i++)
            colour_counts[i] = 0;
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            int c = sqlite3_column_int(q, 0);
            if (c >= 0 && c < 3)
                colour_counts[c] = sqlite3_column_int64(q, 1);
        }
        sqlite3_finalize(q);
    }
    if (s == CW_OK && rc != SQLITE_DONE)
        s = fail(st, "facets");
    return s;
}

/* ---- one account ---------------------------------------------------- */

cw_status cw_store_api_account_row(cw_store *st, const cw_api_view *v, const char *account_id,
                                   int64_t *id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *q;
    cw_status s;
    if ((s = prep(st,
                  "SELECT id AS _id, account_id AS id, name, segment, owner, status, seats,"
                  " mrr_minor, currency, date(contract_start,'unixepoch') AS contract_start,"
                  " CASE WHEN renewal_date IS NULL THEN NULL ELSE date(renewal_date,'unixepoch')"
                  " END AS renewal_date,"
                  " CASE WHEN renewal_date IS NULL THEN NULL ELSE"
                  " CAST(floor((renewal_date - ?) / 86400.0) AS INTEGER) END AS days_to_renewal,"
                  " CASE WHEN churn_date IS NULL THEN NULL ELSE date(churn_date,'unixepoch')"
                  " END AS churn_date, churn_reason FROM accounts WHERE account_id = ?",
                  &q)) != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, v->day * 86400);
    sqlite3_bind_text(q, 2, account_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(q);
        if (rc == SQLITE_DONE)
            return cw_store_set_error(st, CW_ERR_NOTFOUND, "no account '%s'", account_id);
        return fail(st, "account");
    }
    *out = row_object(q);
    *id = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return CW_OK;
}

/* History of one account (?1 account, ?2 model) from hist_sql into arr, then
 * the columns of last_sql's first row merged into latest (when arr is not
 * empty). */
static cw_status history(cw_store *st, int64_t id, int64_t model, const char *hist_sql,
                         const char *last_sql, json_t *arr, json_t *latest)
{
    sqlite3_stmt *q;
    cw_status s;
    if ((s = prep(st, hist_sql, &q)) != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, model);
    if ((s = rows_into(st, q, arr)) != CW_OK || !json_array_size(arr) ||
        (s = prep(st, last_sql, &q)) != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_int64(q, 2, model);
    if (sqlite3_step(q) == SQLITE_ROW) {
        json_t *r = row_object(q);
        json_object_update(latest, r);
        json_decref(r);
    }
    sqlite3_finalize(q);
    return CW_OK;
}

cw_status cw_store_api_account_scores(cw_store *st, int64_t id, json_t *scores, json_t *latest)
{
    return history(st, id, 0,
                   "SELECT date(day*86400,'unixepoch') AS day, score, colour, change"
                   " FROM scores WHERE account = ?1 ORDER BY day",
                   "SELECT scorecard, contrib AS contrib_json FROM scores WHERE account = ?1"
                   " ORDER BY day DESC LIMIT 1",
                   scores, latest);
}

cw_status cw_store_api_account_predictions(cw_store *st, int64_t id, int64_t model, json_t *preds,
                                           json_t *latest)
{
    return history(st, id, model,
                   "SELECT date(day*86400,'unixepoch') AS day, probability FROM predictions"
                   " WHERE account = ?1 AND model = ?2 ORDER BY day",
                   "SELECT probability, drivers AS drivers_json FROM predictions"
                   " WHERE account = ?1 AND model = ?2 ORDER BY day DESC LIMIT 1",
                   preds, latest);
}

cw_status cw_store_api_user_metrics_day(cw_store *st, int64_t *day)
{
    int null = 1;
    cw_status s = scalar_i64(st,
                             "SELECT max(day) FROM user_metrics WHERE day <= (SELECT max(day) FROM"
                             " metric_snapshots)",
                             0, day, &null);
    if (s != CW_OK || null)
        *day = -1;
    return s;
}

cw_status cw_store_api_account_users(cw_store *st, int64_t account, int64_t day,
                                     cw_status (*fn)(json_t *user, const double *vals, int n,
                                                     void *ud),
                                     void *ud)
{
    sqlite3_stmt *q;
    cw_status s = prep(st,
                       "SELECT u.user_id AS id, u.email, u.role, u.department,"
                       " date(u.provisioned_at,'unixepoch') AS provisioned,"
                       " CASE WHEN u.deactivated_at IS NULL THEN NULL ELSE"
                       " date(u.deactivated_at,'unixepoch') END AS deactivated, m.vals AS _vals"
                       " FROM users u LEFT JOIN user_metrics m ON m.day = ? AND m.user = u.id"
                       " WHERE u.account = ? ORDER BY u.deactivated_at IS NOT NULL, u.user_id"
                       " LIMIT 1000",
                       &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, day);
    sqlite3_bind_int64(q, 2, account);
    double *vals = NULL;
    int rc;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        const unsigned char *b = sqlite3_column_blob(q, 6);
        int nb = b ? sqlite3_column_bytes(q, 6) / 8 : 0;
        double *nv = realloc(vals, (size_t)(nb ? nb : 1) * sizeof *nv);
        if (!nv) {
            s = cw_store_set_error(st, CW_ERR_NOMEM,
                                   "api: out of memory listing an account's users");
            break;
        }
        vals = nv;
        for (int j = 0; j < nb; j++) {
            uint64_t bits = cw_load_le64(b + 8 * j);
            memcpy(&vals[j], &bits, 8);
        }
        s = fn(row_object(q), vals, nb, ud);
    }
    free(vals);
    sqlite3_finalize(q);
    if (s == CW_OK && rc != SQLITE_DONE)
        s = fail(st, "users");
    return s;
}

/* Goals with their measurements and the value expected today on the
 * straight line from baseline (start) to target (target date). */
cw_status cw_store_api_account_goals(cw_store *st, int64_t account, int64_t asof_unix,
                                     json_t *goals)
{
    sqlite3_stmt *q, *qm;
    cw_status s = prep(st,
                       "SELECT goal_id AS id, metric, unit, baseline, target,"
                       " date(start_date,'unixepoch') AS start, start_date AS _s,"
                       " date(target_date,'unixepoch') AS target_date, target_date AS _t"
                       " FROM goals WHERE account = ? ORDER BY target_date, goal_id",
                       &q);
    if (s != CW_OK)
        return s;
    if ((s = prep(st,
                  "SELECT date(measured_at,'unixepoch') AS at, kind, value FROM goal_measurements"
                  " WHERE goal_id = ? ORDER BY measured_at, kind",
                  &qm)) != CW_OK) {
        sqlite3_finalize(q);
        return s;
    }
    sqlite3_bind_int64(q, 1, account);
    int rc;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *g = row_object(q);
        double base = sqlite3_column_double(q, 3), target = sqlite3_column_double(q, 4);
        int64_t t0 = sqlite3_column_int64(q, 6), t1 = sqlite3_column_int64(q, 8);
        double frac = t1 > t0 ? (double)(asof_unix - t0) / (double)(t1 - t0) : 1.0;
        frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
        json_object_set_new(g, "expected_now", json_real(base + (target - base) * frac));
        sqlite3_reset(qm);
        sqlite3_bind_text(qm, 1, (const char *)sqlite3_column_text(q, 0), -1, SQLITE_TRANSIENT);
        json_t *ms = json_array();
        json_t *latest = json_null();
        int rm;
        while ((rm = sqlite3_step(qm)) == SQLITE_ROW) {
            json_array_append_new(ms, row_object(qm));
            if (strcmp((const char *)sqlite3_column_text(qm, 1), "actual") == 0) {
                json_decref(latest);
                latest = json_real(sqlite3_column_double(qm, 2));
            }
        }
        if (rm != SQLITE_DONE)
            s = fail(st, "goal measurements");
        json_object_set_new(g, "measurements", ms);
        json_object_set_new(g, "actual_latest", latest);
        json_array_append_new(goals, g);
    }
    if (s == CW_OK && rc != SQLITE_DONE)
        s = fail(st, "goals");
    sqlite3_finalize(q);
    sqlite3_finalize(qm);
    return s;
}

cw_status cw_store_api_account_events(cw_store *st, int64_t account, json_t *timeline)
{
    sqlite3_stmt *q;
    cw_status s =
        prep(st,
             "SELECT 'ticket' AS type, strftime('%Y-%m-%dT%H:%M:%SZ', opened_at, 'unixepoch')"
             " AS at, category || ' ticket (' || coalesce(priority, 'normal') || ')' AS title,"
             " CASE WHEN closed_at IS NULL THEN 'open' ELSE 'closed ' ||"
             " date(closed_at,'unixepoch') END || CASE WHEN satisfaction IS NULL THEN ''"
             " ELSE ', satisfaction ' || satisfaction || '/5' END AS detail"
             " FROM tickets WHERE account = ?1"
             " UNION ALL SELECT 'survey', strftime('%Y-%m-%dT%H:%M:%SZ',"
             " coalesce(responded_at, sent_at), 'unixepoch'), upper(type) || ' survey' ||"
             " CASE WHEN score IS NULL THEN '' ELSE ': ' || score END,"
             " trim(coalesce(reason, '') || ' ' || coalesce(comment, ''))"
             " FROM surveys WHERE account = ?1 AND coalesce(responded_at, sent_at) IS NOT NULL"
             " ORDER BY 2 DESC LIMIT 200",
             &q);
    if (s != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, account);
    return rows_into(st, q, timeline);
}

/* ---- backtests and models ------------------------------------------- */

/* Appends the rows of sql to items. */
static cw_status items_query(cw_store *st, const char *sql, json_t *items)
{
    sqlite3_stmt *q;
    cw_status s = prep(st, sql, &q);
    if (s != CW_OK)
        return s;
    return rows_into(st, q, items);
}

cw_status cw_store_api_backtests(cw_store *st, json_t *items)
{
    return items_query(st,
                       "SELECT id, strftime('%Y-%m-%dT%H:%M:%SZ', at, 'unixepoch') AS at, subject,"
                       " result AS result_json FROM backtests ORDER BY at DESC, id DESC LIMIT 50",
                       items);
}

/* The stored models, newest first: what a model is (kind, window, horizon,
 * rounds), what it learnt from (feature_set: the custom metrics and event
 * names beyond the catalogue, the columns dropped as all-missing; labels:
 * the data end and the rows left out), how it tested and what it looks at;
 * the per-column feature list, the ROC points and the body stay out
 * (`churnwatch train`, docs/model.md). */
cw_status cw_store_api_models(cw_store *st, json_t *items)
{
    return items_query(
        st,
        "SELECT id, name, kind, strftime('%Y-%m-%dT%H:%M:%SZ', created_at, 'unixepoch') AS"
        " created_at, active != 0 AS active, json_extract(meta, '$.library') AS library,"
        " json_extract(meta, '$.horizon_days') AS horizon_days,"
        " json_extract(meta, '$.windows') AS windows_json,"
        " json_extract(meta, '$.boosting') AS boosting_json,"
        " json_extract(meta, '$.feature_set') AS feature_set_json,"
        " json_extract(meta, '$.labels') AS labels_json,"
        " json_remove(json_extract(meta, '$.test'), '$.roc') AS test_json,"
        " json_extract(meta, '$.importance') AS importance_json"
        " FROM models WHERE json_valid(meta) ORDER BY active DESC, id DESC LIMIT 20",
        items);
}

/* ---- alerts ------------------------------------------------------------
 * The alerts tables of lib/alerts/alerts.c (migration "alerts"): statuses 1 open,
 * 2 acknowledged, 3 snoozed (snoozed_until is a day), 4/5/6 closed
 * (auto-resolved, by hand, gone); opened_day is a day; vals the JSON of the
 * metric values that raised it. Snoozes are judged on the alerts' clock:
 * the last evaluated day (alert_days). */

#define ALERT_COLUMNS                                                                              \
    "SELECT l.id, a.account_id AS account, a.name AS account_name, u.user_id AS user, l.rule,"     \
    " CASE l.severity WHEN 2 THEN 'critical' ELSE 'warning' END AS severity, l.status,"            \
    " l.vals, l.playbook, l.acked_by, date(l.opened_day * 86400, 'unixepoch') AS opened_at,"       \
    " (SELECT strftime('%Y-%m-%dT%H:%M:%SZ', max(e.at), 'unixepoch') FROM alert_events e"          \
    "  WHERE e.alert = l.id) AS updated_at,"                                                       \
    " CASE WHEN l.status = 3 THEN date(l.snoozed_until * 86400, 'unixepoch') END AS "              \
    "snoozed_until,"                                                                               \
    " CASE WHEN l.closed_day IS NOT NULL THEN date(l.closed_day * 86400, 'unixepoch') END"         \
    " AS closed_at"                                                                                \
    " FROM alerts l JOIN accounts a ON a.id = l.account LEFT JOIN users u ON u.id = l.user"

/* :st -1 all, -2 open (incl. snoozes due by :today), -4 resolved, else
 * one status. */
#define ALERT_WHERE                                                                                \
    " WHERE (:account IS NULL OR a.account_id = :account)"                                         \
    " AND (:st = -1 OR (:st = -2 AND (l.status IN (1, 2) OR (l.status = 3 AND"                     \
    "      coalesce(l.snoozed_until, 0) <= :today))) OR (:st = -4 AND l.status IN (4, 5, 6))"      \
    "      OR l.status = :st)"

cw_status cw_store_api_alerts_today(cw_store *st, int64_t now, int64_t *today)
{
    sqlite3_stmt *q;
    cw_status s = prep(st, "SELECT max(day) FROM alert_days", &q);
    if (s != CW_OK)
        return s;
    *today = now / 86400;
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
        *today = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return CW_OK;
}

cw_status cw_store_api_alerts(cw_store *st, int code, const char *account, int64_t today,
                              int64_t limit, int64_t offset, json_t *items, int64_t *total)
{
    sqlite3_stmt *q, *qc;
    cw_status s =
        prep(st,
             ALERT_COLUMNS ALERT_WHERE
             " ORDER BY l.opened_day DESC, l.severity DESC, l.id DESC LIMIT :limit OFFSET :offset",
             &q);
    if (s == CW_OK && (s = prep(st,
                                "SELECT count(*) FROM alerts l JOIN accounts a ON"
                                " a.id = l.account" ALERT_WHERE,
                                &qc)) != CW_OK)
        sqlite3_finalize(q);
    if (s != CW_OK)
        return s;
    *total = 0;
    sqlite3_stmt *both[2] = {q, qc};
    for (int i = 0; i < 2; i++) {
        bind_name_text(both[i], ":account", account);
        bind_name_i64(both[i], ":st", code, 0);
        bind_name_i64(both[i], ":today", today, 0);
    }
    bind_name_i64(q, ":limit", limit, 0);
    bind_name_i64(q, ":offset", offset, 0);
    if ((s = rows_into(st, q, items)) == CW_OK) {
        if (sqlite3_step(qc) == SQLITE_ROW)
            *total = sqlite3_column_int64(qc, 0);
        else
            s = fail(st, "alerts count");
    }
    sqlite3_finalize(qc);
    return s;
}

cw_status cw_store_api_alert(cw_store *st, int64_t id, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *q;
    cw_status s;
    if ((s = prep(st, ALERT_COLUMNS " WHERE l.id = ?", &q)) != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        *out = row_object(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW)
        return fail(st, "alert");
    return CW_OK;
}
