/*
 * store/sqlite/sqlite_api.c — the queries behind the JSON API and the HTML
 * report (api.h). Every statement is parameterised; the only SQL chosen at
 * run time is an ORDER BY picked from a fixed table by name. Rows become
 * JSON generically (row_object): a column aliased "x_json" holds JSON text
 * served as the value of "x"; REAL NaN becomes null.
 *
 * Dates go out as "YYYY-MM-DD" strings (days since the epoch in scores and
 * snapshots, Unix seconds elsewhere), money as integer minor units beside
 * its currency.
 */
#define _GNU_SOURCE /* qsort_r */
#include "api/api.h"
#include "store/store.h"
#include "store/sqlite/sqlite_int.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const colour_names[] = {"green", "yellow", "red"};

/* The top driver in words: the model's first driver, else the scorecard
 * measure that cost the most points ("usage (-12 points)"). */
#define TOP_DRIVER_SQL                                                                             \
    "coalesce(json_extract(p.drivers, '$[0].text'), (SELECT key || ' (' ||"                        \
    " CAST(round(value) AS INTEGER) || ' points)' FROM json_each(s.contrib) WHERE value < 0"       \
    " ORDER BY value LIMIT 1))"

int cw_api_colour_from_name(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, colour_names[i]) == 0)
            return i;
    return -1;
}

const char *cw_api_colour_name(int colour)
{
    return colour >= 0 && colour < 3 ? colour_names[colour] : NULL;
}

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

/* The current row as an object keyed by column name ("_json" suffix cut). */
static json_t *row_object(sqlite3_stmt *q)
{
    json_t *o = json_object();
    int n = sqlite3_column_count(q);
    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(q, i);
        size_t nl = strlen(name);
        char key[64];
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

static json_t *day_json(int64_t day)
{
    char buf[32];
    return json_string(cw_time_format(day * 86400, 1, buf, sizeof buf));
}

/* The reference day of the views: the latest scores, else the latest
 * metric snapshot, else today (UTC). *score_day = -1 without scores; *model
 * and *pred_day = -1 without an active model's predictions. */
static cw_status as_of(cw_store *st, int64_t *day, int64_t *score_day, int64_t *model,
                       int64_t *pred_day)
{
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

/* ---- accounts list -------------------------------------------------- */

void cw_api_accounts_q_init(cw_api_accounts_q *q)
{
    memset(q, 0, sizeof *q);
    q->colour = -1;
    q->renewal_days = -1;
    q->desc = -1;
    q->limit = 50;
    q->sort = "risk";
    q->sparkline = 12;
}

/* Sort keys: NULLs always last; the natural direction of each key first. */
static const struct {
    const char *name;
    const char *asc, *desc;
    int natural_desc;
} sorts[] = {
    {"risk", "p.probability IS NULL, p.probability, s.score IS NULL, s.score DESC, a.id",
     "p.probability IS NULL, p.probability DESC, s.score IS NULL, s.score, a.id", 1},
    {"score", "s.score IS NULL, s.score, a.id", "s.score IS NULL, s.score DESC, a.id", 0},
    {"probability", "p.probability IS NULL, p.probability, a.id",
     "p.probability IS NULL, p.probability DESC, a.id", 1},
    {"change", "s.change IS NULL, s.change, a.id", "s.change IS NULL, s.change DESC, a.id", 0},
    {"renewal", "a.renewal_date IS NULL, a.renewal_date, a.id",
     "a.renewal_date IS NULL, a.renewal_date DESC, a.id", 0},
    {"mrr", "a.mrr_minor, a.id", "a.mrr_minor DESC, a.id", 1},
    {"mrr_at_risk", "p.probability IS NULL, a.mrr_minor * p.probability, a.id",
     "p.probability IS NULL, a.mrr_minor * p.probability DESC, a.id", 1},
    {"name", "a.name, a.id", "a.name DESC, a.id", 0},
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

/* ---- the at-risk list from memory --------------------------------------
 * Sorting 100k accounts by a key read through two joins costs ~0.2 s per
 * request in SQL. A cache keeps, per reader connection, one flat row per
 * account with every filter and sort field, and a lazily built order per
 * (sort key, direction); a request then walks that order, filters, counts,
 * and reads only its page's rows from SQL. It is rebuilt when PRAGMA
 * data_version says another connection committed, or the scores /
 * predictions day or model changed. */

typedef struct lrow {
    int64_t id, mrr_minor, renewal_unix;        /* renewal INT64_MIN = none */
    double score, prob, change, at_risk;        /* NaN = NULL */
    int colour;                                 /* -1 = not scored */
    uint32_t name, ext, segment, owner, status; /* offsets into the string arena */
} lrow;

struct cw_api_cache {
    int64_t data_version, sday, pday, model;
    int valid;
    lrow *rows;
    size_t n, cap;
    char *arena;
    size_t alen, acap;
    /* Search haystack: per row "name\x01id\n", ASCII-lowercased, rows in
     * order; hay_start[i] is row i's offset (n + 1 entries). One memmem
     * pass over it finds every matching row. */
    char *hay;
    size_t hay_len, hay_cap;
    uint32_t *hay_start;
    uint32_t *order[16]; /* per sort key (8) x direction (2) */
};

cw_api_cache *cw_api_cache_new(void)
{
    return calloc(1, sizeof(cw_api_cache));
}

void cw_api_cache_free(cw_api_cache *c)
{
    if (!c)
        return;
    free(c->rows);
    free(c->arena);
    free(c->hay);
    free(c->hay_start);
    for (int i = 0; i < 16; i++)
        free(c->order[i]);
    free(c);
}

static int arena_put(cw_api_cache *c, const unsigned char *t, uint32_t *off, int lower)
{
    const char *s = t ? (const char *)t : "";
    size_t n = strlen(s) + 1;
    if (c->alen + n > UINT32_MAX)
        return -1;
    if (c->alen + n > c->acap) {
        size_t cap = c->acap ? c->acap : 1 << 16;
        while (cap < c->alen + n)
            cap *= 2;
        char *p = realloc(c->arena, cap);
        if (!p)
            return -1;
        c->arena = p;
        c->acap = cap;
    }
    memcpy(c->arena + c->alen, s, n);
    if (lower)
        for (size_t i = 0; i < n; i++)
            if (c->arena[c->alen + i] >= 'A' && c->arena[c->alen + i] <= 'Z')
                c->arena[c->alen + i] += 'a' - 'A';
    *off = (uint32_t)c->alen;
    c->alen += n;
    return 0;
}

/* Appends text lowercased (ASCII) and then sep to the haystack. */
static int hay_put(cw_api_cache *c, const unsigned char *t, char sep)
{
    const char *s = t ? (const char *)t : "";
    size_t n = strlen(s);
    if (c->hay_len + n + 1 > UINT32_MAX)
        return -1;
    if (c->hay_len + n + 1 > c->hay_cap) {
        size_t cap = c->hay_cap ? c->hay_cap : 1 << 16;
        while (cap < c->hay_len + n + 1)
            cap *= 2;
        char *p = realloc(c->hay, cap);
        if (!p)
            return -1;
        c->hay = p;
        c->hay_cap = cap;
    }
    for (size_t i = 0; i < n; i++)
        c->hay[c->hay_len + i] = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] + ('a' - 'A')) : s[i];
    c->hay[c->hay_len + n] = sep;
    c->hay_len += n + 1;
    return 0;
}

static double col_or_nan(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? (double)NAN : sqlite3_column_double(q, i);
}

static cw_status cache_load(cw_store *st, cw_api_cache *c, int64_t dv, int64_t sday, int64_t pday,
                            int64_t model)
{
    c->valid = 0;
    c->n = c->alen = c->hay_len = 0;
    for (int i = 0; i < 16; i++) {
        free(c->order[i]);
        c->order[i] = NULL;
    }
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
    sqlite3_bind_int64(q, 1, sday);
    sqlite3_bind_int64(q, 2, pday);
    sqlite3_bind_int64(q, 3, model);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 4096;
            lrow *p = realloc(c->rows, cap * sizeof *p);
            if (p)
                c->rows = p;
            uint32_t *hs = p ? realloc(c->hay_start, (cap + 1) * sizeof *hs) : NULL;
            if (!hs) {
                sqlite3_finalize(q);
                return CW_ERR_NOMEM;
            }
            c->hay_start = hs;
            c->cap = cap;
        }
        lrow *r = &c->rows[c->n];
        r->id = sqlite3_column_int64(q, 0);
        r->mrr_minor = sqlite3_column_int64(q, 1);
        r->renewal_unix =
            sqlite3_column_type(q, 2) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(q, 2);
        r->score = col_or_nan(q, 3);
        r->prob = col_or_nan(q, 4);
        r->change = col_or_nan(q, 5);
        r->at_risk = (double)r->mrr_minor * r->prob;
        r->colour = sqlite3_column_type(q, 6) == SQLITE_NULL ? -1 : sqlite3_column_int(q, 6);
        c->hay_start[c->n] = (uint32_t)c->hay_len;
        if (hay_put(c, sqlite3_column_text(q, 7), '\x01') ||
            hay_put(c, sqlite3_column_text(q, 8), '\n') ||
            arena_put(c, sqlite3_column_text(q, 7), &r->name, 0) ||
            arena_put(c, sqlite3_column_text(q, 8), &r->ext, 0) ||
            arena_put(c, sqlite3_column_text(q, 9), &r->segment, 0) ||
            arena_put(c, sqlite3_column_text(q, 10), &r->owner, 0) ||
            arena_put(c, sqlite3_column_text(q, 11), &r->status, 0)) {
            sqlite3_finalize(q);
            return CW_ERR_NOMEM;
        }
        if (sqlite3_column_type(q, 10) == SQLITE_NULL)
            r->owner = UINT32_MAX;
        c->n++;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return fail(st, "accounts");
    if (c->hay_start)
        c->hay_start[c->n] = (uint32_t)c->hay_len;
    c->data_version = dv;
    c->sday = sday;
    c->pday = pday;
    c->model = model;
    c->valid = 1;
    return CW_OK;
}

