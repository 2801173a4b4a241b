/*
 * score.c — runs a scorecard over stored metric snapshots (`churnwatch
 * score`) and prints what it stored.
 *
 * One pass per snapshot day over the stored account vectors: resolve each
 * measure's vector index from the snapshot's own catalogue (custom metrics
 * and milestones can differ between snapshots), score, and write the row
 * with its contributions. The change is taken against the latest score
 * stored change_days (up to a week more) earlier, so days are scored in
 * ascending order inside one transaction.
 */
#define _POSIX_C_SOURCE 200809L
#include "health/score_db.h"
#include "health/scorecard_int.h"
#include "core/json.h"
#include "core/util.h"
#include "ingest/validate.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_VEC 1024

/* Accounts by internal id: what scoring and printing need of each. */
typedef struct acct_table {
    char **ext, **name, **segment, **owner;
    int64_t n;    /* ids < n */
    cw_store *st; /* where a load error's message goes */
} acct_table;

static void acct_free(acct_table *t)
{
    for (int64_t i = 0; i < t->n; i++) {
        free(t->ext[i]);
        free(t->name[i]);
        free(t->segment[i]);
        free(t->owner[i]);
    }
    free(t->ext);
    free(t->name);
    free(t->segment);
    free(t->owner);
    memset(t, 0, sizeof *t);
}

static cw_status acct_grow(acct_table *t, int64_t id)
{
    if (id < t->n)
        return CW_OK;
    int64_t n = t->n ? t->n : 256;
    while (n <= id)
        n *= 2;
    char ***cols[] = {&t->ext, &t->name, &t->segment, &t->owner};
    for (int c = 0; c < 4; c++) {
        char **p = realloc(*cols[c], (size_t)n * sizeof *p);
        if (!p)
            return CW_ERR_NOMEM;
        memset(p + t->n, 0, (size_t)(n - t->n) * sizeof *p);
        *cols[c] = p;
    }
    t->n = n;
    return CW_OK;
}

static cw_status on_account(int64_t id, const cw_value *v, void *ud)
{
    acct_table *t = ud;
    if (id < 0 || id > INT32_MAX)
        return cw_store_set_error(t->st, CW_ERR_DB, "scores: account id %lld out of range",
                                  (long long)id);
    cw_status s = acct_grow(t, id);
    if (s != CW_OK)
        return cw_store_set_error(t->st, s, "scores: loading accounts: %s", cw_strerror(s));
    /* accounts: 0 account_id, 1 name, 2 segment, 3 owner */
    t->ext[id] = cw_strndup(v[0].s ? v[0].s : "", v[0].len);
    t->name[id] = cw_strndup(v[1].s ? v[1].s : "", v[1].len);
    t->segment[id] = cw_strndup(v[2].s ? v[2].s : "", v[2].len);
    t->owner[id] = v[3].present && v[3].s ? cw_strndup(v[3].s, v[3].len) : NULL;
    if (!t->ext[id] || !t->name[id] || !t->segment[id] || (v[3].present && v[3].s && !t->owner[id]))
        return cw_store_set_error(t->st, CW_ERR_NOMEM, "scores: loading accounts: %s",
                                  cw_strerror(CW_ERR_NOMEM));
    return CW_OK;
}

static cw_status acct_load(cw_store *st, acct_table *t)
{
    memset(t, 0, sizeof *t);
    t->st = st;
    return cw_store_get_ops(st)->scan_rows(st, CW_KIND_ACCOUNTS, on_account, t);
}

/* Measure i's input comes from vector entry idx[i] (-1: not in this
 * snapshot, so missing). */
typedef struct day_map {
    int idx[SC_MAX_MEASURES];
    int tenure, mrr, renewal, seats, active;
} day_map;

