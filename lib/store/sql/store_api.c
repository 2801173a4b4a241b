/*
 * store/sql/store_api.c — the SQL behind the JSON API and the HTML report
 * (store/store_api.h; lib/api/ shapes the answers), written once for both
 * backends over the statement seam (store/sql.h). Every statement is
 * parameterised; the only SQL chosen at run time is an ORDER BY picked from
 * a fixed table by sort key.
 *
 * Rows become JSON generically (row_object), by column name:
 *   "x_json"  JSON text, served as the value of "x";
 *   "x_ymd"   Unix seconds, served as "x": "YYYY-MM-DD" (UTC);
 *   "x_iso"   Unix seconds, served as "x": "YYYY-MM-DDTHH:MM:SSZ";
 *   "_x"      read here, not served;
 * REAL NaN becomes null. Dates and JSON documents are taken apart here, in
 * C, not in SQL: SQLite and PostgreSQL share no date or JSON functions
 * (date()/json_extract() against to_char()/->>), and the pages are small.
 *
 * Dates go out as "YYYY-MM-DD" strings (days since the epoch in scores and
 * snapshots, Unix seconds elsewhere), money as integer minor units beside
 * its currency. Computed integers are CAST AS BIGINT so that both backends
 * hand up integers where SQLite always did.
 */
#include "core/buf.h"
#include "store/sql.h"
#include "store/store.h"
#include "store/store_api.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static cw_status prep(cw_store *st, const char *sql, cw_stmt **q)
{
    if (cw_sql_prep(st, sql, 0, q, "query") != CW_OK) {
        *q = NULL;
        return CW_ERR_DB;
    }
    return CW_OK;
}

/* How a column is served, by the suffix of its name. */
enum { COL_PLAIN, COL_JSON, COL_YMD, COL_ISO };

/* The kind of the column called name, and *keylen the length of the key it
 * is served under (the name without its suffix). */
static int col_kind(const char *name, size_t *keylen)
{
    static const struct {
        const char *suffix;
        int kind;
    } kinds[] = {{"_json", COL_JSON}, {"_ymd", COL_YMD}, {"_iso", COL_ISO}};
    size_t nl = strlen(name);
    *keylen = nl;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t sl = strlen(kinds[k].suffix);
        if (nl > sl && strcmp(name + nl - sl, kinds[k].suffix) == 0) {
            *keylen = nl - sl;
            return kinds[k].kind;
        }
    }
    return COL_PLAIN;
}

/* Unix seconds t as SQLite's date() / strftime('%Y-%m-%dT%H:%M:%SZ') wrote
 * them; NULL outside the years 0000-9999, as there. */
static const char *format_time(int64_t t, cw_time_layout layout, char *buf, size_t n)
{
    if (t < -62167219200LL || t > 253402300799LL)
        return NULL;
    return cw_time_format(t, layout, buf, n);
}

static json_t *time_value(cw_stmt *q, int i, cw_time_layout layout)
{
    int type = cw_sql_col_type(q, i);
    if (type == CW_SQL_NULL)
        return json_null();
    int64_t t =
        type == CW_SQL_FLOAT ? (int64_t)floor(cw_sql_col_double(q, i)) : cw_sql_col_i64(q, i);
    char buf[32];
    const char *s = format_time(t, layout, buf, sizeof buf);
    return s ? json_string(s) : json_null();
}

static json_t *col_value(cw_stmt *q, int i, int kind)
{
    if (kind == COL_YMD || kind == COL_ISO)
        return time_value(q, i, kind == COL_YMD ? CW_TIME_DATE : CW_TIME_TIMESTAMP);
    switch (cw_sql_col_type(q, i)) {
    case CW_SQL_INTEGER: return json_integer(cw_sql_col_i64(q, i));
    case CW_SQL_FLOAT: {
        double d = cw_sql_col_double(q, i);
        return isfinite(d) ? json_real(d) : json_null();
    }
    case CW_SQL_TEXT: {
        const char *t = (const char *)cw_sql_col_text(q, i);
        size_t n = (size_t)cw_sql_col_bytes(q, i);
        if (kind == COL_JSON) {
            json_t *j = json_loadb(t, n, JSON_DECODE_ANY, NULL);
            return j ? j : json_null();
        }
        return json_stringn(t, n);
    }
    default: return json_null();
    }
}

/* The current row as an object keyed by column name (suffix cut), without
 * the columns whose name starts with "_". */
static json_t *row_object(cw_stmt *q)
{
    json_t *o = json_object();
    int n = cw_sql_col_count(q);
    for (int i = 0; i < n; i++) {
        const char *name = cw_sql_col_name(q, i);
        size_t nl;
        char key[64];
        if (name[0] == '_')
            continue;
        int kind = col_kind(name, &nl);
        if (nl >= sizeof key)
            nl = sizeof key - 1;
        memcpy(key, name, nl);
        key[nl] = '\0';
        json_object_set_new(o, key, col_value(q, i, kind));
    }
    return o;
}

/* Steps q to the end, appending each row to arr; finalizes q. */
static cw_status rows_into(cw_store *st, cw_stmt *q, json_t *arr)
{
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW)
        json_array_append_new(arr, row_object(q));
    cw_status s = rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "query");
    cw_sql_finalize(q);
    return s;
}

static cw_status scalar_i64(cw_store *st, const char *sql, int64_t bind1, int64_t *out, int *null)
{
    cw_stmt *q;
    cw_status s = prep(st, sql, &q);
    if (s != CW_OK)
        return s;
    if (cw_sql_param_count(q) >= 1)
        cw_sql_bind_i64(q, 1, bind1);
    int rc = cw_sql_step(q);
    *null = rc != CW_SQL_ROW || cw_sql_col_type(q, 0) == CW_SQL_NULL;
    *out = *null ? 0 : cw_sql_col_i64(q, 0);
    s = rc == CW_SQL_ROW || rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "query");
    cw_sql_finalize(q);
    return s;
}