/* Sort keys as in sorts[]: NULL (NaN) last in both directions, ties by id. */
typedef struct sort_ctx {
    const cw_api_cache *c;
    int key, desc;
} sort_ctx;

static int cmp_num(double a, double b, int desc)
{
    int na = isnan(a), nb = isnan(b);
    if (na || nb)
        return na - nb;
    if (a == b)
        return 0;
    return (a < b) == !desc ? -1 : 1;
}

static int cmp_rows(const void *pa, const void *pb, void *ud)
{
    const sort_ctx *x = ud;
    const lrow *a = &x->c->rows[*(const uint32_t *)pa], *b = &x->c->rows[*(const uint32_t *)pb];
    int d = x->desc, r = 0;
    switch (x->key) {
    case 0: /* risk */
        if (!(r = cmp_num(a->prob, b->prob, d)))
            r = cmp_num(a->score, b->score, !d);
        break;
    case 1: r = cmp_num(a->score, b->score, d); break;
    case 2: r = cmp_num(a->prob, b->prob, d); break;
    case 3: r = cmp_num(a->change, b->change, d); break;
    case 4:
        r = cmp_num(a->renewal_unix == INT64_MIN ? (double)NAN : (double)a->renewal_unix,
                    b->renewal_unix == INT64_MIN ? (double)NAN : (double)b->renewal_unix, d);
        break;
    case 5: r = cmp_num((double)a->mrr_minor, (double)b->mrr_minor, d); break;
    case 6: r = cmp_num(a->at_risk, b->at_risk, d); break;
    default: {
        int c = strcmp(x->c->arena + a->name, x->c->arena + b->name);
        r = d ? -c : c;
    }
    }
    if (r)
        return r;
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Marks (mark[i] = 1) the rows whose lowercased name or id contains
 * needle_lc (the search text lowercased, ASCII, as SQLite's lower()). */
static void search_rows(const cw_api_cache *c, const char *needle_lc, unsigned char *mark)
{
    size_t nl = strlen(needle_lc);
    if (!c->n || strpbrk(needle_lc, "\x01\n"))
        return; /* names and ids hold no control characters */
    const char *p = c->hay, *end = c->hay + c->hay_len;
    while (p < end && (p = memmem(p, (size_t)(end - p), needle_lc, nl)) != NULL) {
        uint32_t off = (uint32_t)(p - c->hay);
        size_t lo = 0, hi = c->n; /* the last row starting at or before off */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (c->hay_start[mid] <= off)
                lo = mid;
            else
                hi = mid;
        }
        mark[lo] = 1;
        p = c->hay + c->hay_start[lo + 1];
    }
}

/* mark: the rows matching the search, or NULL when there is none. */
static int row_matches(const cw_api_cache *c, const lrow *r, const cw_api_accounts_q *f,
                       int64_t asof_unix, const unsigned char *mark)
{
    if (f->colour >= 0 && r->colour != f->colour)
        return 0;
    if (f->segment && strcmp(c->arena + r->segment, f->segment) != 0)
        return 0;
    if (f->owner && (r->owner == UINT32_MAX || strcmp(c->arena + r->owner, f->owner) != 0))
        return 0;
    if (f->status && strcmp(c->arena + r->status, f->status) != 0)
        return 0;
    if (f->renewal_days >= 0 && (r->renewal_unix == INT64_MIN || r->renewal_unix < asof_unix ||
                                 r->renewal_unix >= asof_unix + (int64_t)f->renewal_days * 86400))
        return 0;
    if (mark && !mark[r - c->rows])
        return 0;
    return 1;
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

static cw_status accounts_cached(cw_store *st, cw_api_cache *c, const cw_api_accounts_q *f, int k,
                                 int desc, int64_t day, int64_t sday, int64_t pday, int64_t model,
                                 json_t **out)
{
    int64_t dv = -1;
    int null;
    cw_status s = scalar_i64(st, "PRAGMA data_version", 0, &dv, &null);
    if (s != CW_OK)
        return s;
    if (!c->valid || c->data_version != dv || c->sday != sday || c->pday != pday ||
        c->model != model)
        if ((s = cache_load(st, c, dv, sday, pday, model)) != CW_OK)
            return s;
    int slot = k * 2 + (desc ? 1 : 0);
    if (!c->order[slot]) {
        uint32_t *ord = malloc((c->n ? c->n : 1) * sizeof *ord);
        if (!ord)
            return CW_ERR_NOMEM;
        for (size_t i = 0; i < c->n; i++)
            ord[i] = (uint32_t)i;
        sort_ctx x = {c, k, desc};
        qsort_r(ord, c->n, sizeof *ord, cmp_rows, &x);
        c->order[slot] = ord;
    }
    int64_t asof_unix = day * 86400, total = 0;
    char needle[CW_API_SEARCH_MAX + 1];
    const char *needle_lc = NULL;
    if (f->search && *f->search) {
        size_t n = strlen(f->search);
        if (n > CW_API_SEARCH_MAX)
            return cw_store_set_error(st, CW_ERR_USAGE, "q: at most %d bytes", CW_API_SEARCH_MAX);
        for (size_t i = 0; i <= n; i++)
            needle[i] = f->search[i] >= 'A' && f->search[i] <= 'Z'
                            ? (char)(f->search[i] + ('a' - 'A'))
                            : f->search[i];
        needle_lc = needle;
    }
    unsigned char *mark = NULL;
    if (needle_lc) {
        if (!(mark = calloc(c->n ? c->n : 1, 1)))
            return CW_ERR_NOMEM;
        search_rows(c, needle_lc, mark);
    }
    sqlite3_stmt *q = NULL, *qs = NULL;
    if ((s = prep(st,
                  PAGE_ROW_SQL " FROM accounts a"
                               " LEFT JOIN scores s ON s.day = :sday AND s.account = a.id"
                               " LEFT JOIN predictions p ON p.day = :pday AND p.account = a.id"
                               " AND p.model = :model WHERE a.id = :id",
                  &q)) != CW_OK ||
        (s = prep(st, "SELECT score FROM scores WHERE account=? ORDER BY day DESC LIMIT ?", &qs)) !=
            CW_OK) {
        sqlite3_finalize(q);
        free(mark);
        return s;
    }
    bind_name_i64(q, ":sday", sday, 0);
    bind_name_i64(q, ":pday", pday, 0);
    bind_name_i64(q, ":model", model, 0);
    bind_name_i64(q, ":asof", asof_unix, 0);
    sqlite3_bind_int(qs, 2, f->sparkline);
    json_t *items = json_array();
    const uint32_t *ord = c->order[slot];
    for (size_t i = 0; i < c->n && s == CW_OK; i++) {
        const lrow *r = &c->rows[ord[i]];
        if (!row_matches(c, r, f, asof_unix, mark))
            continue;
        if (total >= f->offset && total < f->offset + f->limit) {
            sqlite3_reset(q);
            bind_name_i64(q, ":id", r->id, 0);
            if (sqlite3_step(q) != SQLITE_ROW) {
                s = fail(st, "account row");
                break;
            }
            json_t *it = row_object(q);
            json_object_del(it, "_id");
            json_t *cv = json_object_get(it, "colour");
            if (json_is_integer(cv))
                json_object_set_new(it, "colour",
                                    json_string(cw_api_colour_name((int)json_integer_value(cv))));
            if (f->sparkline > 0)
                s = sparkline(st, qs, r->id, it);
            json_array_append_new(items, it);
        }
        total++;
    }
    free(mark);
    sqlite3_finalize(q);
    sqlite3_finalize(qs);
    if (s != CW_OK) {
        json_decref(items);
        return s;
    }
    *out = json_pack("{s:o, s:b, s:b, s:I, s:I, s:I, s:o}", "as_of", day_json(day), "scored",
                     sday >= 0, "predicted", pday >= 0, "total", (json_int_t)total, "limit",
                     (json_int_t)f->limit, "offset", (json_int_t)f->offset, "items", items);
    return *out ? CW_OK : CW_ERR_NOMEM;
}

cw_status cw_api_accounts(cw_store *st, cw_api_cache *cache, const cw_api_accounts_q *f,
                          json_t **out)
{
    *out = NULL;
    int k = -1;
    for (size_t i = 0; i < sizeof sorts / sizeof sorts[0]; i++)
        if (strcmp(f->sort ? f->sort : "risk", sorts[i].name) == 0)
            k = (int)i;
    if (k < 0)
        return cw_store_set_error(st, CW_ERR_USAGE,
                                  "sort: expected risk, score, probability, change, renewal, mrr, "
                                  "mrr_at_risk or name");
    if (f->limit < 1 || f->limit > 500 || f->offset < 0)
        return cw_store_set_error(st, CW_ERR_USAGE, "limit must be 1..500 and offset >= 0");
    int64_t day, sday, model, pday;
    cw_status s = as_of(st, &day, &sday, &model, &pday);
    if (s != CW_OK)
        return s;
    int desc = f->desc < 0 ? sorts[k].natural_desc : f->desc;
    if (cache)
        return accounts_cached(st, cache, f, k, desc, day, sday, pday, model, out);
    /* Two phases in one statement: the inner query sorts only keys to pick
     * the page; the outer one formats the page's rows (json_extract, dates)
     * for those rows alone, not for every account. */
    const char *order = desc ? sorts[k].desc : sorts[k].asc;
    char sql[4096];
    snprintf(sql, sizeof sql,
             "SELECT a.id AS _id, a.account_id AS id, a.name, a.segment, a.owner, a.status,"
             " a.seats, a.mrr_minor, a.currency,"
             " CASE WHEN a.renewal_date IS NULL THEN NULL ELSE date(a.renewal_date,'unixepoch')"
             " END AS renewal_date,"
             " CASE WHEN a.renewal_date IS NULL THEN NULL ELSE"
             " CAST(floor((a.renewal_date - :asof) / 86400.0) AS INTEGER) END AS days_to_renewal,"
             " s.score, s.colour, s.change, p.probability,"
             " CASE WHEN p.probability IS NULL THEN NULL ELSE"
             " CAST(round(a.mrr_minor * p.probability) AS INTEGER) END AS mrr_at_risk_minor,"
             " " TOP_DRIVER_SQL " AS top_driver"
             " FROM (SELECT a.id AS pid" ACCOUNTS_FROM " ORDER BY %s LIMIT :limit OFFSET :offset)"
             " JOIN accounts a ON a.id = pid"
             " LEFT JOIN scores s ON s.day = :sday AND s.account = a.id"
             " LEFT JOIN predictions p ON p.day = :pday AND p.account = a.id AND p.model = :model"
             " ORDER BY %s",
             order, order);
    sqlite3_stmt *q = NULL, *qc = NULL, *qs = NULL;
    if ((s = prep(st, sql, &q)) != CW_OK ||
        (s = prep(st, f->colour < 0 ? COUNT_ALL : COUNT_COLOUR, &qc)) != CW_OK ||
        (s = prep(st, "SELECT score FROM scores WHERE account=? ORDER BY day DESC LIMIT ?", &qs)) !=
            CW_OK) {
        sqlite3_finalize(q);
        sqlite3_finalize(qc);
        return s;
    }
    int64_t asof_unix = day * 86400;
    bind_accounts(q, f, sday, pday, model, asof_unix);
    bind_accounts(qc, f, sday, pday, model, asof_unix);
    bind_name_i64(q, ":limit", f->limit, 0);
    bind_name_i64(q, ":offset", f->offset, 0);
    sqlite3_bind_int(qs, 2, f->sparkline);
    json_t *items = json_array();
    int rc;
    while (s == CW_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *it = row_object(q);
        int64_t id = sqlite3_column_int64(q, 0);
        json_object_del(it, "_id");
        json_t *c = json_object_get(it, "colour");
        if (json_is_integer(c))
            json_object_set_new(it, "colour",
                                json_string(cw_api_colour_name((int)json_integer_value(c))));
        if (f->sparkline > 0)
            s = sparkline(st, qs, id, it);
        json_array_append_new(items, it);
    }
    if (s == CW_OK && rc != SQLITE_DONE)
        s = fail(st, "accounts");
    int64_t total = 0;
    if (s == CW_OK) {
        if (sqlite3_step(qc) == SQLITE_ROW)
            total = sqlite3_column_int64(qc, 0);
        else
            s = fail(st, "accounts count");
    }
    sqlite3_finalize(q);
    sqlite3_finalize(qc);
    sqlite3_finalize(qs);
    if (s != CW_OK) {
        json_decref(items);
        return s;
    }
    *out = json_pack("{s:o, s:b, s:b, s:I, s:I, s:I, s:o}", "as_of", day_json(day), "scored",
                     sday >= 0, "predicted", pday >= 0, "total", (json_int_t)total, "limit",
                     (json_int_t)f->limit, "offset", (json_int_t)f->offset, "items", items);
    return *out ? CW_OK : CW_ERR_NOMEM;
}

cw_status cw_api_facets(cw_store *st, json_t **out)
{
    *out = NULL;
    int64_t day, sday, model, pday;
    cw_status s = as_of(st, &day, &sday, &model, &pday);
    if (s != CW_OK)
        return s;
    json_t *o = json_object(), *seg = json_array(), *own = json_array(), *col = json_object();
    json_object_set_new(o, "as_of", day_json(day));
    json_object_set_new(o, "segments", seg);
    json_object_set_new(o, "owners", own);
    json_object_set_new(o, "colours", col);
    sqlite3_stmt *q;
    int rc = SQLITE_DONE;
    if ((s = prep(st, "SELECT DISTINCT segment FROM accounts ORDER BY 1", &q)) == CW_OK) {
        while ((rc = sqlite3_step(q)) == SQLITE_ROW)
            json_array_append_new(seg, col_value(q, 0));
        sqlite3_finalize(q);
    }
    if (s == CW_OK && rc == SQLITE_DONE &&
        (s = prep(st, "SELECT DISTINCT owner FROM accounts WHERE owner IS NOT NULL ORDER BY 1",
                  &q)) == CW_OK) {
        while ((rc = sqlite3_step(q)) == SQLITE_ROW)
            json_array_append_new(own, col_value(q, 0));
        sqlite3_finalize(q);
    }
    if (s == CW_OK && rc == SQLITE_DONE &&
        (s = prep(st, "SELECT colour, count(*) FROM scores WHERE day=? GROUP BY colour", &q)) ==
            CW_OK) {
        sqlite3_bind_int64(q, 1, sday);
        for (int i = 0; i < 3; i++)
            json_object_set_new(col, colour_names[i], json_integer(0));
        while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
            const char *n = cw_api_colour_name(sqlite3_column_int(q, 0));
            if (n)
                json_object_set_new(col, n, json_integer(sqlite3_column_int64(q, 1)));
        }
        sqlite3_finalize(q);
    }
    if (s == CW_OK && rc != SQLITE_DONE)
        s = fail(st, "facets");
    if (s != CW_OK) {
        json_decref(o);
        return s;
    }
    *out = o;
    return CW_OK;
}

/* ---- one account ---------------------------------------------------- */

typedef struct metric_hist {
    json_t *days, *series; /* series: one array per account metric */
    int n;
} metric_hist;

static cw_status on_metrics(int64_t day, int64_t account, const double *vals, const double *trend,
                            const double *peers, int n, void *ud)
{
    (void)account;
    (void)trend;
    (void)peers;
    metric_hist *h = ud;
    json_array_append_new(h->days, day_json(day));
    for (int i = 0; i < h->n; i++) {
        double v = i < n ? vals[i] : NAN;
        json_array_append_new(json_array_get(h->series, (size_t)i),
                              isfinite(v) ? json_real(v) : json_null());
    }
    return CW_OK;
}

static cw_status account_users(cw_store *st, int64_t account, int64_t day, json_t *users)
{
    const cw_metric_info *cat;
    int nc = cw_metrics_catalog(&cat), nuser = 0, i_days = -1, i_feat = -1, i_active = -1,
        i_drop = -1;
    for (int i = 0; i < nc; i++) {
        if (cat[i].scope != CW_SCOPE_USER)
            continue;
        if (strcmp(cat[i].name, "user_days_since_active") == 0)
            i_days = nuser;
        else if (strcmp(cat[i].name, "user_features_used") == 0)
            i_feat = nuser;
        else if (strcmp(cat[i].name, "user_active_days") == 0)
            i_active = nuser;
        else if (strcmp(cat[i].name, "user_dropped_off") == 0)
            i_drop = nuser;
        nuser++;
    }
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
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        json_t *u = row_object(q);
        json_object_del(u, "_vals");
        const unsigned char *b = sqlite3_column_blob(q, 6);
        int nb = sqlite3_column_bytes(q, 6) / 8;
        double v[4] = {NAN, NAN, NAN, NAN};
        int idx[4] = {i_days, i_feat, i_active, i_drop};
        for (int j = 0; j < 4; j++)
            if (b && idx[j] >= 0 && idx[j] < nb) {
                uint64_t bits = cw_load_le64(b + 8 * idx[j]);
                memcpy(&v[j], &bits, 8);
            }
        json_object_set_new(u, "last_seen",
                            isfinite(v[0]) ? day_json(day - (int64_t)v[0]) : json_null());
        json_object_set_new(u, "features_used", isfinite(v[1]) ? json_real(v[1]) : json_null());
        json_object_set_new(u, "active_days", isfinite(v[2]) ? json_real(v[2]) : json_null());
        json_object_set_new(u, "dropped_off",
                            isfinite(v[3]) ? json_boolean(v[3] > 0) : json_null());
        json_array_append_new(users, u);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? CW_OK : fail(st, "users");
}

/* Goals with their measurements and the value expected today on the
 * straight line from baseline (start) to target (target date). */
static cw_status account_goals(cw_store *st, int64_t account, int64_t asof_unix, json_t *goals)
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
        json_object_del(g, "_s");
        json_object_del(g, "_t");
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

static int timeline_cmp(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *p = json_string_value(json_object_get(x, "at"));
    const char *r = json_string_value(json_object_get(y, "at"));
    return -strcmp(p ? p : "", r ? r : ""); /* newest first */
}

cw_status cw_api_account(cw_store *st, const char *account_id, json_t **out)
{
    *out = NULL;
    int64_t day, sday, model, pday;
    cw_status s = as_of(st, &day, &sday, &model, &pday);
    if (s != CW_OK)
        return s;
    sqlite3_stmt *q;
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
    sqlite3_bind_int64(q, 1, day * 86400);
    sqlite3_bind_text(q, 2, account_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(q);
        if (rc == SQLITE_DONE)
            return cw_store_set_error(st, CW_ERR_NOTFOUND, "no account '%s'", account_id);
        return fail(st, "account");
    }
    json_t *a = row_object(q);
    int64_t id = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    json_object_del(a, "_id");
    json_object_set_new(a, "as_of", day_json(day));

    /* Score history, the latest contributions, probability history and drivers. */
    json_t *scores = json_array(), *preds = json_array();
    json_object_set_new(a, "scores", scores);
    json_object_set_new(a, "predictions", preds);
    if ((s = prep(st,
                  "SELECT date(day*86400,'unixepoch') AS day, score, colour, change"
                  " FROM scores WHERE account = ? ORDER BY day",
                  &q)) == CW_OK) {
        sqlite3_bind_int64(q, 1, id);
        s = rows_into(st, q, scores);
    }
    size_t ns = json_array_size(scores);
    for (size_t i = 0; i < ns; i++) {
        json_t *r = json_array_get(scores, i), *c = json_object_get(r, "colour");
        if (json_is_integer(c))
            json_object_set_new(r, "colour",
                                json_string(cw_api_colour_name((int)json_integer_value(c))));
    }
    json_t *latest = ns ? json_deep_copy(json_array_get(scores, ns - 1)) : json_null();
    if (s == CW_OK && ns &&
        (s = prep(st,
                  "SELECT scorecard, contrib AS contrib_json FROM scores WHERE account = ?"
                  " ORDER BY day DESC LIMIT 1",
                  &q)) == CW_OK) {
        sqlite3_bind_int64(q, 1, id);
        if (sqlite3_step(q) == SQLITE_ROW) {
            json_t *r = row_object(q);
            json_object_update(latest, r);
            json_decref(r);
        }
        sqlite3_finalize(q);
    }
    json_object_set_new(a, "score", latest);
    json_object_set_new(a, "drivers", json_array());
    json_object_set_new(a, "probability", json_null());
    if (s == CW_OK && model >= 0 &&
        (s = prep(st,
                  "SELECT date(day*86400,'unixepoch') AS day, probability FROM predictions"
                  " WHERE account = ? AND model = ? ORDER BY day",
                  &q)) == CW_OK) {
        sqlite3_bind_int64(q, 1, id);
        sqlite3_bind_int64(q, 2, model);
        s = rows_into(st, q, preds);
        if (s == CW_OK && (s = prep(st,
                                    "SELECT probability, drivers AS drivers_json FROM predictions"
                                    " WHERE account = ? AND model = ? ORDER BY day DESC LIMIT 1",
                                    &q)) == CW_OK) {
            sqlite3_bind_int64(q, 1, id);
            sqlite3_bind_int64(q, 2, model);
            if (sqlite3_step(q) == SQLITE_ROW) {
                json_t *r = row_object(q);
                json_object_update(a, r);
                json_decref(r);
            }
            sqlite3_finalize(q);
        }
    }

    /* Metric history (every account metric of the catalogue). */
    const cw_metric_info *cat;
    int nc = cw_metrics_catalog(&cat), nacc = 0;
    json_t *names = json_array(), *series = json_array();
    for (int i = 0; i < nc; i++)
        if (cat[i].scope == CW_SCOPE_ACCOUNT) {
            json_array_append_new(names, json_string(cat[i].name));
            json_array_append_new(series, json_array());
            nacc++;
        }
    metric_hist h = {json_array(), series, nacc};
    if (s == CW_OK)
        s = cw_store_get_ops(st)->account_metrics_scan(st, 0, INT64_MAX / 2, id, on_metrics, &h);
    json_object_set_new(
        a, "metrics",
        json_pack("{s:o, s:o, s:o}", "names", names, "days", h.days, "values", series));

    int64_t last_snap = -1;
    if (s == CW_OK) {
        int null;
        s = scalar_i64(st,
                       "SELECT max(day) FROM user_metrics WHERE day <= (SELECT max(day) FROM"
                       " metric_snapshots)",
                       0, &last_snap, &null);
        if (null)
            last_snap = -1;
    }
    json_t *users = json_array(), *goals = json_array(), *timeline = json_array();
    json_object_set_new(a, "users", users);
    json_object_set_new(a, "goals", goals);
    if (s == CW_OK)
        s = account_users(st, id, last_snap, users);
    if (s == CW_OK)
        s = account_goals(st, id, day * 86400, goals);

    /* Alerts of the account, and the timeline of tickets, surveys, alerts. */
    json_t *alerts = NULL;
    if (s == CW_OK)
        s = cw_api_alerts_list(st, "all", account_id, 200, 0, (int64_t)time(NULL), &alerts);
    if (s == CW_OK) {
        json_object_set_new(a, "alerts", json_incref(json_object_get(alerts, "items")));
        json_t *it;
        size_t i;
        json_array_foreach (json_object_get(alerts, "items"), i, it) {
            json_array_append_new(timeline, json_pack("{s:s, s:O, s:O, s:O}", "type", "alert", "at",
                                                      json_object_get(it, "opened_at"), "title",
                                                      json_object_get(it, "rule"), "detail",
                                                      json_object_get(it, "message")));
        }
    }
    json_decref(alerts);
    if (s == CW_OK &&
        (s = prep(st,
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
                  &q)) == CW_OK) {
        sqlite3_bind_int64(q, 1, id);
        s = rows_into(st, q, timeline);
    }
    size_t nt = json_array_size(timeline);
    json_t **tv = malloc((nt ? nt : 1) * sizeof *tv);
    if (tv) {
        for (size_t i = 0; i < nt; i++)
            tv[i] = json_incref(json_array_get(timeline, i));
        qsort(tv, nt, sizeof *tv, timeline_cmp);
        json_array_clear(timeline);
        for (size_t i = 0; i < nt; i++)
            json_array_append_new(timeline, tv[i]);
        free(tv);
    }
    json_object_set_new(a, "timeline", timeline);
    if (s != CW_OK) {
        json_decref(a);
        return s;
    }
    *out = a;
    return CW_OK;
}

/* ---- backtests and reports ------------------------------------------ */

/* {"items": [rows of sql]}. */
static cw_status items_query(cw_store *st, const char *sql, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *q;
    cw_status s = prep(st, sql, &q);
    if (s != CW_OK)
        return s;
    json_t *items = json_array();
    if ((s = rows_into(st, q, items)) != CW_OK) {
        json_decref(items);
        return s;
    }
    *out = json_pack("{s:o}", "items", items);
    return CW_OK;
}

cw_status cw_api_backtests(cw_store *st, json_t **out)
{
    return items_query(st,
                       "SELECT id, strftime('%Y-%m-%dT%H:%M:%SZ', at, 'unixepoch') AS at, subject,"
                       " result AS result_json FROM backtests ORDER BY at DESC, id DESC LIMIT 50",
                       out);
}

/* The stored models, newest first: what a model is (kind, window, horizon,
 * rounds), what it learnt from (feature_set: the custom metrics and event
 * names beyond the catalogue, the columns dropped as all-missing; labels:
 * the data end and the rows left out), how it tested and what it looks at;
 * the per-column feature list, the ROC points and the body stay out
 * (`churnwatch train`, docs/model.md). */
cw_status cw_api_models(cw_store *st, json_t **out)
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
        out);
}