static cw_status map_day(cw_store *st, const cw_scorecard *sc, int64_t day, day_map *m)
{
    char cat[MAX_VEC * 48];
    int found = 0;
    cw_status s = cw_store_get_ops(st)->snapshot_catalog(st, day, cat, sizeof cat, &found);
    if (s != CW_OK)
        return s;
    const char *names[MAX_VEC];
    int n = 0;
    for (char *p = cat; found && *p && n < MAX_VEC;) {
        names[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    for (int i = 0; i < sc->nmeasures; i++) {
        m->idx[i] = -1;
        for (int k = 0; k < n; k++)
            if (strcmp(names[k], sc->measures[i].metric) == 0)
                m->idx[i] = k;
    }
    /* Built-ins sit at their catalogue index in every snapshot. */
    m->tenure = cw_metric_index("tenure_days");
    m->mrr = cw_metric_index("mrr_minor");
    m->renewal = cw_metric_index("days_to_renewal");
    m->seats = cw_metric_index("seats");
    m->active = cw_metric_index("active_users");
    return CW_OK;
}

static void inputs(const cw_scorecard *sc, const day_map *m, const double *vals,
                   const double *trend, const double *peers, int n, double *in)
{
    for (int i = 0; i < sc->nmeasures; i++) {
        int k = m->idx[i];
        const double *src = sc->measures[i].source == SC_SRC_TREND  ? trend
                            : sc->measures[i].source == SC_SRC_PEER ? peers
                                                                    : vals;
        in[i] = k >= 0 && k < n && src ? src[k] : (double)NAN;
    }
}

/* ---- scoring run ---------------------------------------------------- */

typedef struct run_ctx {
    cw_store *st;
    const cw_scorecard *sc;
    score_db *db;
    acct_table acc;
    day_map map;
    double *prev; /* by account id: score change_days earlier, NaN none */
    int64_t day;
    int64_t rows, colours[3];
    cw_buf json; /* one row's contributions as JSON, reused */
} run_ctx;

static cw_status on_vector(int64_t day, int64_t account, const double *vals, const double *trend,
                           const double *peers, int n, void *ud)
{
    (void)day;
    run_ctx *c = ud;
    const cw_scorecard *sc = c->sc;
    double in[SC_MAX_MEASURES], contrib[SC_MAX_MEASURES];
    inputs(sc, &c->map, vals, trend, peers, n, in);
    double tenure = c->map.tenure < n ? vals[c->map.tenure] : (double)NAN;
    const char *seg = account < c->acc.n ? c->acc.segment[account] : NULL;
    int stage = cw_scorecard_stage(sc, tenure);
    double score = cw_scorecard_eval(sc, in, stage, seg, contrib, NULL);
    if (isnan(score))
        return CW_OK; /* no measure applies: no score, rather than a made-up one */
    int colour = cw_scorecard_colour(sc, score);
    double prev = account < c->acc.n ? c->prev[account] : (double)NAN;
    double change = isnan(prev) ? (double)NAN : score - prev;
    cw_buf *b = &c->json;
    cw_buf_reset(b);
    cw_buf_addc(b, '{');
    for (int i = 0; i < sc->nmeasures; i++) {
        if (isnan(contrib[i]))
            continue;
        if (b->len > 1)
            cw_buf_addc(b, ',');
        cw_json_strz(b, sc->measures[i].name);
        cw_buf_addc(b, ':');
        cw_json_num_sig(b, contrib[i], 6);
    }
    cw_buf_addc(b, '}');
    if (cw_buf_status(b))
        return cw_buf_status(b);
    c->rows++;
    c->colours[colour]++;
    return cw_score_db_put(c->db, c->day, account, sc->hash, score, colour, change, b->p, b->len);
}

typedef struct day_list {
    int64_t *d;
    size_t n, cap;
} day_list;

static cw_status on_day(int64_t day, void *ud)
{
    day_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        int64_t *d = realloc(l->d, cap * sizeof *d);
        if (!d)
            return CW_ERR_NOMEM;
        l->d = d;
        l->cap = cap;
    }
    l->d[l->n++] = day;
    return CW_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cw_score_opts_init(cw_score_opts *o)
{
    memset(o, 0, sizeof *o);
    o->from_day = INT32_MIN;
    o->to_day = INT32_MAX;
}

cw_status cw_score_run(cw_store *st, const cw_scorecard *sc, const cw_score_opts *o,
                       cw_score_stats *stats)
{
    cw_store_enter(st, "score");
    cw_score_opts def;
    if (!o) {
        cw_score_opts_init(&def);
        o = &def;
    }
    cw_score_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    stats->last_day = -1;
    double t0 = now_s();
    const cw_store_ops *ops = cw_store_get_ops(st);
    day_list days = {0};
    run_ctx c;
    memset(&c, 0, sizeof c);
    c.st = st;
    c.sc = sc;
    cw_buf_init(&c.json, CW_BUF_MAX_LINE);
    cw_status s = ops->snapshot_list(st, o->from_day, o->to_day, on_day, &days);
    if (s == CW_OK && days.n == 0)
        s = cw_store_set_error(st, CW_ERR_NOTFOUND,
                               "score: no metric snapshots in the range; run `churnwatch "
                               "metrics` first");
    if (s == CW_OK)
        s = acct_load(st, &c.acc);
    if (s == CW_OK && !(c.prev = malloc((size_t)(c.acc.n ? c.acc.n : 1) * sizeof *c.prev)))
        s = cw_store_set_error(st, CW_ERR_NOMEM, "score: out of memory");
    if (s == CW_OK)
        s = ops->begin(st);
    if (s != CW_OK)
        goto out;
    if ((s = cw_score_db_open(st, &c.db)) != CW_OK ||
        (s = cw_score_db_put_scorecard(c.db, sc->hash, sc->definition, (int64_t)time(NULL))) !=
            CW_OK)
        goto fail;
    for (size_t d = 0; d < days.n; d++) {
        int64_t day = days.d[d], rows, same;
        if ((s = cw_score_db_day_status(c.db, day, sc->hash, &rows, &same)) != CW_OK)
            goto fail;
        stats->last_day = day;
        if (rows > 0 && rows == same && !o->recompute) {
            stats->days_skipped++;
            continue;
        }
        if (rows > 0 && (s = cw_score_db_delete_day(c.db, day)) != CW_OK)
            goto fail;
        for (int64_t i = 0; i < c.acc.n; i++)
            c.prev[i] = NAN;
        if ((s = cw_score_db_prev(c.db, day - sc->change_days - 7, day - sc->change_days, c.prev,
                                  c.acc.n)) != CW_OK ||
            (s = map_day(st, sc, day, &c.map)) != CW_OK)
            goto fail;
        c.day = day;
        c.rows = 0;
        memset(c.colours, 0, sizeof c.colours);
        if ((s = ops->account_metrics_scan(st, day, day, 0, on_vector, &c)) != CW_OK ||
            (s = cw_score_db_flush(c.db)) != CW_OK)
            goto fail;
        stats->rows += c.rows;
        stats->days_scored++;
        memcpy(stats->colour_count, c.colours, sizeof c.colours);
        if (o->on_progress)
            o->on_progress("score: snapshots", (int64_t)d + 1, (int64_t)days.n, now_s() - t0,
                           o->ud);
    }
    cw_score_db_close(c.db);
    c.db = NULL;
    s = ops->commit(st);
    goto out;
fail:
    cw_score_db_close(c.db);
    c.db = NULL;
    ops->rollback(st);
out:
    free(days.d);
    free(c.prev);
    cw_buf_free(&c.json);
    acct_free(&c.acc);
    stats->elapsed_s = now_s() - t0;
    return s;
}

/* ---- export ----------------------------------------------------------- */

typedef struct ex_row {
    int64_t account;
    double score, change;
    int colour, stage;
    double mrr, renewal, seats, active;
    double in[SC_MAX_MEASURES], contrib[SC_MAX_MEASURES], max[SC_MAX_MEASURES];
} ex_row;

typedef struct ex_ctx {
    cw_store *st;
    const cw_scorecard *sc;
    const cw_score_export_opts *o;
    acct_table acc;
    int64_t want; /* account id or 0 */
    ex_row *rows;
    size_t n, cap;
    int64_t *slot; /* account id -> row index + 1 */
    const char *other_hash;
    char other[17];
    day_map map;
} ex_ctx;

static cw_status on_score(int64_t account, double score, int colour, double change,
                          const char *hash, void *ud)
{
    ex_ctx *x = ud;
    if (x->want && account != x->want)
        return CW_OK;
    if (strcmp(hash, x->sc->hash) != 0) {
        snprintf(x->other, sizeof x->other, "%s", hash);
        x->other_hash = x->other;
        return CW_OK;
    }
    if (account < 0 || account >= x->acc.n)
        return CW_OK;
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 256;
        ex_row *r = realloc(x->rows, cap * sizeof *r);
        if (!r)
            return CW_ERR_NOMEM;
        x->rows = r;
        x->cap = cap;
    }
    ex_row *r = &x->rows[x->n++];
    memset(r, 0, sizeof *r);
    r->account = account;
    r->score = score;
    r->colour = colour;
    r->change = change;
    r->mrr = r->renewal = r->seats = r->active = NAN;
    x->slot[account] = (int64_t)x->n;
    return CW_OK;
}

static cw_status on_ex_vector(int64_t day, int64_t account, const double *vals, const double *trend,
                              const double *peers, int n, void *ud)
{
    (void)day;
    ex_ctx *x = ud;
    if (account < 0 || account >= x->acc.n || !x->slot[account])
        return CW_OK;
    ex_row *r = &x->rows[x->slot[account] - 1];
    inputs(x->sc, &x->map, vals, trend, peers, n, r->in);
    double tenure = x->map.tenure < n ? vals[x->map.tenure] : (double)NAN;
    r->stage = cw_scorecard_stage(x->sc, tenure);
    cw_scorecard_eval(x->sc, r->in, r->stage, x->acc.segment[account], r->contrib, r->max);
    r->mrr = x->map.mrr < n ? vals[x->map.mrr] : (double)NAN;
    r->renewal = x->map.renewal < n ? vals[x->map.renewal] : (double)NAN;
    r->seats = x->map.seats < n ? vals[x->map.seats] : (double)NAN;
    r->active = x->map.active < n ? vals[x->map.active] : (double)NAN;
    return CW_OK;
}

static int by_risk(const void *a, const void *b)
{
    const ex_row *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return x->account < y->account ? -1 : x->account > y->account;
}

/* Measures of r ordered by points lost (max - contribution), largest
 * first; returns how many apply. */
static int drivers_of(const cw_scorecard *sc, const ex_row *r, int *order)
{
    int n = 0;
    for (int i = 0; i < sc->nmeasures; i++)
        if (!isnan(r->contrib[i]))
            order[n++] = i;
    for (int i = 1; i < n; i++) {
        int v = order[i], j = i;
        double lv = r->max[v] - r->contrib[v];
        while (j > 0 && r->max[order[j - 1]] - r->contrib[order[j - 1]] < lv) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    return n;
}

static const char *colour_name(int c)
{
    return c == CW_GREEN ? "green" : c == CW_YELLOW ? "yellow" : "red";
}

static void csv_str(FILE *out, const char *s)
{
    if (!s)
        return;
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void fmt_num(char *b, size_t n, double v, const char *fmt)
{
    if (isnan(v))
        snprintf(b, n, "-");
    else
        snprintf(b, n, fmt, v);
}

static void print_breakdown(ex_ctx *x, const ex_row *r, int64_t day, FILE *out)
{
    const cw_scorecard *sc = x->sc;
    char d[16], chg[32];
    cw_time_format(day * 86400, CW_TIME_DATE, d, sizeof d);
    fmt_num(chg, sizeof chg, r->change, "%+.1f");
    fprintf(out, "%s  %s  %s\nscore %.1f  %s  change %s  stage %s  scorecard %s (%s)\n\n",
            x->acc.ext[r->account], x->acc.name[r->account], d, r->score, colour_name(r->colour),
            chg, r->stage == SC_STAGE_ONBOARDING ? "onboarding" : "established", sc->name,
            sc->hash);
    fprintf(out, "%-12s %-28s %12s %8s %8s %8s\n", "group", "measure", "value", "points", "of",
            "lost");
    int order[SC_MAX_MEASURES];
    int n = drivers_of(sc, r, order);
    for (int k = 0; k < n; k++) {
        int i = order[k];
        char v[32];
        fmt_num(v, sizeof v, r->in[i], "%.4g");
        fprintf(out, "%-12s %-28s %12s %8.1f %8.1f %8.1f\n", sc->groups[sc->measures[i].group].name,
                sc->measures[i].name, v, r->contrib[i], r->max[i], r->max[i] - r->contrib[i]);
    }
    for (int i = 0; i < sc->nmeasures; i++) {
        if (!isnan(r->contrib[i]))
            continue;
        char v[32];
        fmt_num(v, sizeof v, r->in[i], "%.4g");
        fprintf(out, "%-12s %-28s %12s  %s\n", sc->groups[sc->measures[i].group].name,
                sc->measures[i].name, isnan(r->in[i]) ? "no data" : v,
                isnan(r->in[i]) ? "dropped, weight re-spread" : "not for this stage or segment");
    }
}

void cw_score_export_opts_init(cw_score_export_opts *o)
{
    memset(o, 0, sizeof *o);
    o->day = -1;
    o->colour = -1;
    o->drivers = 3;
}

cw_status cw_score_export(cw_store *st, const cw_scorecard *sc, const cw_score_export_opts *o,
                          FILE *out)
{
    cw_store_enter(st, "score export");
    ex_ctx x;
    memset(&x, 0, sizeof x);
    x.st = st;
    x.sc = sc;
    x.o = o;
    score_db *db = NULL;
    int64_t day = o->day;
    cw_status s = acct_load(st, &x.acc);
    if (s == CW_OK)
        s = cw_score_db_open(st, &db);
    if (s == CW_OK && day < 0)
        s = cw_score_db_latest_day(db, INT32_MIN, INT32_MAX, &day);
    if (s != CW_OK)
        goto out;
    if (day < 0) {
        s = cw_store_set_error(st, CW_ERR_NOTFOUND,
                               "score: nothing scored yet; run `churnwatch "
                               "score`");
        goto out;
    }
    if (o->account) {
        for (int64_t i = 0; i < x.acc.n && !x.want; i++)
            if (x.acc.ext[i] && strcmp(x.acc.ext[i], o->account) == 0)
                x.want = i;
        if (!x.want) {
            s = cw_store_set_error(st, CW_ERR_NOTFOUND, "score: no account '%s'", o->account);
            goto out;
        }
    }
    if (!(x.slot = calloc((size_t)(x.acc.n ? x.acc.n : 1), sizeof *x.slot))) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "score export: out of memory");
        goto out;
    }
    if ((s = cw_score_db_scan_day(db, day, on_score, &x)) != CW_OK)
        goto out;
    char d[16];
    cw_time_format(day * 86400, CW_TIME_DATE, d, sizeof d);
    if (x.n == 0) {
        s = x.other_hash
                ? cw_store_set_error(st, CW_ERR_USAGE,
                                     "score: %s was scored by scorecard %s, not the "
                                     "configured %s; run `churnwatch score --recompute`",
                                     d, x.other_hash, sc->hash)
                : cw_store_set_error(st, CW_ERR_NOTFOUND, "score: no scores on %s%s%s", d,
                                     o->account ? " for " : "", o->account ? o->account : "");
        goto out;
    }
    if ((s = map_day(st, sc, day, &x.map)) != CW_OK ||
        (s = cw_store_get_ops(st)->account_metrics_scan(st, day, day, x.want, on_ex_vector, &x)) !=
            CW_OK)
        goto out;
    qsort(x.rows, x.n, sizeof *x.rows, by_risk);
    if (o->account && o->format == CW_FORMAT_TABLE) {
        print_breakdown(&x, &x.rows[0], day, out);
        goto out;
    }
    int64_t counts[3] = {0};
    for (size_t i = 0; i < x.n; i++)
        counts[x.rows[i].colour]++;
    if (o->format == CW_FORMAT_TABLE) {
        fprintf(out, "health on %s (scorecard %s %s): %lld green, %lld yellow, %lld red\n\n", d,
                sc->name, sc->hash, (long long)counts[0], (long long)counts[1],
                (long long)counts[2]);
        fprintf(out, "%-14s %-24s %6s %-6s %7s %12s %8s  %s\n", "account", "name", "score",
                "colour", "change", "mrr", "renewal", "weakest measures (points lost)");
    } else if (o->format == CW_FORMAT_CSV) {
        fprintf(out, "day,account_id,name,segment,owner,score,colour,change,stage,mrr_minor,"
                     "days_to_renewal,drivers\n");
    }
    size_t shown = 0;
    for (size_t i = 0; i < x.n; i++) {
        const ex_row *r = &x.rows[i];
        if (o->colour >= 0 && r->colour != o->colour)
            continue;
        if (o->limit > 0 && shown == (size_t)o->limit)
            break;
        shown++;
        int order[SC_MAX_MEASURES];
        int nd = drivers_of(sc, r, order);
        if (nd > o->drivers)
            nd = o->drivers;
        const char *ext = x.acc.ext[r->account], *name = x.acc.name[r->account];
        if (o->format == CW_FORMAT_TABLE) {
            char chg[32], mrr[32], ren[32];
            fmt_num(chg, sizeof chg, r->change, "%+.1f");
            fmt_num(mrr, sizeof mrr, r->mrr, "%.0f");
            fmt_num(ren, sizeof ren, r->renewal, "%.0fd");
            fprintf(out, "%-14.14s %-24.24s %6.1f %-6s %7s %12s %8s  ", ext, name, r->score,
                    colour_name(r->colour), chg, mrr, ren);
            for (int k = 0; k < nd; k++)
                fprintf(out, "%s%s (-%.1f)", k ? ", " : "", sc->measures[order[k]].name,
                        r->max[order[k]] - r->contrib[order[k]]);
            fputc('\n', out);
        } else if (o->format == CW_FORMAT_CSV) {
            fprintf(out, "%s,", d);
            csv_str(out, ext);
            fputc(',', out);
            csv_str(out, name);
            fputc(',', out);
            csv_str(out, x.acc.segment[r->account]);
            fputc(',', out);
            csv_str(out, x.acc.owner[r->account]);
            fprintf(out, ",%.4f,%s,", r->score, colour_name(r->colour));
            if (!isnan(r->change))
                fprintf(out, "%.4f", r->change);
            fprintf(out, ",%s,", r->stage == SC_STAGE_ONBOARDING ? "onboarding" : "established");
            if (!isnan(r->mrr))
                fprintf(out, "%.0f", r->mrr);
            fputc(',', out);
            if (!isnan(r->renewal))
                fprintf(out, "%.0f", r->renewal);
            fputc(',', out);
            for (int k = 0; k < nd; k++)
                fprintf(out, "%s%s", k ? ";" : "", sc->measures[order[k]].name);
            fputc('\n', out);
        } else {
            fprintf(out, "{\"day\":\"%s\",\"account_id\":", d);
            cw_json_fstrz(out, ext);
            fputs(",\"name\":", out);
            cw_json_fstrz(out, name);
            fputs(",\"segment\":", out);
            cw_json_fstrz(out, x.acc.segment[r->account]);
            fputs(",\"owner\":", out);
            if (x.acc.owner[r->account])
                cw_json_fstrz(out, x.acc.owner[r->account]);
            else
                fputs("null", out);
            fputs(",\"score\":", out);
            cw_json_fnum_sig(out, r->score, 6);
            fprintf(out, ",\"colour\":\"%s\",\"change\":", colour_name(r->colour));
            cw_json_fnum_sig(out, r->change, 6);
            fprintf(out, ",\"stage\":\"%s\",\"scorecard\":\"%s\",\"mrr_minor\":",
                    r->stage == SC_STAGE_ONBOARDING ? "onboarding" : "established", sc->hash);
            cw_json_fnum(out, r->mrr);
            fputs(",\"days_to_renewal\":", out);
            cw_json_fnum(out, r->renewal);
            fputs(",\"measures\":[", out);
            int all[SC_MAX_MEASURES];
            int na = drivers_of(sc, r, all);
            for (int k = 0; k < na; k++) {
                const cw_sc_measure *m = &sc->measures[all[k]];
                fprintf(out, "%s{\"name\":\"%s\",\"metric\":\"%s\",\"group\":\"%s\",\"value\":",
                        k ? "," : "", m->name, m->metric, sc->groups[m->group].name);
                cw_json_fnum_sig(out, r->in[all[k]], 6);
                fputs(",\"points\":", out);
                cw_json_fnum_sig(out, r->contrib[all[k]], 6);
                fputs(",\"max\":", out);
                cw_json_fnum_sig(out, r->max[all[k]], 6);
                fputc('}', out);
            }
            fputs("]}\n", out);
        }
    }
out:
    cw_score_db_close(db);
    free(x.rows);
    free(x.slot);
    acct_free(&x.acc);
    return s;
}
