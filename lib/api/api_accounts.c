/*
 * api_accounts.c — the at-risk accounts list of the JSON API and the HTML
 * report, and its filter menus (api.h): parameters checked, the list
 * answered from a per-connection cache (search, filter, sort in memory) or
 * all in SQL without one, colours named. The rows come from the store's
 * read queries (store/store_api.h); no SQL here.
 */
#define _GNU_SOURCE /* qsort_r, memmem */
#include "api/api_int.h"
#include "store/store.h"
#include "core/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const colour_names[] = {"green", "yellow", "red"};

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

json_t *cw_api_day_json(int64_t day)
{
    char buf[32];
    return json_string(cw_time_format(day * 86400, CW_TIME_DATE, buf, sizeof buf));
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
    q->flag.share = 0.10; /* CW_FLAG_DEFAULT */
}

void cw_api_flag_items(json_t *items, double p_cut, int64_t id_cut, int any)
{
    size_t i;
    json_t *it;
    json_array_foreach (items, i, it) {
        json_t *p = json_object_get(it, "probability"), *rid = json_object_get(it, "_rid");
        if (!json_is_number(p)) {
            json_object_set_new(it, "flagged", json_null());
        } else {
            double x = json_number_value(p);
            int64_t id = json_is_integer(rid) ? (int64_t)json_integer_value(rid) : INT64_MAX;
            json_object_set_new(it, "flagged",
                                json_boolean(any && (x > p_cut || (x == p_cut && id <= id_cut))));
        }
        json_object_del(it, "_rid");
    }
}

/* Sort keys by name (cw_api_sort order), each with its natural direction. */
static const struct {
    const char *name;
    int natural_desc;
} sorts[CW_API_SORT__COUNT] = {
    {"risk", 1},    {"score", 0}, {"probability", 1}, {"change", 0},
    {"renewal", 0}, {"mrr", 1},   {"mrr_at_risk", 1}, {"name", 0},
};

/* Names the colour number of each item. */
static void name_colours(json_t *items)
{
    size_t i;
    json_t *it;
    json_array_foreach (items, i, it) {
        json_t *c = json_object_get(it, "colour");
        if (json_is_integer(c))
            json_object_set_new(it, "colour",
                                json_string(cw_api_colour_name((int)json_integer_value(c))));
    }
}

/* ---- the at-risk list from memory --------------------------------------
 * Sorting 100k accounts by a key read through two joins costs ~0.2 s per
 * request in SQL. A cache keeps, per reader connection, one flat row per
 * account with every filter and sort field, and a lazily built order per
 * (sort key, direction); a request then walks that order, filters, counts,
 * and reads only its page's rows from SQL. It is rebuilt when the store's
 * data version (SQLite: PRAGMA data_version; PostgreSQL: the commit
 * counter of accounts, scores and predictions) changed, or the scores /
 * predictions day or model changed (store/store_api.h reads the rows). */

typedef struct lrow {
    int64_t id, mrr_minor, renewal_unix;        /* renewal INT64_MIN = none */
    double score, prob, change, at_risk;        /* NaN = NULL */
    int colour;                                 /* -1 = not scored */
    uint32_t name, ext, segment, owner, status; /* offsets into the string arena */
} lrow;

struct cw_api_cache {
    int64_t data_version;
    cw_api_view view;
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

static cw_status cache_row(const cw_api_list_row *x, void *ud)
{
    cw_api_cache *c = ud;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        lrow *p = realloc(c->rows, cap * sizeof *p);
        if (p)
            c->rows = p;
        uint32_t *hs = p ? realloc(c->hay_start, (cap + 1) * sizeof *hs) : NULL;
        if (!hs)
            return CW_ERR_NOMEM;
        c->hay_start = hs;
        c->cap = cap;
    }
    lrow *r = &c->rows[c->n];
    r->id = x->id;
    r->mrr_minor = x->mrr_minor;
    r->renewal_unix = x->renewal_unix;
    r->score = x->score;
    r->prob = x->prob;
    r->change = x->change;
    r->at_risk = (double)r->mrr_minor * r->prob;
    r->colour = x->colour;
    c->hay_start[c->n] = (uint32_t)c->hay_len;
    if (hay_put(c, (const unsigned char *)x->name, '\x01') ||
        hay_put(c, (const unsigned char *)x->ext, '\n') ||
        arena_put(c, (const unsigned char *)x->name, &r->name, 0) ||
        arena_put(c, (const unsigned char *)x->ext, &r->ext, 0) ||
        arena_put(c, (const unsigned char *)x->segment, &r->segment, 0) ||
        arena_put(c, (const unsigned char *)x->owner, &r->owner, 0) ||
        arena_put(c, (const unsigned char *)x->status, &r->status, 0))
        return CW_ERR_NOMEM;
    if (!x->owner)
        r->owner = UINT32_MAX;
    c->n++;
    return CW_OK;
}