static json_t *num(double d)
{
    return isfinite(d) ? json_real(d) : json_null();
}

cw_status cw_api_report_revenue(cw_store *st, int by_quarter, const char *segment, json_t **out)
{
    *out = NULL;
    cw_revenue_opts o;
    cw_revenue_opts_init(&o);
    o.by_quarter = by_quarter;
    o.segment = segment;
    cw_revenue_report *r = NULL;
    cw_status s = cw_revenue_compute(st, &o, &r);
    if (s != CW_OK)
        return s;
    json_t *ps = json_array();
    for (int i = 0; i < r->nperiods; i++) {
        const cw_revenue_period *p = &r->periods[i];
        char per[16];
        snprintf(per, sizeof per, "%04d-%02d", p->year, p->month);
        json_t *o2 = json_object();
        json_object_set_new(o2, "period", json_string(per));
        json_object_set_new(o2, "mrr_start_minor", json_integer(p->mrr_start_minor));
        json_object_set_new(o2, "new_minor", json_integer(p->new_minor));
        json_object_set_new(o2, "expansion_minor", json_integer(p->expansion_minor));
        json_object_set_new(o2, "contraction_minor", json_integer(p->contraction_minor));
        json_object_set_new(o2, "churn_minor", json_integer(p->churn_minor));
        json_object_set_new(o2, "reactivation_minor", json_integer(p->reactivation_minor));
        json_object_set_new(o2, "mrr_end_minor", json_integer(p->mrr_end_minor));
        json_object_set_new(o2, "customers_start", json_integer(p->customers_start));
        json_object_set_new(o2, "customers_end", json_integer(p->customers_end));
        json_object_set_new(o2, "customers_new", json_integer(p->customers_new));
        json_object_set_new(o2, "customers_churned", json_integer(p->customers_churned));
        json_object_set_new(o2, "logo_churn_pct", num(p->logo_churn_pct));
        json_object_set_new(o2, "grr_pct", num(p->grr_pct));
        json_object_set_new(o2, "nrr_pct", num(p->nrr_pct));
        json_object_set_new(o2, "quick_ratio", num(p->quick_ratio));
        json_array_append_new(ps, o2);
    }
    *out = json_pack("{s:s, s:s, s:o}", "currency", r->currency, "by",
                     by_quarter ? "quarter" : "month", "periods", ps);
    cw_revenue_free(r);
    return CW_OK;
}