/* ---- JSON columns, taken apart in C ------------------------------------
 * These reproduce what SQLite's json_extract() handed up when it ran in SQL,
 * so the answers stay as they were: a JSON value v becomes, as an SQL
 * value, text for a string, 1/0 for true/false, NULL for null, and the
 * compact JSON text of an object or an array. */

/* v (may be NULL: absent) as a plain column serves json_extract's value. */
static json_t *json_as_plain(json_t *v)
{
    if (!v || json_is_null(v))
        return json_null();
    if (json_is_boolean(v))
        return json_integer(json_is_true(v));
    if (json_is_object(v) || json_is_array(v)) {
        char *t = json_dumps(v, JSON_COMPACT);
        json_t *j = t ? json_string(t) : json_null();
        free(t);
        return j;
    }
    return json_incref(v);
}

/* v as an "x_json" column serves json_extract's value: the text is parsed
 * again, so a string holds JSON text (else null). */
static json_t *json_as_json(json_t *v)
{
    if (json_is_string(v)) {
        json_t *j = json_loadb(json_string_value(v), json_string_length(v), JSON_DECODE_ANY, NULL);
        return j ? j : json_null();
    }
    if (json_is_object(v) || json_is_array(v))
        return json_incref(v);
    return json_as_plain(v);
}

/* SQLite's round(r) to an integer, digit for digit: half away from zero,
 * computed as SQLite 3.40 does. */
static int64_t sqlite_round(double r)
{
    if (!(fabs(r) < 9.2e18))
        return r < 0 ? INT64_MIN : INT64_MAX;
    return r < 0 ? -(int64_t)(-r + 0.5) : (int64_t)(r + 0.5);
}

/* The top driver in words: the model's first driver text (drivers is a JSON
 * array of {"text": …}), else the scorecard measure that cost the most
 * points, "usage (-12 points)" (contrib is a JSON object of points per
 * measure, or an array; the first of equal minima). NULL texts or malformed JSON give
 * nothing. */
static json_t *top_driver(const char *drivers, const char *contrib)
{
    json_t *d = drivers ? json_loads(drivers, JSON_DECODE_ANY, NULL) : NULL;
    json_t *text = json_object_get(json_array_get(d, 0), "text");
    json_t *out = text && !json_is_null(text) ? json_as_plain(text) : NULL;
    json_decref(d);
    if (out)
        return out;
    json_t *c = contrib ? json_loads(contrib, JSON_DECODE_ANY, NULL) : NULL;
    const char *key, *min_key = NULL;
    json_t *v;
    double min = 0;
    char idx[24];
    size_t i;
    json_object_foreach (c, key, v) {
        if (json_is_number(v) && json_number_value(v) < min) {
            min = json_number_value(v);
            min_key = key;
        }
    }
    json_array_foreach (c, i, v) {
        if (json_is_number(v) && json_number_value(v) < min) {
            min = json_number_value(v);
            snprintf(idx, sizeof idx, "%zu", i); /* json_each's key of an array */
            min_key = idx;
        }
    }
    out = min_key ? json_sprintf("%s (%lld points)", min_key, (long long)sqlite_round(min))
                  : json_null();
    json_decref(c);
    return out ? out : json_null();
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

cw_status cw_store_api_flag_cut(cw_store *st, const cw_api_view *v, const cw_flag_rule *r,
                                double *p_cut, int64_t *id_cut, int *any)
{
    *any = 0;
    *p_cut = INFINITY;
    *id_cut = -1;
    if (v->model < 0 || v->pred_day < 0)
        return CW_OK;
    if (!(r->share > 0)) {
        *any = 1;
        *p_cut = r->p_at_least;
        *id_cut = INT64_MAX;
        return CW_OK;
    }
    cw_stmt *q;
    cw_status s = prep(st, "SELECT count(*) FROM predictions WHERE model = ? AND day = ?", &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, v->model);
    cw_sql_bind_i64(q, 2, v->pred_day);
    int rc = cw_sql_step(q);
    int64_t n = rc == CW_SQL_ROW ? cw_sql_col_i64(q, 0) : 0;
    s = rc == CW_SQL_ROW || rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "query");
    cw_sql_finalize(q);
    int64_t k = cw_flag_count(r, n);
    if (s != CW_OK || k < 1)
        return s;
    if ((s = prep(st,
                  "SELECT probability, account FROM predictions WHERE model = ? AND day = ?"
                  " ORDER BY probability DESC, account LIMIT 1 OFFSET ?",
                  &q)) != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, v->model);
    cw_sql_bind_i64(q, 2, v->pred_day);
    cw_sql_bind_i64(q, 3, k - 1);
    rc = cw_sql_step(q);
    if (rc == CW_SQL_ROW) {
        *any = 1;
        *p_cut = cw_sql_col_double(q, 0);
        *id_cut = cw_sql_col_i64(q, 1);
    }
    s = rc == CW_SQL_ROW || rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "query");
    cw_sql_finalize(q);
    return s;
}

/* The API's change detector (store_api.h); lib/api's accounts cache only
 * compares it for equality between requests.
 * SQLite: PRAGMA data_version, exact, per connection.
 * PostgreSQL: cw_api_version.n, a counter that every transaction writing
 * accounts, scores or predictions raises by one as it commits (triggers,
 * store/pg/pg_ddl.c, cw_pg_api_counter); serve's own writes (tokens,
 * alert actions) and the other tables leave it alone.
 *
 * Why a cache filled after reading it is never stale: serve answers each
 * request in one REPEATABLE READ transaction (cw_store_read_begin), so the
 * counter and the rows the cache is filled from are read in one snapshot.
 * A writer's bump and its rows become visible in the same commit, so a
 * snapshot holds either both or neither: the number kept with the cache is
 * exactly the one its rows belong to. A commit after that snapshot shows
 * at the next request as a different number, and the cache is refilled.
 * Read outside such a transaction (each statement its own snapshot) it
 * would still be safe, because it is read before the rows: a commit in
 * between gives newer rows under an older number, and only one refill
 * more. */