static cw_status cache_load(cw_store *st, cw_api_cache *c, int64_t dv, const cw_api_view *v)
{
    c->valid = 0;
    c->n = c->alen = c->hay_len = 0;
    for (int i = 0; i < 16; i++) {
        free(c->order[i]);
        c->order[i] = NULL;
    }
    cw_status s = cw_store_api_list_scan(st, v, cache_row, c);
    if (s != CW_OK)
        return s;
    if (c->hay_start)
        c->hay_start[c->n] = (uint32_t)c->hay_len;
    c->data_version = dv;
    c->view = *v;
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

static cw_status accounts_cached(cw_store *st, cw_api_cache *c, const cw_api_accounts_q *f, int k,
                                 int desc, const cw_api_view *v, json_t *items, int64_t *total_out)
{
    int64_t dv = -1;
    cw_status s = cw_store_data_version(st, &dv);
    if (s != CW_OK)
        return s;
    if (!c->valid || c->data_version != dv || c->view.score_day != v->score_day ||
        c->view.pred_day != v->pred_day || c->view.model != v->model)
        if ((s = cache_load(st, c, dv, v)) != CW_OK)
            return s;
    int slot = k * 2 + (desc ? 1 : 0);
    if (!c->order[slot]) {
        uint32_t *ord = malloc((c->n ? c->n : 1) * sizeof *ord);
        if (!ord)
            return cw_store_set_error(st, CW_ERR_NOMEM, "api: out of memory listing accounts");
        for (size_t i = 0; i < c->n; i++)
            ord[i] = (uint32_t)i;
        sort_ctx x = {c, k, desc};
        qsort_r(ord, c->n, sizeof *ord, cmp_rows, &x);
        c->order[slot] = ord;
    }
    int64_t asof_unix = v->day * 86400, total = 0;
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
            return cw_store_set_error(st, CW_ERR_NOMEM, "api: out of memory listing accounts");
        search_rows(c, needle_lc, mark);
    }
    /* The page's ids in order; their rows are read from the store. */
    int64_t *ids = malloc((size_t)(f->limit > 0 ? f->limit : 1) * sizeof *ids);
    size_t nids = 0;
    if (!ids) {
        free(mark);
        return cw_store_set_error(st, CW_ERR_NOMEM, "api: out of memory listing accounts");
    }
    const uint32_t *ord = c->order[slot];
    for (size_t i = 0; i < c->n; i++) {
        const lrow *r = &c->rows[ord[i]];
        if (!row_matches(c, r, f, asof_unix, mark))
            continue;
        if (total >= f->offset && total < f->offset + f->limit)
            ids[nids++] = r->id;
        total++;
    }
    free(mark);
    s = cw_store_api_list_rows(st, v, ids, nids, f->sparkline, items);
    free(ids);
    *total_out = total;
    return s;
}

cw_status cw_api_accounts(cw_store *st, cw_api_cache *cache, const cw_api_accounts_q *f,
                          json_t **out)
{
    cw_store_enter(st, "accounts");
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
    cw_api_view v;
    cw_status s = cw_store_api_view(st, &v);
    if (s != CW_OK)
        return s;
    int desc = f->desc < 0 ? sorts[k].natural_desc : f->desc;
    json_t *items = json_array();
    int64_t total = 0;
    if (cache)
        s = accounts_cached(st, cache, f, k, desc, &v, items, &total);
    else
        s = cw_store_api_list_sql(st, &v, f, (cw_api_sort)k, desc, items, &total);
    if (s != CW_OK) {
        json_decref(items);
        return s;
    }
    name_colours(items);
    double pc;
    int64_t ic;
    int any;
    if ((s = cw_store_api_flag_cut(st, &v, &f->flag, &pc, &ic, &any)) != CW_OK) {
        json_decref(items);
        return s;
    }
    cw_api_flag_items(items, pc, ic, any);
    char rule[48];
    cw_flag_format(&f->flag, rule, sizeof rule);
    *out = json_pack("{s:o, s:b, s:b, s:s, s:I, s:I, s:I, s:o}", "as_of", cw_api_day_json(v.day),
                     "scored", v.score_day >= 0, "predicted", v.pred_day >= 0, "flag", rule,
                     "total", (json_int_t)total, "limit", (json_int_t)f->limit, "offset",
                     (json_int_t)f->offset, "items", items);
    return *out ? CW_OK : CW_ERR_NOMEM;
}

cw_status cw_api_facets(cw_store *st, json_t **out)
{
    cw_store_enter(st, "facets");
    *out = NULL;
    cw_api_view v;
    cw_status s = cw_store_api_view(st, &v);
    if (s != CW_OK)
        return s;
    json_t *o = json_object(), *seg = json_array(), *own = json_array(), *col = json_object();
    json_object_set_new(o, "as_of", cw_api_day_json(v.day));
    json_object_set_new(o, "segments", seg);
    json_object_set_new(o, "owners", own);
    json_object_set_new(o, "colours", col);
    int64_t n[3];
    if ((s = cw_store_api_facets(st, &v, seg, own, n)) != CW_OK) {
        json_decref(o);
        return s;
    }
    for (int i = 0; i < 3; i++)
        json_object_set_new(col, colour_names[i], json_integer(n[i]));
    *out = o;
    return CW_OK;
}