cw_status cw_api_report_cohorts(cw_store *st, const char *segment, int months, json_t **out)
{
    *out = NULL;
    cw_cohorts_opts o;
    cw_cohorts_opts_init(&o);
    o.segment = segment;
    if (months > 0)
        o.months = months;
    cw_cohorts_report *r = NULL;
    cw_status s = cw_cohorts_compute(st, &o, &r);
    if (s != CW_OK)
        return s;
    json_t *cs = json_array();
    for (int i = 0; i < r->ncohorts; i++) {
        const cw_cohort *c = &r->cohorts[i];
        char per[16];
        snprintf(per, sizeof per, "%04d-%02d", c->year, c->month);
        json_t *lr = json_array(), *rr = json_array();
        for (int k = 0; k <= r->months; k++) {
            json_array_append_new(lr, num(c->logo_retention_pct[k]));
            json_array_append_new(rr, num(c->revenue_retention_pct[k]));
        }
        json_array_append_new(cs, json_pack("{s:s, s:I, s:I, s:o, s:o}", "cohort", per, "accounts",
                                            (json_int_t)c->accounts, "mrr0_minor",
                                            (json_int_t)c->mrr0_minor, "logo_retention_pct", lr,
                                            "revenue_retention_pct", rr));
    }
    *out =
        json_pack("{s:s, s:i, s:o}", "currency", r->currency, "months", r->months, "cohorts", cs);
    cw_cohorts_free(r);
    return CW_OK;
}

