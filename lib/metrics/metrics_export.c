/*
 * metrics_export.c — stored metric snapshots out to people and programs:
 * long-form CSV (one row per day, entity and metric), JSON Lines (one
 * object per day and entity), or a readable table. Entities are shown by
 * their external ids; missing values are empty (CSV) or null (JSON).
 */
#define _POSIX_C_SOURCE 200809L
#include "metrics/metrics_int.h"
#include "core/json.h"
#include "core/util.h"
#include "store/store.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct names {
    char **ext; /* by internal id */
    int64_t n;
} names;

static cw_status name_put(const char *ext, size_t len, int64_t id, int64_t aux, void *ud)
{
    (void)aux;
    names *nm = ud;
    if (id >= nm->n) {
        int64_t nn = (id + 1) * 2;
        char **p = realloc(nm->ext, sizeof *p * (size_t)nn);
        if (!p)
            return CW_ERR_NOMEM;
        memset(p + nm->n, 0, sizeof *p * (size_t)(nn - nm->n));
        nm->ext = p;
        nm->n = nn;
    }
    nm->ext[id] = cw_strndup(ext, len);
    return nm->ext[id] ? CW_OK : CW_ERR_NOMEM;
}

static void names_free(names *nm)
{
    for (int64_t i = 0; i < nm->n; i++)
        free(nm->ext[i]);
    free(nm->ext);
}

static const char *name_of(const names *nm, int64_t id)
{
    return id >= 0 && id < nm->n && nm->ext[id] ? nm->ext[id] : "?";
}

#define MAX_VEC 1024

typedef struct ex_ctx {
    cw_store *st;
    int64_t cat_day; /* the day whose catalog is loaded, -1 none */
    char cat[32768];
    const char *names[MAX_VEC];
    int ncat;
    const cw_metrics_export_opts *o;
    FILE *out;
    names accounts, users;
    int metric; /* catalogue index or -1 */
    int64_t rows;
    int header_done;
} ex_ctx;

/* Writes v for machines with the JSON writer's rule (core/json.h): the
 * fewest digits that read back as exactly v, in plain notation, so an export
 * loses nothing; missing values are empty (CSV) or null (JSON). */
static void num(FILE *out, double v, int json)
{
    if (isfinite(v))
        cw_json_fnum(out, v);
    else
        fputs(json ? "null" : "", out);
}

/* Formats v for people: whole numbers in full (MRR 50000, not 5e+04),
 * others to four significant digits; sign forces a leading + or -. */
static void human(char *buf, size_t size, double v, int sign)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, size, sign ? "%+.0f" : "%.0f", v == 0 ? 0.0 : v);
    else
        snprintf(buf, size, sign ? "%+.4g" : "%.4g", v);
}