cw_status cw_store_data_version(cw_store *st, int64_t *out)
{
    int null;
    cw_status s = scalar_i64(st,
                             cw_sql_dialect(st) == CW_DIALECT_SQLITE
                                 ? "PRAGMA data_version"
                                 : "SELECT n FROM cw_api_version WHERE id = 1",
                             0, out, &null);
    if (s == CW_OK && null)
        return cw_store_set_error(st, CW_ERR_DB, "data version: cw_api_version has no row");
    return s;
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

/* Filters on the accounts row alone. The search is a LIKE pattern
 * (:pattern, "%text%" with its wildcards escaped): instr() is SQLite's,
 * strpos() PostgreSQL's. */
#define ACCOUNT_FILTERS                                                                            \
    " AND (CAST(:segment AS TEXT) IS NULL OR a.segment = :segment)"                                \
    " AND (CAST(:owner AS TEXT) IS NULL OR a.owner = :owner)"                                      \
    " AND (CAST(:status AS TEXT) IS NULL OR a.status = :status)"                                   \
    " AND (CAST(:pattern AS TEXT) IS NULL OR lower(a.name) LIKE lower(:pattern) ESCAPE '\\'"       \
    "      OR lower(a.account_id) LIKE lower(:pattern) ESCAPE '\\')"                               \
    " AND (CAST(:rdays AS BIGINT) IS NULL OR (a.renewal_date >= :asof"                             \
    "      AND a.renewal_date < :asof + CAST(:rdays AS BIGINT) * 86400))"

#define ACCOUNTS_FROM                                                                              \
    " FROM accounts a"                                                                             \
    " LEFT JOIN scores s ON s.day = :sday AND s.account = a.id"                                    \
    " LEFT JOIN predictions p ON p.day = :pday AND p.account = a.id AND p.model = :model"          \
    " WHERE (CAST(:colour AS BIGINT) IS NULL OR s.colour = :colour)" ACCOUNT_FILTERS

/* The total needs no join unless a colour is asked for: then it is driven
 * by that day's scores. */
#define COUNT_ALL "SELECT count(*) FROM accounts a WHERE 1 = 1" ACCOUNT_FILTERS
#define COUNT_COLOUR                                                                               \
    "SELECT count(*) FROM scores s JOIN accounts a ON a.id = s.account"                            \
    " WHERE s.day = :sday AND s.colour = :colour" ACCOUNT_FILTERS

static void bind_name_i64(cw_stmt *q, const char *name, int64_t v, int null)
{
    int i = cw_sql_param_index(q, name);
    if (i > 0) {
        if (null)
            cw_sql_bind_null(q, i);
        else
            cw_sql_bind_i64(q, i, v);
    }
}

static void bind_name_text(cw_stmt *q, const char *name, const char *v)
{
    int i = cw_sql_param_index(q, name);
    if (i > 0) {
        if (v)
            cw_sql_bind_text_copy(q, i, v, -1);
        else
            cw_sql_bind_null(q, i);
    }
}

/* "%search%" for LIKE … ESCAPE '\', the wildcards of search escaped (a
 * substring match, as the accounts cache does); NULL without a search or
 * out of memory (*nomem set). */
static char *search_pattern(const char *search, int *nomem)
{
    *nomem = 0;
    if (!search || !*search)
        return NULL;
    size_t n = strlen(search), k = 0;
    char *p = malloc(2 * n + 3);
    if (!p) {
        *nomem = 1;
        return NULL;
    }
    p[k++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (search[i] == '%' || search[i] == '_' || search[i] == '\\')
            p[k++] = '\\';
        p[k++] = search[i];
    }
    p[k++] = '%';
    p[k] = '\0';
    return p;
}

static void bind_accounts(cw_stmt *q, const cw_api_accounts_q *f, const char *pattern, int64_t sday,
                          int64_t pday, int64_t model, int64_t asof_unix)
{
    bind_name_i64(q, ":sday", sday, 0);
    bind_name_i64(q, ":pday", pday, 0);
    bind_name_i64(q, ":model", model, 0);
    bind_name_i64(q, ":colour", f->colour, f->colour < 0);
    bind_name_text(q, ":segment", f->segment);
    bind_name_text(q, ":owner", f->owner);
    bind_name_text(q, ":status", f->status);
    bind_name_text(q, ":pattern", pattern);
    bind_name_i64(q, ":rdays", f->renewal_days, f->renewal_days < 0);
    bind_name_i64(q, ":asof", asof_unix, 0);
}

static cw_status sparkline(cw_store *st, cw_stmt *q, int64_t account, int n, json_t *item)
{
    cw_sql_reset(q);
    cw_sql_bind_i64(q, 1, account);
    cw_sql_bind_i64(q, 2, n);
    json_t *pts = json_array();
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW)
        json_array_insert_new(pts, 0, json_real(cw_sql_col_double(q, 0)));
    json_object_set_new(item, "trend", pts);
    return rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "sparkline");
}

static double col_or_nan(cw_stmt *q, int i)
{
    return cw_sql_col_type(q, i) == CW_SQL_NULL ? (double)NAN : cw_sql_col_double(q, i);
}

cw_status cw_store_api_list_scan(cw_store *st, const cw_api_view *v,
                                 cw_status (*fn)(const cw_api_list_row *r, void *ud), void *ud)
{
    cw_stmt *q;
    cw_status s =
        prep(st,
             "SELECT a.id, a.mrr_minor, a.renewal_date, s.score, p.probability,"
             " s.change, s.colour, a.name, a.account_id, a.segment, a.owner, a.status"
             " FROM accounts a LEFT JOIN scores s ON s.day = ?1 AND s.account = a.id"
             " LEFT JOIN predictions p ON p.day = ?2 AND p.account = a.id AND p.model = ?3",
             &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, v->score_day);
    cw_sql_bind_i64(q, 2, v->pred_day);
    cw_sql_bind_i64(q, 3, v->model);
    int rc;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        cw_api_list_row r;
        r.id = cw_sql_col_i64(q, 0);
        r.mrr_minor = cw_sql_col_i64(q, 1);
        r.renewal_unix = cw_sql_col_type(q, 2) == CW_SQL_NULL ? INT64_MIN : cw_sql_col_i64(q, 2);
        r.score = col_or_nan(q, 3);
        r.prob = col_or_nan(q, 4);
        r.change = col_or_nan(q, 5);
        r.colour = cw_sql_col_type(q, 6) == CW_SQL_NULL ? -1 : cw_sql_col_int(q, 6);
        const char *t[5];
        for (int i = 0; i < 5; i++) {
            t[i] = (const char *)cw_sql_col_text(q, 7 + i);
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
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "accounts");
    cw_sql_finalize(q);
    return s;
}