cw_status cw_api_report_reasons(cw_store *st, const char *segment, json_t **out)
{
    *out = NULL;
    cw_reasons_opts o;
    cw_reasons_opts_init(&o);
    o.segment = segment;
    cw_reasons_report *r = NULL;
    cw_status s = cw_reasons_compute(st, &o, &r);
    if (s != CW_OK)
        return s;
    json_t *causes = json_array();
    for (int c = 0; c < CW_CAUSE__COUNT; c++)
        json_array_append_new(
            causes, json_pack("{s:s, s:I, s:I}", "cause", cw_churn_cause_name((cw_churn_cause)c),
                              "accounts", (json_int_t)r->by_cause[c].accounts, "lost_mrr_minor",
                              (json_int_t)r->by_cause[c].lost_mrr_minor));
    *out =
        json_pack("{s:s, s:o, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}}", "currency", r->currency,
                  "causes", causes, "total", "accounts", (json_int_t)r->total.accounts,
                  "lost_mrr_minor", (json_int_t)r->total.lost_mrr_minor, "avoidable", "accounts",
                  (json_int_t)r->avoidable.accounts, "lost_mrr_minor",
                  (json_int_t)r->avoidable.lost_mrr_minor, "unavoidable", "accounts",
                  (json_int_t)r->unavoidable.accounts, "lost_mrr_minor",
                  (json_int_t)r->unavoidable.lost_mrr_minor);
    cw_reasons_free(r);
    return CW_OK;
}