/* Writes a CSV field, quoted when needed. */
static void csv_str(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
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

/* Name and unit of account vector entry m: a built-in, then the custom
 * metrics the snapshot was computed with. */
static const char *acc_name(const ex_ctx *x, int m)
{
    if (m < x->ncat)
        return x->names[m];
    if (m < M__COUNT)
        return cw_metric_catalog[m].name;
    if (m - M__COUNT < x->o->ncustom)
        return x->o->custom[m - M__COUNT].name;
    return "?";
}

/* Loads the names of day's account vector (stored with the snapshot). */
static cw_status load_catalog(ex_ctx *x, int64_t day)
{
    if (x->cat_day == day)
        return CW_OK;
    int found = 0;
    x->ncat = 0;
    x->cat_day = day;
    cw_status s =
        cw_store_get_ops(x->st)->snapshot_catalog(x->st, day, x->cat, sizeof x->cat, &found);
    if (s != CW_OK || !found)
        return s;
    for (char *p = x->cat; *p && x->ncat < MAX_VEC;) {
        x->names[x->ncat++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return CW_OK;
}

/* Vector index of metric name on the loaded day, or -1. */
static int name_index(const ex_ctx *x, const char *name)
{
    for (int i = 0; i < x->ncat; i++)
        if (strcmp(x->names[i], name) == 0)
            return i;
    int b = cw_metric_index(name);
    return b >= 0 && b < M__COUNT ? b : -1;
}

static const char *acc_unit(const ex_ctx *x, int m)
{
    if (m < M__COUNT)
        return cw_metric_catalog[m].unit;
    const char *name = acc_name(x, m);
    if (strncmp(name, "days_to_milestone:", 18) == 0)
        return "days";
    for (int i = 0; i < x->o->ncustom; i++)
        if (strcmp(x->o->custom[i].name, name) == 0 && x->o->custom[i].unit)
            return x->o->custom[i].unit;
    return "";
}

static cw_status on_account_row(int64_t day, int64_t account, const double *vals,
                                const double *trend, const double *peers, int n, void *ud)
{
    ex_ctx *x = ud;
    char d[16];
    cw_time_format(day * 86400, 1, d, sizeof d);
    const char *ext = name_of(&x->accounts, account);
    cw_status ls = load_catalog(x, day);
    if (ls != CW_OK)
        return ls;
    int want = x->metric >= 0 && x->o->metric ? name_index(x, x->o->metric) : -1;
    if (x->o->metric && x->metric >= 0 && want < 0)
        return CW_OK; /* not in this day's vector */
    int lo = want >= 0 ? want : 0, hi = want >= 0 ? want + 1 : n;
    if (hi > n)
        hi = n;
    x->rows++;
    if (x->o->format == CW_FORMAT_CSV) {
        if (!x->header_done++)
            fputs("day,account_id,metric,value,trend_28d,peer_pct\n", x->out);
        for (int m = lo; m < hi; m++) {
            fprintf(x->out, "%s,", d);
            csv_str(x->out, ext);
            fprintf(x->out, ",%s,", acc_name(x, m));
            num(x->out, vals[m], 0);
            fputc(',', x->out);
            num(x->out, trend ? trend[m] : NAN, 0);
            fputc(',', x->out);
            num(x->out, peers ? peers[m] : NAN, 0);
            fputc('\n', x->out);
        }
    } else if (x->o->format == CW_FORMAT_JSON) {
        fprintf(x->out, "{\"day\":\"%s\",\"account_id\":", d);
        cw_json_fstrz(x->out, ext);
        const char *part[] = {"values", "trend_28d", "peer_pct"};
        const double *src[] = {vals, trend, peers};
        for (int p = 0; p < 3; p++) {
            fprintf(x->out, ",\"%s\":{", part[p]);
            for (int m = lo; m < hi; m++) {
                fprintf(x->out, "%s\"%s\":", m > lo ? "," : "", acc_name(x, m));
                num(x->out, src[p] ? src[p][m] : NAN, 1);
            }
            fputc('}', x->out);
        }
        fputs("}\n", x->out);
    } else if (x->o->account || x->metric < 0) {
        /* One account (or every metric): a vertical table. */
        fprintf(x->out, "%s  %s\n", d, ext);
        /* the metric column fits the longest name shown (milestone names vary) */
        int wn = 28;
        for (int m = lo; m < hi; m++)
            if ((int)strlen(acc_name(x, m)) > wn)
                wn = (int)strlen(acc_name(x, m));
        fprintf(x->out, "  %-*s %14s %12s %9s  %s\n", wn, "metric", "value", "28d change",
                "peer pct", "unit");
        for (int m = lo; m < hi; m++) {
            char v[32] = "", t[32] = "", p[32] = "";
            if (!isnan(vals[m]))
                human(v, sizeof v, vals[m], 0);
            if (trend && !isnan(trend[m]))
                human(t, sizeof t, trend[m], 1);
            if (peers && !isnan(peers[m]))
                snprintf(p, sizeof p, "%.0f", peers[m]);
            fprintf(x->out, "  %-*s %14s %12s %9s  %s\n", wn, acc_name(x, m), v, t, p,
                    acc_unit(x, m));
        }
    } else {
        if (!x->header_done++)
            fprintf(x->out, "%-10s  %-16s %14s %12s %9s\n", "day", "account", acc_name(x, lo),
                    "28d change", "peer pct");
        char v[32] = "", t[32] = "", p[32] = "";
        if (!isnan(vals[lo]))
            human(v, sizeof v, vals[lo], 0);
        if (trend && !isnan(trend[lo]))
            human(t, sizeof t, trend[lo], 1);
        if (peers && !isnan(peers[lo]))
            snprintf(p, sizeof p, "%.0f", peers[lo]);
        fprintf(x->out, "%-10s  %-16s %14s %12s %9s\n", d, ext, v, t, p);
    }
    return ferror(x->out) ? CW_ERR_IO : CW_OK;
}

static cw_status on_user_row(int64_t day, int64_t user, int64_t account, const double *vals, int n,
                             void *ud)
{
    ex_ctx *x = ud;
    char d[16];
    cw_time_format(day * 86400, 1, d, sizeof d);
    int lo = 0, hi = U__COUNT;
    if (x->metric >= 0)
        lo = x->metric - M__COUNT, hi = lo + 1;
    if (hi > n)
        hi = n;
    x->rows++;
    const char *uext = name_of(&x->users, user), *aext = name_of(&x->accounts, account);
    if (x->o->format == CW_FORMAT_JSON) {
        fprintf(x->out, "{\"day\":\"%s\",\"user_id\":", d);
        cw_json_fstrz(x->out, uext);
        fputs(",\"account_id\":", x->out);
        cw_json_fstrz(x->out, aext);
        fputs(",\"values\":{", x->out);
        for (int m = lo; m < hi; m++) {
            fprintf(x->out, "%s\"%s\":", m > lo ? "," : "", cw_metric_catalog[M__COUNT + m].name);
            num(x->out, vals[m], 1);
        }
        fputs("}}\n", x->out);
        return ferror(x->out) ? CW_ERR_IO : CW_OK;
    }
    if (!x->header_done++) {
        if (x->o->format == CW_FORMAT_CSV) {
            fputs("day,user_id,account_id", x->out);
            for (int m = lo; m < hi; m++)
                fprintf(x->out, ",%s", cw_metric_catalog[M__COUNT + m].name);
            fputc('\n', x->out);
        } else {
            fprintf(x->out, "%-10s  %-12s %-10s", "day", "user", "account");
            for (int m = lo; m < hi; m++)
                fprintf(x->out, " %s", cw_metric_catalog[M__COUNT + m].name + 5);
            fputc('\n', x->out);
        }
    }
    if (x->o->format == CW_FORMAT_CSV) {
        fprintf(x->out, "%s,", d);
        csv_str(x->out, uext);
        fputc(',', x->out);
        csv_str(x->out, aext);
        for (int m = lo; m < hi; m++) {
            fputc(',', x->out);
            num(x->out, vals[m], 0);
        }
    } else {
        fprintf(x->out, "%-10s  %-12s %-10s", d, uext, aext);
        for (int m = lo; m < hi; m++) {
            int wdt = (int)strlen(cw_metric_catalog[M__COUNT + m].name + 5);
            char v[32] = "";
            if (!isnan(vals[m]))
                human(v, sizeof v, vals[m], 0);
            fprintf(x->out, " %*s", wdt, v);
        }
    }
    fputc('\n', x->out);
    return ferror(x->out) ? CW_ERR_IO : CW_OK;
}

static cw_status latest_day(int64_t day, void *ud)
{
    *(int64_t *)ud = day;
    return CW_OK;
}

cw_status cw_metrics_export(cw_store *st, const cw_metrics_export_opts *o, FILE *out)
{
    const cw_store_ops *ops = cw_store_get_ops(st);
    ex_ctx x;
    memset(&x, 0, sizeof x);
    x.o = o;
    x.out = out;
    x.st = st;
    x.cat_day = -1;
    x.metric = -1;
    if (o->metric) {
        x.metric = cw_metric_index(o->metric);
        for (int i = 0; x.metric < 0 && i < o->ncustom; i++)
            if (strcmp(o->custom[i].name, o->metric) == 0)
                x.metric = M__COUNT + i;
        if (x.metric < 0 && strncmp(o->metric, "days_to_milestone:", 18) == 0)
            x.metric = M__COUNT; /* resolved per day from the snapshot's catalog */
        if (x.metric < 0)
            return cw_store_set_error(
                st, CW_ERR_USAGE, "unknown metric '%s' (see `churnwatch metrics list`)", o->metric);
        int user_level = x.metric >= M__COUNT && x.metric < cw_metric_catalog_count &&
                         cw_metric_catalog[x.metric].scope == CW_SCOPE_USER &&
                         cw_metric_index(o->metric) >= 0;
        if (user_level != (o->users != 0))
            return cw_store_set_error(st, CW_ERR_USAGE, "metric '%s' is %s-level%s", o->metric,
                                      user_level ? "user" : "account",
                                      o->users ? "" : " (add --users)");
    }
    cw_status s = ops->load_ids(st, CW_KIND_ACCOUNTS, name_put, &x.accounts);
    if (s == CW_OK && o->users)
        s = ops->load_ids(st, CW_KIND_USERS, name_put, &x.users);
    int64_t account = 0;
    if (s == CW_OK && o->account) {
        for (int64_t i = 0; i < x.accounts.n && !account; i++)
            if (x.accounts.ext[i] && strcmp(x.accounts.ext[i], o->account) == 0)
                account = i;
        if (!account)
            s = cw_store_set_error(st, CW_ERR_NOTFOUND, "unknown account '%s'", o->account);
    }
    int64_t lo = o->from_day, hi = o->to_day;
    if (s == CW_OK && hi < 0) {
        int64_t last = -1;
        s = ops->snapshot_list(st, lo, INT64_MAX / 2, latest_day, &last);
        lo = hi = last;
    }
    if (s == CW_OK && lo < 0)
        s = cw_store_set_error(
            st, CW_ERR_NOTFOUND,
            "no metric snapshots stored (run `churnwatch metrics --as-of DATE`)");
    if (s == CW_OK)
        s = o->users ? ops->user_metrics_scan(st, lo, hi, account, on_user_row, &x)
                     : ops->account_metrics_scan(st, lo, hi, account, on_account_row, &x);
    if (s == CW_OK && x.rows == 0)
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "no stored metrics match");
    names_free(&x.accounts);
    names_free(&x.users);
    return s;
}