/* The money at risk rounds as SQLite's round() did (half away from zero),
 * which PostgreSQL's round(float8) does not (half to even). */
#define AT_RISK "a.mrr_minor * p.probability"
#define PAGE_ROW_SQL                                                                               \
    "SELECT a.id AS _id, a.account_id AS id, a.name, a.segment, a.owner, a.status,"                \
    " a.seats, a.mrr_minor, a.currency, a.renewal_date AS renewal_date_ymd,"                       \
    " CASE WHEN a.renewal_date IS NULL THEN NULL ELSE"                                             \
    " CAST(floor((a.renewal_date - :asof) / 86400.0) AS BIGINT) END AS days_to_renewal,"           \
    " s.score, s.colour, s.change, p.probability,"                                                 \
    " CASE WHEN p.probability IS NULL THEN NULL WHEN " AT_RISK " < 0"                              \
    " THEN CAST(-floor(0.5 - " AT_RISK ") AS BIGINT)"                                              \
    " ELSE CAST(floor(" AT_RISK " + 0.5) AS BIGINT) END AS mrr_at_risk_minor,"                     \
    " p.drivers AS _drivers, s.contrib AS _contrib"
enum { PAGE_DRIVERS = 16, PAGE_CONTRIB = 17 }; /* their columns */

/* The current row of a PAGE_ROW_SQL statement as served: the columns, then
 * "top_driver". */
static json_t *page_row(cw_stmt *q)
{
    json_t *o = row_object(q);
    /* accounts.id, for the API's flag (removed before it is served) */
    json_object_set_new(o, "_rid", json_integer(cw_sql_col_i64(q, 0)));
    json_object_set_new(o, "top_driver",
                        top_driver((const char *)cw_sql_col_text(q, PAGE_DRIVERS),
                                   (const char *)cw_sql_col_text(q, PAGE_CONTRIB)));
    return o;
}

#define SPARKLINE_SQL "SELECT score FROM scores WHERE account=? ORDER BY day DESC LIMIT ?"

/* An id of a page and its place in it, sorted by id for bsearch. */
typedef struct page_slot {
    int64_t id;
    size_t at;
} page_slot;

static int slot_cmp(const void *a, const void *b)
{
    int64_t x = ((const page_slot *)a)->id, y = ((const page_slot *)b)->id;
    return (x > y) - (x < y);
}

/* The place of id in the page (slots sorted by id); -1 when not there. */
static long slot_of(const page_slot *slots, size_t n, int64_t id)
{
    page_slot key = {id, 0};
    const page_slot *h = bsearch(&key, slots, n, sizeof *slots, slot_cmp);
    return h ? (long)h->at : -1;
}

/* Appends ",?" n times (the first without its comma): an IN list. */
static void in_list(cw_buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cw_buf_adds(b, i ? ",?" : "?");
}

/* Binds ids to the last n parameters of q (its IN list). */
static void bind_ids(cw_stmt *q, const int64_t *ids, size_t n)
{
    int base = cw_sql_param_count(q) - (int)n + 1;
    for (size_t i = 0; i < n; i++)
        cw_sql_bind_i64(q, base + (int)i, ids[i]);
}

/* The sparklines of a page's rows: on PostgreSQL one statement for the
 * page (a LATERAL join reads each account's last npts scores from its
 * index; one round trip instead of one per row), on SQLite, which has no
 * LATERAL and no round trips, the one-account statement per row, which
 * reads just those npts index entries. Both give each row's last npts
 * scores, oldest first. */
static cw_status page_sparklines(cw_store *st, const int64_t *ids, const page_slot *slots, size_t n,
                                 int npts, json_t **rows)
{
    cw_stmt *q;
    cw_status s;
    if (cw_sql_dialect(st) != CW_DIALECT_PG) {
        if ((s = prep(st, SPARKLINE_SQL, &q)) != CW_OK)
            return s;
        for (size_t i = 0; i < n && s == CW_OK; i++)
            s = sparkline(st, q, ids[i], npts, rows[i]);
        cw_sql_finalize(q);
        return s;
    }
    cw_buf b;
    cw_buf_init(&b, CW_BUF_MAX_DOC);
    cw_buf_adds(&b, "SELECT a.id, t.score FROM accounts a CROSS JOIN LATERAL"
                    " (SELECT day, score FROM scores WHERE account = a.id"
                    " ORDER BY day DESC LIMIT ?1) t WHERE a.id IN (");
    in_list(&b, n);
    cw_buf_adds(&b, ") ORDER BY a.id, t.day");
    char *sql = cw_buf_steal(&b, NULL);
    if (!sql)
        return cw_store_set_error(st, CW_ERR_NOMEM, "api: out of memory listing accounts");
    s = prep(st, sql, &q);
    free(sql);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, npts);
    bind_ids(q, ids, n);
    json_t **pts = calloc(n, sizeof *pts);
    if (!pts) {
        cw_sql_finalize(q);
        return cw_store_set_error(st, CW_ERR_NOMEM, "api: out of memory listing accounts");
    }
    for (size_t i = 0; i < n; i++) {
        pts[i] = json_array();
        json_object_set_new(rows[i], "trend", pts[i]);
    }
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        long at = slot_of(slots, n, cw_sql_col_i64(q, 0));
        if (at >= 0)
            json_array_append_new(pts[at], json_real(cw_sql_col_double(q, 1)));
    }
    s = rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "sparkline");
    free(pts);
    cw_sql_finalize(q);
    return s;
}