/* ---- alerts ------------------------------------------------------------
 * The alerts tables of lib/alerts/alerts.c (migration "alerts"): statuses 1 open,
 * 2 acknowledged, 3 snoozed (snoozed_until is a day), 4/5/6 closed
 * (auto-resolved, by hand, gone); opened_day is a day; vals the JSON of the
 * metric values that raised it. Snoozes are judged on the alerts' clock:
 * the last evaluated day (alert_days). */

static const char *const alert_status_names[] = {"",         "open",     "acknowledged", "snoozed",
                                                 "resolved", "resolved", "resolved"};
static const char *const alert_resolutions[] = {"", "", "", "", "auto", "by hand", "gone"};

/* Status number to name; vals text to "values" and a readable message. */
static void alert_finish(json_t *it)
{
    json_t *v = json_object_get(it, "status");
    json_int_t code = json_is_integer(v) ? json_integer_value(v) : 0;
    if (code >= 1 && code <= 6) {
        json_object_set_new(it, "status", json_string(alert_status_names[code]));
        json_object_set_new(it, "resolution",
                            code >= 4 ? json_string(alert_resolutions[code]) : json_null());
    }
    json_t *vals = json_object_get(it, "vals");
    json_t *obj = json_is_string(vals) ? json_loads(json_string_value(vals), 0, NULL) : NULL;
    char msg[512];
    size_t len = 0;
    msg[0] = '\0';
    if (json_is_object(obj)) {
        const char *k;
        json_t *x;
        json_object_foreach (obj, k, x) {
            if (len >= sizeof msg - 1)
                break;
            if (json_is_number(x))
                len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s %.4g", len ? ", " : "",
                                        k, json_number_value(x));
            else
                len +=
                    (size_t)snprintf(msg + len, sizeof msg - len, "%s%s n/a", len ? ", " : "", k);
        }
        json_object_set_new(it, "values", obj);
    } else {
        json_decref(obj);
        json_object_set_new(it, "values", json_object());
    }
    json_object_del(it, "vals");
    json_object_set_new(it, "message", json_string(msg));
}

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

/* The alerts' clock: the last evaluated day, or the day of now when none. */
static cw_status alerts_today(cw_store *st, int64_t now, int64_t *today)
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

cw_status cw_api_alerts_list(cw_store *st, const char *status, const char *account, int64_t limit,
                             int64_t offset, int64_t now, json_t **out)
{
    *out = NULL;
    int code = -2; /* open */
    if (status && strcmp(status, "all") == 0)
        code = -1;
    else if (status && strcmp(status, "acknowledged") == 0)
        code = 2;
    else if (status && strcmp(status, "snoozed") == 0)
        code = 3;
    else if (status && strcmp(status, "resolved") == 0)
        code = -4;
    else if (status && strcmp(status, "open") != 0)
        return cw_store_set_error(st, CW_ERR_USAGE,
                                  "status: expected open, all, acknowledged, snoozed or "
                                  "resolved");
    if (limit < 1 || limit > 500 || offset < 0)
        return cw_store_set_error(st, CW_ERR_USAGE, "limit must be 1..500 and offset >= 0");
    int64_t today;
    cw_status s = alerts_today(st, now, &today);
    if (s != CW_OK)
        return s;
    sqlite3_stmt *q, *qc;
    s = prep(st,
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
    json_t *items = json_array();
    int64_t total = 0;
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
            total = sqlite3_column_int64(qc, 0);
        else
            s = fail(st, "alerts count");
    }
    sqlite3_finalize(qc);
    if (s != CW_OK) {
        json_decref(items);
        return s;
    }
    size_t i;
    json_t *it;
    json_array_foreach (items, i, it)
        alert_finish(it);
    *out = json_pack("{s:I, s:o}", "total", (json_int_t)total, "items", items);
    return CW_OK;
}