/* The page's rows in one statement (WHERE a.id IN (the page's ids)),
 * placed in the page's order, then their sparklines. */
cw_status cw_store_api_list_rows(cw_store *st, const cw_api_view *v, const int64_t *ids, size_t n,
                                 int sparkline_n, json_t *items)
{
    if (n == 0)
        return CW_OK;
    json_t **rows = calloc(n, sizeof *rows);
    page_slot *slots = malloc(n * sizeof *slots);
    cw_buf b;
    cw_buf_init(&b, CW_BUF_MAX_DOC);
    cw_buf_adds(&b, PAGE_ROW_SQL " FROM accounts a"
                                 " LEFT JOIN scores s ON s.day = :sday AND s.account = a.id"
                                 " LEFT JOIN predictions p ON p.day = :pday AND p.account = a.id"
                                 " AND p.model = :model WHERE a.id IN (");
    in_list(&b, n);
    cw_buf_addc(&b, ')');
    char *sql = cw_buf_steal(&b, NULL);
    cw_stmt *q = NULL;
    cw_status s = !rows || !slots || !sql
                      ? cw_store_set_error(st, CW_ERR_NOMEM, "api: out of memory listing accounts")
                      : prep(st, sql, &q);
    free(sql);
    if (s == CW_OK) {
        for (size_t i = 0; i < n; i++)
            slots[i] = (page_slot){ids[i], i};
        qsort(slots, n, sizeof *slots, slot_cmp);
        bind_name_i64(q, ":sday", v->score_day, 0);
        bind_name_i64(q, ":pday", v->pred_day, 0);
        bind_name_i64(q, ":model", v->model, 0);
        bind_name_i64(q, ":asof", v->day * 86400, 0);
        bind_ids(q, ids, n);
        int rc;
        while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
            long at = slot_of(slots, n, cw_sql_col_i64(q, 0));
            if (at >= 0 && !rows[at])
                rows[at] = page_row(q);
        }
        if (rc != CW_SQL_DONE)
            s = cw_sql_fail(st, "account row");
        cw_sql_finalize(q);
    }
    for (size_t i = 0; s == CW_OK && i < n; i++)
        if (!rows[i])
            s = cw_store_set_error(st, CW_ERR_DB, "account row: account %lld is gone",
                                   (long long)ids[i]);
    if (s == CW_OK && sparkline_n > 0)
        s = page_sparklines(st, ids, slots, n, sparkline_n, rows);
    for (size_t i = 0; i < n; i++) {
        if (rows && rows[i]) {
            if (s == CW_OK)
                json_array_append_new(items, rows[i]);
            else
                json_decref(rows[i]);
        }
    }
    free(rows);
    free(slots);
    return s;
}

cw_status cw_store_api_list_sql(cw_store *st, const cw_api_view *v, const cw_api_accounts_q *f,
                                cw_api_sort key, int desc, json_t *items, int64_t *total)
{
    /* Two phases in one statement: the inner query sorts only keys to pick
     * the page; the outer one reads the page's rows (and C their JSON and
     * dates) for those rows alone, not for every account. */
    const char *order = desc ? sorts[key].desc : sorts[key].asc;
    char sql[4096];
    snprintf(sql, sizeof sql,
             PAGE_ROW_SQL " FROM (SELECT a.id AS pid" ACCOUNTS_FROM
                          " ORDER BY %s LIMIT :limit OFFSET :offset) AS page"
                          " JOIN accounts a ON a.id = page.pid"
                          " LEFT JOIN scores s ON s.day = :sday AND s.account = a.id"
                          " LEFT JOIN predictions p ON p.day = :pday AND p.account = a.id"
                          " AND p.model = :model ORDER BY %s",
             order, order);
    int nomem;
    char *pattern = search_pattern(f->search, &nomem);
    if (nomem)
        return cw_store_set_error(st, CW_ERR_NOMEM, "api: out of memory listing accounts");
    cw_stmt *q = NULL, *qc = NULL, *qs = NULL;
    cw_status s;
    if ((s = prep(st, sql, &q)) != CW_OK ||
        (s = prep(st, f->colour < 0 ? COUNT_ALL : COUNT_COLOUR, &qc)) != CW_OK ||
        (s = prep(st, SPARKLINE_SQL, &qs)) != CW_OK) {
        cw_sql_finalize(q);
        cw_sql_finalize(qc);
        free(pattern);
        return s;
    }
    int64_t asof_unix = v->day * 86400;
    bind_accounts(q, f, pattern, v->score_day, v->pred_day, v->model, asof_unix);
    bind_accounts(qc, f, pattern, v->score_day, v->pred_day, v->model, asof_unix);
    free(pattern);
    bind_name_i64(q, ":limit", f->limit, 0);
    bind_name_i64(q, ":offset", f->offset, 0);
    int rc;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        json_t *it = page_row(q);
        int64_t id = cw_sql_col_i64(q, 0);
        if (f->sparkline > 0)
            s = sparkline(st, qs, id, f->sparkline, it);
        json_array_append_new(items, it);
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "accounts");
    *total = 0;
    if (s == CW_OK) {
        if (cw_sql_step(qc) == CW_SQL_ROW)
            *total = cw_sql_col_i64(qc, 0);
        else
            s = cw_sql_fail(st, "accounts count");
    }
    cw_sql_finalize(q);
    cw_sql_finalize(qc);
    cw_sql_finalize(qs);
    return s;
}

/* ---- facets ---------------------------------------------------------- */

cw_status cw_store_api_facets(cw_store *st, const cw_api_view *v, json_t *segments, json_t *owners,
                              int64_t colour_counts[3])
{
    cw_stmt *q;
    int rc = CW_SQL_DONE;
    cw_status s;
    if ((s = prep(st, "SELECT DISTINCT segment FROM accounts ORDER BY 1", &q)) == CW_OK) {
        while ((rc = cw_sql_step(q)) == CW_SQL_ROW)
            json_array_append_new(segments, col_value(q, 0, COL_PLAIN));
        if (rc != CW_SQL_DONE)
            s = cw_sql_fail(st, "facets");
        cw_sql_finalize(q);
    }
    if (s == CW_OK &&
        (s = prep(st, "SELECT DISTINCT owner FROM accounts WHERE owner IS NOT NULL ORDER BY 1",
                  &q)) == CW_OK) {
        while ((rc = cw_sql_step(q)) == CW_SQL_ROW)
            json_array_append_new(owners, col_value(q, 0, COL_PLAIN));
        if (rc != CW_SQL_DONE)
            s = cw_sql_fail(st, "facets");
        cw_sql_finalize(q);
    }
    if (s == CW_OK &&
        (s = prep(st, "SELECT colour, count(*) FROM scores WHERE day=? GROUP BY colour", &q)) ==
            CW_OK) {
        cw_sql_bind_i64(q, 1, v->score_day);
        for (int i = 0; i < 3; i++)
            colour_counts[i] = 0;
        while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
            int c = cw_sql_col_int(q, 0);
            if (c >= 0 && c < 3)
                colour_counts[c] = cw_sql_col_i64(q, 1);
        }
        if (rc != CW_SQL_DONE)
            s = cw_sql_fail(st, "facets");
        cw_sql_finalize(q);
    }
    return s;
}

/* ---- one account ---------------------------------------------------- */

cw_status cw_store_api_account_row(cw_store *st, const cw_api_view *v, const char *account_id,
                                   int64_t *id, json_t **out)
{
    *out = NULL;
    cw_stmt *q;
    cw_status s;
    if ((s = prep(st,
                  "SELECT id AS _id, account_id AS id, name, segment, owner, status, seats,"
                  " mrr_minor, currency, contract_start AS contract_start_ymd,"
                  " renewal_date AS renewal_date_ymd,"
                  " CASE WHEN renewal_date IS NULL THEN NULL ELSE"
                  " CAST(floor((renewal_date - ?) / 86400.0) AS BIGINT) END AS days_to_renewal,"
                  " churn_date AS churn_date_ymd, churn_reason"
                  " FROM accounts WHERE account_id = ?",
                  &q)) != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, v->day * 86400);
    cw_sql_bind_text_copy(q, 2, account_id, -1);
    int rc = cw_sql_step(q);
    if (rc != CW_SQL_ROW) {
        s = rc == CW_SQL_DONE
                ? cw_store_set_error(st, CW_ERR_NOTFOUND, "no account '%s'", account_id)
                : cw_sql_fail(st, "account");
        cw_sql_finalize(q);
        return s;
    }
    *out = row_object(q);
    *id = cw_sql_col_i64(q, 0);
    cw_sql_finalize(q);
    return CW_OK;
}

/* History of one account (?1 account, ?2 model when the statement has it)
 * from hist_sql into arr, then the columns of last_sql's first row merged
 * into latest (when arr is not empty). */
static cw_status history(cw_store *st, int64_t id, int64_t model, const char *hist_sql,
                         const char *last_sql, json_t *arr, json_t *latest)
{
    cw_stmt *q;
    cw_status s;
    if ((s = prep(st, hist_sql, &q)) != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, id);
    if (cw_sql_param_count(q) >= 2)
        cw_sql_bind_i64(q, 2, model);
    if ((s = rows_into(st, q, arr)) != CW_OK || !json_array_size(arr) ||
        (s = prep(st, last_sql, &q)) != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, id);
    if (cw_sql_param_count(q) >= 2)
        cw_sql_bind_i64(q, 2, model);
    if (cw_sql_step(q) == CW_SQL_ROW) {
        json_t *r = row_object(q);
        json_object_update(latest, r);
        json_decref(r);
    }
    cw_sql_finalize(q);
    return CW_OK;
}

cw_status cw_store_api_account_scores(cw_store *st, int64_t id, json_t *scores, json_t *latest)
{
    return history(st, id, 0,
                   "SELECT day * 86400 AS day_ymd, score, colour, change"
                   " FROM scores WHERE account = ?1 ORDER BY day",
                   "SELECT scorecard, contrib AS contrib_json FROM scores WHERE account = ?1"
                   " ORDER BY day DESC LIMIT 1",
                   scores, latest);
}

cw_status cw_store_api_account_predictions(cw_store *st, int64_t id, int64_t model, json_t *preds,
                                           json_t *latest)
{
    return history(st, id, model,
                   "SELECT day * 86400 AS day_ymd, probability FROM predictions"
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
    cw_stmt *q;
    cw_status s = prep(st,
                       "SELECT u.user_id AS id, u.email, u.role, u.department,"
                       " u.provisioned_at AS provisioned_ymd, u.deactivated_at AS deactivated_ymd,"
                       " m.vals AS _vals"
                       " FROM users u LEFT JOIN user_metrics m ON m.day = ? AND m.\"user\" = u.id"
                       " WHERE u.account = ? ORDER BY u.deactivated_at IS NOT NULL, u.user_id"
                       " LIMIT 1000",
                       &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, day);
    cw_sql_bind_i64(q, 2, account);
    double *vals = NULL;
    int rc;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        const unsigned char *b = cw_sql_col_blob(q, 6);
        int nb = b ? cw_sql_col_bytes(q, 6) / 8 : 0;
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
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "users");
    cw_sql_finalize(q);
    return s;
}

/* The measurements of the goal in qm's current binding into g, with the
 * latest "actual" value. */
static cw_status goal_measurements(cw_store *st, cw_stmt *qm, json_t *g)
{
    json_t *ms = json_array();
    json_t *latest = json_null();
    int rm;
    while ((rm = cw_sql_step(qm)) == CW_SQL_ROW) {
        json_array_append_new(ms, row_object(qm));
        if (strcmp((const char *)cw_sql_col_text(qm, 1), "actual") == 0) {
            json_decref(latest);
            latest = json_real(cw_sql_col_double(qm, 2));
        }
    }
    json_object_set_new(g, "measurements", ms);
    json_object_set_new(g, "actual_latest", latest);
    return rm == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "goal measurements");
}