cw_status cw_api_alert_update(cw_store *st, int64_t id, cw_api_alert_op op, int64_t until_unix,
                              int64_t days, int64_t now, json_t **out)
{
    *out = NULL;
    static const cw_alert_action what[] = {0, CW_ALERT_DO_ACK, CW_ALERT_DO_SNOOZE,
                                           CW_ALERT_DO_RESOLVE};
    if (op < CW_ALERT_ACK || op > CW_ALERT_RESOLVE)
        return cw_store_set_error(st, CW_ERR_USAGE, "unknown alert operation");
    int64_t until_day = -1;
    if (op == CW_ALERT_SNOOZE) {
        int64_t today;
        cw_status s = alerts_today(st, now, &today);
        if (s != CW_OK)
            return s;
        until_day = days > 0 ? today + days : until_unix / 86400;
    }
    cw_status s = cw_alert_update(st, id, what[op], until_day, "api", NULL, now);
    if (s != CW_OK)
        return s;
    sqlite3_stmt *q;
    if ((s = prep(st, ALERT_COLUMNS " WHERE l.id = ?", &q)) != CW_OK)
        return s;
    sqlite3_bind_int64(q, 1, id);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        *out = row_object(q);
        alert_finish(*out);
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_ROW)
        return fail(st, "alert");
    return CW_OK;
}