/* Goals with their measurements and the value expected today on the
 * straight line from baseline (start) to target (target date). */
cw_status cw_store_api_account_goals(cw_store *st, int64_t account, int64_t asof_unix,
                                     json_t *goals)
{
    cw_stmt *q, *qm;
    cw_status s = prep(st,
                       "SELECT goal_id AS id, metric, unit, baseline, target,"
                       " start_date AS start_ymd, target_date AS target_date_ymd"
                       " FROM goals WHERE account = ? ORDER BY target_date, goal_id",
                       &q);
    if (s != CW_OK)
        return s;
    if ((s = prep(st,
                  "SELECT measured_at AS at_ymd, kind, value FROM goal_measurements"
                  " WHERE goal_id = ? ORDER BY measured_at, kind",
                  &qm)) != CW_OK) {
        cw_sql_finalize(q);
        return s;
    }
    cw_sql_bind_i64(q, 1, account);
    int rc;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        json_t *g = row_object(q);
        double base = cw_sql_col_double(q, 3), target = cw_sql_col_double(q, 4);
        int64_t t0 = cw_sql_col_i64(q, 5), t1 = cw_sql_col_i64(q, 6);
        double frac = t1 > t0 ? (double)(asof_unix - t0) / (double)(t1 - t0) : 1.0;
        frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
        json_object_set_new(g, "expected_now", json_real(base + (target - base) * frac));
        cw_sql_reset(qm);
        cw_sql_bind_text_copy(qm, 1, (const char *)cw_sql_col_text(q, 0), -1);
        s = goal_measurements(st, qm, g);
        json_array_append_new(goals, g);
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "goals");
    cw_sql_finalize(q);
    cw_sql_finalize(qm);
    return s;
}

/* A ticket's detail: "open" or "closed YYYY-MM-DD" (closed_at, column 4),
 * then the rest of the detail from SQL (column 3). */
static json_t *ticket_detail(cw_stmt *q)
{
    char buf[32];
    const char *rest = (const char *)cw_sql_col_text(q, 3);
    if (cw_sql_col_type(q, 4) == CW_SQL_NULL)
        return json_sprintf("open%s", rest ? rest : "");
    const char *day = format_time(cw_sql_col_i64(q, 4), CW_TIME_DATE, buf, sizeof buf);
    return day ? json_sprintf("closed %s%s", day, rest ? rest : "") : json_null();
}

/* Tickets and surveys as timeline entries, newest first; entries of the
 * same second in one order on both backends: by type (survey before
 * ticket), then by survey / ticket id (bytes: COLLATE "C" on PostgreSQL). A ticket's
 * detail starts with its state, "open" or "closed YYYY-MM-DD" (from
 * _closed), set in C with the other dates. */
cw_status cw_store_api_account_events(cw_store *st, int64_t account, json_t *timeline)
{
    cw_stmt *q;
    cw_status s =
        prep(st,
             "SELECT 'ticket' AS type, opened_at AS at_iso,"
             " category || ' ticket (' || coalesce(priority, 'normal') || ')' AS title,"
             " CASE WHEN satisfaction IS NULL THEN ''"
             " ELSE ', satisfaction ' || satisfaction || '/5' END AS detail, closed_at AS _closed,"
             " ticket_id AS _key FROM tickets WHERE account = ?1"
             " UNION ALL SELECT 'survey', coalesce(responded_at, sent_at), upper(type) ||"
             " ' survey' || CASE WHEN score IS NULL THEN '' ELSE ': ' || score END,"
             " trim(coalesce(reason, '') || ' ' || coalesce(comment, '')), NULL, survey_id"
             " FROM surveys WHERE account = ?1 AND coalesce(responded_at, sent_at) IS NOT NULL"
             " ORDER BY 2 DESC, 1, 6 LIMIT 200",
             &q);
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, account);
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        json_t *o = row_object(q);
        if (strcmp((const char *)cw_sql_col_text(q, 0), "ticket") == 0) {
            json_t *d = ticket_detail(q);
            json_object_set_new(o, "detail", d ? d : json_null());
        }
        json_array_append_new(timeline, o);
    }
    s = rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "query");
    cw_sql_finalize(q);
    return s;
}

/* ---- backtests and models ------------------------------------------- */

/* Appends the rows of sql to items. */
static cw_status items_query(cw_store *st, const char *sql, json_t *items)
{
    cw_stmt *q;
    cw_status s = prep(st, sql, &q);
    if (s != CW_OK)
        return s;
    return rows_into(st, q, items);
}

cw_status cw_store_api_backtests(cw_store *st, json_t *items)
{
    return items_query(st,
                       "SELECT id, at AS at_iso, subject, result AS result_json FROM backtests"
                       " ORDER BY at DESC, id DESC LIMIT 50",
                       items);
}

/* The served fields of a model's meta (a JSON object), in order, each as
 * json_extract(meta, '$.field') gave it, "_json" ones parsed; "test" without
 * its ROC points. */
static void model_meta(json_t *o, json_t *meta)
{
    static const char *const plain[] = {"library", "horizon_days"};
    static const char *const parsed[] = {"windows", "boosting", "feature_set", "labels",
                                         "rows",    "test",     "importance",  "calibration"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        json_object_set_new(o, plain[i], json_as_plain(json_object_get(meta, plain[i])));
    for (size_t i = 0; i < sizeof parsed / sizeof parsed[0]; i++) {
        json_t *v = json_object_get(meta, parsed[i]);
        if (strcmp(parsed[i], "test") == 0 && json_is_object(v)) {
            v = json_copy(v); /* shallow: only "roc" goes */
            json_object_del(v, "roc");
            json_object_set_new(o, parsed[i], v);
        } else {
            json_object_set_new(o, parsed[i], json_as_json(v));
        }
    }
}

/* The stored models, the active one first then newest first, at most 20
 * whose meta is JSON: what a model is (kind, window, horizon, rounds), what
 * it learnt from (feature_set: the custom metrics and event names beyond
 * the catalogue, the columns dropped as all-missing; labels: the data end
 * and the rows left out; rows: the row design), how it tested and what it looks at; the
 * per-column feature list, the ROC points and the body stay out
 * (`churnwatch train`, docs/model.md). */
cw_status cw_store_api_models(cw_store *st, json_t *items)
{
    cw_stmt *q;
    cw_status s = prep(st,
                       "SELECT id, name, kind, created_at AS created_at_iso,"
                       " CASE WHEN active <> 0 THEN 1 ELSE 0 END AS active, meta AS _meta"
                       " FROM models ORDER BY active DESC, id DESC",
                       &q);
    if (s != CW_OK)
        return s;
    int rc = CW_SQL_DONE, n = 0;
    while (n < 20 && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        json_t *meta = json_loadb((const char *)cw_sql_col_text(q, 5),
                                  (size_t)cw_sql_col_bytes(q, 5), JSON_DECODE_ANY, NULL);
        if (!meta)
            continue; /* not JSON: left out, as json_valid() did */
        json_t *o = row_object(q);
        model_meta(o, meta);
        json_decref(meta);
        json_array_append_new(items, o);
        n++;
    }
    s = rc == CW_SQL_ROW || rc == CW_SQL_DONE ? CW_OK : cw_sql_fail(st, "models");
    cw_sql_finalize(q);
    return s;
}

/* ---- alerts ------------------------------------------------------------
 * The alerts tables of lib/alerts/alerts.c (migration "alerts"): statuses 1 open,
 * 2 acknowledged, 3 snoozed (snoozed_until is a day), 4/5/6 closed
 * (auto-resolved, by hand, gone); opened_day is a day; vals the JSON of the
 * metric values that raised it. Snoozes are judged on the alerts' clock:
 * the last evaluated day (alert_days). */

#define ALERT_COLUMNS                                                                              \
    "SELECT l.id, a.account_id AS account, a.name AS account_name, u.user_id AS \"user\","         \
    " l.rule, CASE l.severity WHEN 2 THEN 'critical' ELSE 'warning' END AS severity, l.status,"    \
    " l.vals, l.playbook, l.acked_by, l.opened_day * 86400 AS opened_at_ymd,"                      \
    " (SELECT max(e.at) FROM alert_events e WHERE e.alert = l.id) AS updated_at_iso,"              \
    " (SELECT e.actor FROM alert_events e WHERE e.alert = l.id AND e.actor IS NOT NULL"            \
    "  ORDER BY e.at DESC, e.id DESC LIMIT 1) AS updated_by,"                                      \
    " CASE WHEN l.status = 3 THEN l.snoozed_until * 86400 END AS snoozed_until_ymd,"               \
    " l.closed_day * 86400 AS closed_at_ymd"                                                       \
    " FROM alerts l JOIN accounts a ON a.id = l.account LEFT JOIN users u ON u.id = l.\"user\""

/* :st -1 all, -2 open (incl. snoozes due by :today), -4 resolved, else
 * one status. */
#define ALERT_WHERE                                                                                \
    " WHERE (CAST(:account AS TEXT) IS NULL OR a.account_id = :account)"                           \
    " AND (:st = -1 OR (:st = -2 AND (l.status IN (1, 2) OR (l.status = 3 AND"                     \
    "      coalesce(l.snoozed_until, 0) <= :today))) OR (:st = -4 AND l.status IN (4, 5, 6))"      \
    "      OR l.status = :st)"

cw_status cw_store_api_alerts_today(cw_store *st, int64_t now, int64_t *today)
{
    int64_t day;
    int null;
    cw_status s = scalar_i64(st, "SELECT max(day) FROM alert_days", 0, &day, &null);
    if (s != CW_OK)
        return s;
    *today = null ? now / 86400 : day;
    return CW_OK;
}

cw_status cw_store_api_alerts(cw_store *st, int code, const char *account, int64_t today,
                              int64_t limit, int64_t offset, json_t *items, int64_t *total)
{
    cw_stmt *q, *qc;
    cw_status s =
        prep(st,
             ALERT_COLUMNS ALERT_WHERE
             " ORDER BY l.opened_day DESC, l.severity DESC, l.id DESC LIMIT :limit OFFSET :offset",
             &q);
    if (s == CW_OK && (s = prep(st,
                                "SELECT count(*) FROM alerts l JOIN accounts a ON"
                                " a.id = l.account" ALERT_WHERE,
                                &qc)) != CW_OK)
        cw_sql_finalize(q);
    if (s != CW_OK)
        return s;
    *total = 0;
    cw_stmt *both[2] = {q, qc};
    for (int i = 0; i < 2; i++) {
        bind_name_text(both[i], ":account", account);
        bind_name_i64(both[i], ":st", code, 0);
        bind_name_i64(both[i], ":today", today, 0);
    }
    bind_name_i64(q, ":limit", limit, 0);
    bind_name_i64(q, ":offset", offset, 0);
    if ((s = rows_into(st, q, items)) == CW_OK) {
        if (cw_sql_step(qc) == CW_SQL_ROW)
            *total = cw_sql_col_i64(qc, 0);
        else
            s = cw_sql_fail(st, "alerts count");
    }
    cw_sql_finalize(qc);
    return s;
}

cw_status cw_store_api_alert(cw_store *st, int64_t id, json_t **out)
{
    *out = NULL;
    cw_stmt *q;
    cw_status s;
    if ((s = prep(st, ALERT_COLUMNS " WHERE l.id = ?", &q)) != CW_OK)
        return s;
    cw_sql_bind_i64(q, 1, id);
    int rc = cw_sql_step(q);
    if (rc == CW_SQL_ROW)
        *out = row_object(q);
    else
        s = cw_sql_fail(st, "alert");
    cw_sql_finalize(q);
    return s;
}
