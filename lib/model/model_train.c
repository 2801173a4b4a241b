/*
 * model_train.c — `churnwatch train`: the time split, fitting and
 * calibrating each model kind, testing it on later snapshots and saving it
 * with everything needed to use and judge it (meta JSON: features, scaling,
 * windows, horizon, library version, test metrics).
 *
 * The split never lets a training label see the test period: the last
 * training snapshot's label window ends before the first test snapshot
 * (a purge gap of one horizon), so an account's churn cannot be both a
 * training label and a test label. The calibration slice (the last fifth of
 * the training days) is not purged from the fit slice; docs/model.md says
 * what that costs.
 */
#include "model/model_int.h"
#include "core/json.h"
#include "core/util.h"
#include "store/store.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void cw_train_opts_init(cw_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->kinds = CW_MODEL_LOGREG | CW_MODEL_XGBOOST;
    o->horizon_days = 90;
    o->test_share = 0.25;
}

void cw_split_free(cw_split *sp)
{
    if (!sp)
        return;
    cw_subs_free(&sp->subs);
    cw_mx_free(&sp->mx);
    free(sp->fit);
    free(sp->cal);
    free(sp->test);
    memset(sp, 0, sizeof *sp);
}

cw_status cw_split_make(cw_store *st, int64_t from_day, int64_t to_day, int horizon_days,
                        double seat_loss_pct, double mrr_loss_pct, double test_share,
                        int want_peers, cw_split *sp)
{
    cw_split_opts o = {.from_day = from_day,
                       .to_day = to_day,
                       .horizon_days = horizon_days,
                       .seat_loss_pct = seat_loss_pct,
                       .mrr_loss_pct = mrr_loss_pct,
                       .test_share = test_share,
                       .want_peers = want_peers,
                       .no_product_features = 1,
                       .min_positives = -1};
    return cw_split_make_ex(st, &o, sp);
}

cw_status cw_split_make_ex(cw_store *st, const cw_split_opts *o, cw_split *sp)
{
    memset(sp, 0, sizeof *sp);
    /* renewal rows: a label window runs from the observation day to the end
     * of the renewal day, at most renewal_days + 1 days — the purge gap */
    int renewal = o->rows_design == CW_ROWS_RENEWAL;
    int rdays = o->renewal_days > 0 ? o->renewal_days : 30;
    int horizon_days = renewal ? rdays + 1 : o->horizon_days;
    double test_share = o->test_share;
    cw_status rc = cw_subs_load(st, &sp->subs);
    if (rc != CW_OK)
        return rc;
    cw_mx_opts mo = {.from_day = o->from_day,
                     .to_day = o->to_day,
                     .horizon_days = horizon_days,
                     .seat_loss_pct = o->seat_loss_pct,
                     .mrr_loss_pct = o->mrr_loss_pct,
                     .want_peers = o->want_peers,
                     .data_end_day = o->data_end_day,
                     .no_product_features = o->no_product_features,
                     .max_event_names = o->max_event_names,
                     .rows_design = renewal ? CW_ROWS_RENEWAL : CW_ROWS_WEEKLY,
                     .renewal_days = rdays};
    rc = cw_mx_load(st, &sp->subs, &mo, &sp->mx);
    if (rc != CW_OK) {
        cw_subs_free(&sp->subs);
        return rc;
    }
    cw_mx *m = &sp->mx;
    /* labelled snapshot days */
    int nl = 0;
    for (int i = 0; i < m->nsnap; i++)
        if (m->snap[i] + horizon_days <= m->data_end_day)
            nl++;
    int ntest = (int)ceil(test_share * nl);
    if (ntest < 1)
        ntest = 1;
    int64_t test_from = nl >= 1 ? m->snap[nl - ntest < 0 ? 0 : nl - ntest] : 0;
    int64_t test_to = nl >= 1 ? m->snap[nl - 1] : 0;
    int ntrain = 0;
    while (ntrain < nl && m->snap[ntrain] + horizon_days < test_from)
        ntrain++;
    if (nl < 3 || ntrain < 2) {
        char de[32];
        int64_t end = m->data_end_day;
        cw_time_format(end * DAY_SECONDS, CW_TIME_DATE, de, sizeof de);
        cw_split_free(sp); /* clears m */
        return cw_store_set_error(
            st, CW_ERR_INPUT,
            "model: %d %s have a known %d-day outcome (subscription data to %s) and %d "
            "of them precede the test period by a full horizon; training needs at least 2 "
            "(compute more history: churnwatch metrics --from .. --to .. --every 7d)",
            nl, renewal ? "renewal observation day(s)" : "snapshot(s)", horizon_days,
            end >= 0 ? de : "none", ntrain);
    }
    int ncal = ntrain / 5 > 0 ? ntrain / 5 : 1;
    int64_t cal_from = m->snap[ntrain - ncal], fit_to = m->snap[ntrain - ncal - 1];
    sp->fit_from = m->snap[0];
    sp->fit_to = fit_to;
    sp->cal_from = cal_from;
    sp->cal_to = m->snap[ntrain - 1];
    sp->test_from = test_from;
    sp->test_to = test_to;
    sp->horizon_days = horizon_days;
    sp->recal_days = o->recal_days;
    sp->fit = malloc((size_t)(m->rows ? m->rows : 1) * sizeof *sp->fit);
    sp->cal = malloc((size_t)(m->rows ? m->rows : 1) * sizeof *sp->cal);
    sp->test = malloc((size_t)(m->rows ? m->rows : 1) * sizeof *sp->test);
    if (!sp->fit || !sp->cal || !sp->test) {
        cw_split_free(sp);
        return cw_store_set_error(st, CW_ERR_NOMEM, "train: out of memory splitting snapshots");
    }
    int64_t fpos = 0, tpos = 0;
    for (int64_t r = 0; r < m->rows; r++) {
        int64_t d = m->day[r];
        if (m->y[r] == CW_LABEL_UNKNOWN)
            continue;
        if (d <= fit_to) {
            sp->fit[sp->nfit++] = r;
            fpos += m->y[r];
        } else if (d >= cal_from && d <= sp->cal_to) {
            sp->cal[sp->ncal++] = r;
        } else if (d >= test_from && d <= test_to) {
            sp->test[sp->ntest++] = r;
            tpos += m->y[r];
        }
    }
    sp->fit_pos = fpos;
    sp->test_pos = tpos;
    if (fpos < 5) {
        cw_split_free(sp);
        return cw_store_set_error(st, CW_ERR_INPUT,
                                  "model: only %lld churn label(s) in the training snapshots; "
                                  "a model needs more history or a longer horizon",
                                  (long long)fpos);
    }
    /* Small data: with a few churns a test AUC means little (its 95%
     * interval spans about ±0.25 at 5 churns) and a fit learns noise. */
    int minp = o->min_positives == 0 ? 30 : o->min_positives;
    if (minp > 0 && (fpos < minp || tpos < minp)) {
        sp->small_data = 1;
        if (!o->force) {
            cw_split_free(sp);
            return cw_store_set_error(
                st, CW_ERR_SMALLDATA,
                "model: too few churns to judge a model: %lld churn row(s) in the fit rows and "
                "%lld in the test rows, at least %d each are needed (--min-positives); collect "
                "more history, use a longer --horizon, or pass --force to train anyway",
                (long long)fpos, (long long)tpos, minp);
        }
    }
    return CW_OK;
}

cw_status cw_split_train(cw_store *st, const cw_split *sp, cw_model_kind kind, int threads,
                         cw_model **out, double **test_p, cw_eval *ev, double *fit_s)
{
    *out = NULL;
    *test_p = NULL;
    double t0 = cw_now();
    cw_fit_opts fo = {.threads = threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN),
                      .seed = 42,
                      .horizon_days = sp->horizon_days};
    cw_error err = {CW_OK, ""};
    cw_model *md;
    cw_status rc = cw_model_fit(kind, &sp->mx, sp->fit, sp->nfit, &fo, &md, &err);
    if (rc != CW_OK)
        return cw_store_set_error(st, rc, "%s", cw_error_why(&err));
    if (fit_s) /* the fit alone, comparable with a reference's fit */
        *fit_s = cw_now() - t0;
    rc = cw_model_calibrate(md, &sp->mx, sp->cal, sp->ncal, &err);
    double *p = malloc((size_t)(sp->ntest ? sp->ntest : 1) * sizeof *p);
    unsigned char *y = malloc((size_t)(sp->ntest ? sp->ntest : 1));
    if (rc == CW_OK && (!p || !y))
        rc = cw_error_set(&err, CW_ERR_NOMEM, "model: test rows: out of memory");
    if (rc == CW_OK) /* what the Platt sigmoid of the calibration slice alone says */
        rc = cw_model_prob(md, &sp->mx, sp->test, sp->ntest, p, &err);
    if (rc == CW_OK) {
        double s = 0;
        for (int64_t i = 0; i < sp->ntest; i++)
            s += p[i];
        md->test_mean_platt = sp->ntest ? s / (double)sp->ntest : NAN;
        /* the latest labels known before the test: its training days */
        cw_recal_info ri;
        rc = cw_model_recalibrate(md, &sp->mx, sp->cal_to, sp->recal_days, &ri, &err);
    }
    if (rc == CW_OK)
        rc = cw_model_prob(md, &sp->mx, sp->test, sp->ntest, p, &err);
    if (rc == CW_OK) {
        for (int64_t i = 0; i < sp->ntest; i++)
            y[i] = sp->mx.y[sp->test[i]];
        rc = cw_eval_binary(p, y, sp->ntest, CW_EVAL_PROBABILITIES, ev);
        if (rc != CW_OK)
            cw_error_set(&err, rc, "model: evaluation: %s", cw_strerror(rc));
    }
    free(y);
    if (rc != CW_OK) {
        cw_store_set_error(st, rc, "%s", cw_error_why(&err));
        free(p);
        cw_model_free(md);
        return rc;
    }
    md->horizon_days = 0;
    *out = md;
    *test_p = p;
    return CW_OK;
}

static void day_str(int64_t day, char *buf, size_t n)
{
    time_t t = (time_t)(day * DAY_SECONDS);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%d", &tm);
}

static json_t *jday(int64_t day)
{
    char b[16];
    day_str(day, b, sizeof b);
    return json_string(b);
}

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *cw_eval_json(const cw_eval *e);
json_t *cw_eval_json(const cw_eval *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "rows", json_integer(e->n));
    json_object_set_new(o, "positives", json_integer(e->positives));
    json_object_set_new(o, "roc_auc", jnum(e->roc_auc));
    json_object_set_new(o, "roc_auc_ci95",
                        json_pack("[o,o]", jnum(e->roc_auc_lo), jnum(e->roc_auc_hi)));
    json_object_set_new(o, "pr_auc", jnum(e->pr_auc));
    json_object_set_new(o, "brier", jnum(e->brier));
    json_object_set_new(o, "precision_top10", jnum(e->precision_10));
    json_object_set_new(o, "recall_top10", jnum(e->recall_10));
    json_object_set_new(o, "lift_top10", jnum(e->lift_10));
    json_object_set_new(o, "lift_top10_ci95",
                        json_pack("[o,o]", jnum(e->lift_10_lo), jnum(e->lift_10_hi)));
    json_object_set_new(o, "precision_top20", jnum(e->precision_20));
    json_object_set_new(o, "recall_top20", jnum(e->recall_20));
    json_object_set_new(o, "lift_top20", jnum(e->lift_20));
    json_t *dec = json_array();
    for (int d = 0; d < 10; d++) {
        json_t *x = json_object();
        json_object_set_new(x, "decile", json_integer(d + 1));
        json_object_set_new(x, "rows", json_integer(e->deciles[d].n));
        json_object_set_new(x, "positives", json_integer(e->deciles[d].positives));
        json_object_set_new(x, "mean_score", jnum(e->deciles[d].mean_score));
        json_object_set_new(x, "observed", jnum(e->deciles[d].observed));
        json_array_append_new(dec, x);
    }
    json_object_set_new(o, "calibration", dec);
    json_t *roc = json_array();
    for (int i = 0; i < e->nroc; i++) {
        json_t *pt = json_array();
        json_array_append_new(pt, json_real(e->roc_fpr[i]));
        json_array_append_new(pt, json_real(e->roc_tpr[i]));
        json_array_append_new(roc, pt);
    }
    json_object_set_new(o, "roc", roc);
    return o;
}

json_t *cw_recal_json(const cw_recal_info *ri);
json_t *cw_recal_json(const cw_recal_info *ri)
{
    if (!ri->applied)
        return json_null();
    json_t *r = json_object();
    json_object_set_new(r, "window_from", jday(ri->from_day));
    json_object_set_new(r, "window_to", jday(ri->to_day));
    json_object_set_new(r, "rows", json_integer(ri->rows));
    json_object_set_new(r, "positives", json_integer(ri->positives));
    json_object_set_new(r, "observed", jnum(ri->observed));
    json_object_set_new(r, "platt_b", jnum(ri->platt_b));
    json_object_set_new(r, "b", jnum(ri->b));
    json_object_set_new(r, "mean_before", jnum(ri->mean_before));
    json_object_set_new(r, "mean_after", jnum(ri->mean_after));
    return r;
}

/* The meta's "rows": the row design and what it built. */
static json_t *meta_rows(const cw_split *sp)
{
    json_t *rw = json_object();
    if (sp->mx.rows_design == CW_ROWS_RENEWAL) {
        json_object_set_new(rw, "design", json_string("renewal"));
        json_object_set_new(rw, "days_before", json_integer(sp->mx.renewal_days));
        json_object_set_new(rw, "label",
                            json_string("churned between the observation day and the end of the "
                                        "renewal day"));
        json_object_set_new(rw, "renewals", json_integer(sp->mx.renewals_seen));
        json_object_set_new(rw, "no_snapshot", json_integer(sp->mx.renewals_nosnap));
        json_object_set_new(rw, "rows", json_integer(sp->mx.rows));
        json_object_set_new(rw, "snapshot_stale_max_days", json_integer(sp->mx.stale_max));
        json_object_set_new(rw, "snapshot_stale_mean_days", json_real(sp->mx.stale_mean));
    } else {
        json_object_set_new(rw, "design", json_string("weekly"));
        json_object_set_new(rw, "rows", json_integer(sp->mx.rows));
    }
    return rw;
}

static char *model_meta(const cw_split *sp, const cw_train_opts *o, const cw_model *md,
                        const cw_trained_model *tm, const char *name,
                        const cw_metric_importance *imp, const unsigned char *dropped)
{
    const cw_eval *ev = &tm->test;
    json_t *m = json_object();
    char buf[96];
    json_object_set_new(m, "name", json_string(name));
    json_object_set_new(m, "kind", json_string(cw_model_kind_name(md->kind)));
    cw_model_library_version(md->kind, buf, sizeof buf);
    json_object_set_new(m, "library", json_string(buf));
    json_t *f = json_array();
    for (int j = 0; j < sp->mx.nf; j++)
        json_array_append_new(f, json_string(cw_mx_feature_name(&sp->mx, j, buf, sizeof buf)));
    json_object_set_new(m, "features", f);
    /* what predict must rebuild: the custom metrics and event names */
    json_t *fs = json_object(), *fc = json_array(), *fe = json_array(), *fd = json_array();
    for (int i = 0; i < sp->mx.spec.ncustom; i++)
        json_array_append_new(fc, json_string(sp->mx.spec.custom[i]));
    for (int i = 0; i < sp->mx.spec.nevents; i++)
        json_array_append_new(fe, json_string(sp->mx.spec.events[i]));
    for (int j = 0; dropped && j < sp->mx.nf; j++)
        if (dropped[j])
            json_array_append_new(fd, json_string(cw_mx_feature_name(&sp->mx, j, buf, sizeof buf)));
    json_object_set_new(fs, "catalogue_metrics", json_integer(sp->mx.nmetrics));
    json_object_set_new(fs, "custom", fc);
    json_object_set_new(fs, "events", fe);
    json_object_set_new(fs, "event_features",
                        json_string("per event name: count_28d (days D-28..D-1), per_active_user "
                                    "(/ active_users), change_pct (vs D-56..D-29)"));
    json_object_set_new(fs, "dropped_all_missing", fd);
    json_object_set_new(m, "feature_set", fs);
    json_t *lb = json_object();
    json_object_set_new(lb, "data_end", jday(sp->mx.data_end_day));
    json_object_set_new(lb, "data_end_from",
                        json_string(sp->mx.data_end_declared ? "declared (--data-end)"
                                                             : "latest subscription change"));
    json_object_set_new(lb, "rows_left_out", json_integer(sp->mx.unknown_rows));
    json_object_set_new(lb, "fit_positives", json_integer(sp->fit_pos));
    json_object_set_new(lb, "test_positives", json_integer(sp->test_pos));
    json_object_set_new(lb, "small_data", json_boolean(sp->small_data));
    json_object_set_new(m, "labels", lb);
    json_object_set_new(m, "rows", meta_rows(sp));
    json_object_set_new(
        m, "scaling",
        json_string(md->kind == CW_MODEL_LOGREG
                        ? "median imputation + missing indicator, clip to training p1..p99, "
                          "standardise (values in the body)"
                        : "none: raw values, NaN = missing"));
    if (md->kind == CW_MODEL_XGBOOST) {
        json_t *b = json_object();
        json_object_set_new(b, "rounds", json_integer(md->rounds));
        json_object_set_new(b, "params", json_string(cw_xgb_params_text));
        if (md->es_fit_rows > 0) {
            json_object_set_new(b, "rounds_chosen_by",
                                json_string("early stopping on validation log-loss (patience 50)"));
            json_object_set_new(b, "validation_from", jday(md->es_val_from));
            json_object_set_new(b, "early_stopping_fit_rows", json_integer(md->es_fit_rows));
            json_object_set_new(b, "validation_rows", json_integer(md->es_val_rows));
            json_object_set_new(b, "validation_logloss", jnum(md->es_logloss));
        } else {
            json_object_set_new(b, "rounds_chosen_by",
                                json_string("default: too little history to stop early"));
        }
        json_object_set_new(m, "boosting", b);
    }
    json_object_set_new(m, "horizon_days", json_integer(sp->horizon_days));
    json_object_set_new(m, "seat_loss_pct", json_real(o->seat_loss_pct));
    json_object_set_new(m, "mrr_loss_pct", json_real(o->mrr_loss_pct));
    json_t *w = json_object();
    json_object_set_new(w, "fit_from", jday(sp->fit_from));
    json_object_set_new(w, "fit_to", jday(sp->fit_to));
    json_object_set_new(w, "calibration_from", jday(sp->cal_from));
    json_object_set_new(w, "calibration_to", jday(sp->cal_to));
    json_object_set_new(w, "test_from", jday(sp->test_from));
    json_object_set_new(w, "test_to", jday(sp->test_to));
    json_object_set_new(w, "fit_rows", json_integer(sp->nfit));
    json_object_set_new(w, "calibration_rows", json_integer(sp->ncal));
    json_object_set_new(w, "test_rows", json_integer(sp->ntest));
    json_object_set_new(m, "windows", w);
    json_t *cal = json_object();
    json_object_set_new(cal, "method",
                        json_string(tm->recal.applied
                                        ? "platt on the calibration slice, intercept refitted on "
                                          "the latest fully labelled window"
                                        : "platt"));
    json_object_set_new(cal, "a", json_real(md->platt_a));
    json_object_set_new(cal, "b", json_real(md->platt_b));
    /* the saved model's window; the one before the test the metrics used */
    json_object_set_new(cal, "recalibration", cw_recal_json(&tm->recal));
    json_object_set_new(cal, "test_recalibration", cw_recal_json(&tm->test_recal));
    json_object_set_new(cal, "test_mean_platt_only", jnum(tm->test_mean_platt));
    json_object_set_new(m, "calibration", cal);
    json_object_set_new(m, "test", cw_eval_json(ev));
    if (imp) { /* sorted, largest share first */
        json_t *a = json_array();
        for (int k = 0; k < cw_mx_groups(&sp->mx); k++) {
            json_t *x = json_object();
            json_object_set_new(x, "metric", json_string(cw_mx_group_name(&sp->mx, imp[k].metric)));
            json_object_set_new(x, "family",
                                json_string(cw_mx_group_family(&sp->mx, imp[k].metric)));
            json_object_set_new(x, "share", json_real(imp[k].share));
            json_object_set_new(x, "mean_abs_logodds", json_real(imp[k].mean_abs));
            json_object_set_new(x, "direction", json_integer(imp[k].direction));
            json_array_append_new(a, x);
        }
        json_object_set_new(m, "importance", a);
    }
    char *s = cw_json_dumps(m, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(m);
    return s;
}

/* Writes a .npy (v1.0) header for a C-order array of dtype descr and shape. */
static void npy_header(FILE *f, const char *descr, int64_t rows, int cols)
{
    char dict[160];
    int n = cols ? snprintf(dict, sizeof dict,
                            "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %d), }", descr,
                            (long long)rows, cols)
                 : snprintf(dict, sizeof dict,
                            "{'descr': '%s', 'fortran_order': False, 'shape': (%lld,), }", descr,
                            (long long)rows);
    int total = 10 + n + 1, pad = (64 - total % 64) % 64;
    unsigned short hl = (unsigned short)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    unsigned char le[2] = {(unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    fwrite(le, 1, 2, f);
    fwrite(dict, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
}

/* PREFIX.x.npy (float32 rows × features), PREFIX.y.npy (uint8 labels),
 * PREFIX.set.npy (uint8: 0 fit, 1 calibration, 2 test), PREFIX.features.txt,
 * PREFIX.rows.npy (int32 pairs: snapshot day, internal account id). */
static cw_status dump_matrix(cw_store *st, const cw_split *sp, const char *prefix)
{
    const cw_mx *m = &sp->mx;
    int64_t n = sp->nfit + sp->ncal + sp->ntest;
    const int64_t *parts[3] = {sp->fit, sp->cal, sp->test};
    int64_t np[3] = {sp->nfit, sp->ncal, sp->ntest};
    const char *ext[6] = {"x.npy", "y.npy", "set.npy", "features.txt", "rows.npy", "obs.csv"};
    for (int k = 0; k < 6; k++) {
        char *path = cw_strdupf("%s.%s", prefix, ext[k]);
        FILE *f = path ? fopen(path, "wb") : NULL;
        if (!f) {
            cw_status rc =
                cw_store_set_error(st, CW_ERR_IO, "%s: cannot write", path ? path : prefix);
            free(path);
            return rc;
        }
        if (k == 5) { /* every row built, labelled or not, with its dates */
            char d1[16], d2[16], d3[16] = "";
            fprintf(f, "account_id,observed,snapshot,renewal,label,set\n");
            unsigned char *set = malloc((size_t)(m->rows ? m->rows : 1));
            if (set) {
                memset(set, 'x', (size_t)(m->rows ? m->rows : 1));
                for (int p = 0; p < 3; p++)
                    for (int64_t i = 0; i < np[p]; i++)
                        set[parts[p][i]] = (unsigned char)("fct"[p]);
            }
            for (int64_t r = 0; set && r < m->rows; r++) {
                int64_t a = m->acc[r];
                day_str(m->day[r], d1, sizeof d1);
                day_str(m->snapday ? m->snapday[r] : m->day[r], d2, sizeof d2);
                if (m->renewal)
                    day_str(m->renewal[r], d3, sizeof d3);
                fprintf(f, "%s,%s,%s,%s,%s,%s\n",
                        a < sp->subs.nacc && sp->subs.ext[a] ? sp->subs.ext[a] : "?", d1, d2,
                        m->renewal ? d3 : "",
                        m->y[r] == CW_LABEL_UNKNOWN ? "unknown"
                        : m->y[r]                   ? "1"
                                                    : "0",
                        set[r] == 'f'   ? "fit"
                        : set[r] == 'c' ? "calibration"
                        : set[r] == 't' ? "test"
                                        : "");
            }
            if (!set)
                fputs("out of memory\n", f);
            free(set);
        } else if (k == 4) {
            npy_header(f, "<i4", n, 2);
            for (int p = 0; p < 3; p++)
                for (int64_t i = 0; i < np[p]; i++) {
                    int32_t r2[2] = {m->day[parts[p][i]], m->acc[parts[p][i]]};
                    fwrite(r2, sizeof r2[0], 2, f);
                }
        } else if (k == 3) {
            char buf[96];
            for (int j = 0; j < m->nf; j++)
                fprintf(f, "%s\n", cw_mx_feature_name(m, j, buf, sizeof buf));
        } else {
            npy_header(f, k == 0 ? "<f4" : "|u1", n, k == 0 ? m->nf : 0);
            for (int p = 0; p < 3; p++)
                for (int64_t i = 0; i < np[p]; i++) {
                    int64_t r = parts[p][i];
                    if (k == 0)
                        fwrite(m->x + r * m->nf, sizeof(float), (size_t)m->nf, f);
                    else
                        fputc(k == 1 ? m->y[r] : p, f);
                }
        }
        int bad = ferror(f);
        bad |= fclose(f) != 0;
        if (bad) {
            cw_status rc = cw_store_set_error(st, CW_ERR_IO, "%s: write failed", path);
            free(path);
            return rc;
        }
        free(path);
    }
    return CW_OK;
}

/* Rows of the test slice used for the global importance: TreeSHAP on all
 * of a large test slice would cost more than the fit. On the 2,000-account
 * test world 5,000 evenly spaced rows of 26,955 gave every share within
 * 0.4 percentage points of all rows. */
#define IMPORTANCE_ROWS 5000

static int importance_cmp(const void *a, const void *b)
{
    const cw_metric_importance *x = a, *y = b;
    if (x->share != y->share)
        return x->share > y->share ? -1 : 1;
    return x->metric - y->metric;
}

/* What the split learnt from into res: the extra feature groups' names,
 * the label data end, the rows left out, the small-data flag. Returns the
 * features missing on every fit row (no information, zero weight; caller
 * frees), NULL when out of memory. */
static unsigned char *train_describe(const cw_split *sp, cw_train_result *res)
{
    const cw_mx_spec *spec = &sp->mx.spec;
    size_t el = 0;
    for (int i = 0; i < spec->ncustom + spec->nevents; i++) {
        int ev = i >= spec->ncustom;
        const char *nm = ev ? spec->events[i - spec->ncustom] : spec->custom[i];
        size_t need = strlen(nm) + (ev ? 6 : 0) + 2;
        if (el + need + 8 >= sizeof res->extra_features) {
            snprintf(res->extra_features + el, sizeof res->extra_features - el, ", …");
            break;
        }
        el += (size_t)snprintf(res->extra_features + el, sizeof res->extra_features - el, "%s%s%s",
                               i ? ", " : "", ev ? "event:" : "", nm);
    }
    res->custom_metrics = spec->ncustom;
    res->event_names = spec->nevents;
    res->data_end_day = sp->mx.data_end_day;
    res->data_end_declared = sp->mx.data_end_declared;
    res->unknown_rows = sp->mx.unknown_rows;
    res->fit_positives = sp->fit_pos;
    res->small_data = sp->small_data;
    res->rows = sp->mx.rows;
    res->renewals_seen = sp->mx.renewals_seen;
    res->renewals_nosnap = sp->mx.renewals_nosnap;
    res->stale_max = sp->mx.stale_max;
    res->stale_mean = sp->mx.stale_mean;
    unsigned char *dropped = calloc((size_t)(sp->mx.nf ? sp->mx.nf : 1), 1);
    for (int j = 0; dropped && j < sp->mx.nf; j++) {
        int64_t i = 0;
        while (i < sp->nfit && isnan(sp->mx.x[sp->fit[i] * sp->mx.nf + j]))
            i++;
        dropped[j] = i == sp->nfit;
        res->dropped += dropped[j];
    }
    return dropped;
}

/* The model's top drivers from imp (ng groups, sorted) into tm; the names
 * of extra groups live in sp, which res outlives: they are copied. */
static void train_top(cw_trained_model *tm, const cw_split *sp, const cw_metric_importance *imp,
                      int ng)
{
    const cw_mx *m = &sp->mx;
    for (int j = 0; j < ng && tm->ntop < CW_TOP_DRIVERS; j++) {
        cw_driver_share *d = &tm->top[tm->ntop];
        snprintf(d->name_buf, sizeof d->name_buf, "%s", cw_mx_group_name(m, imp[j].metric));
        d->metric = d->name_buf;
        d->family = imp[j].metric < m->nmetrics ? cw_mx_group_family(m, imp[j].metric)
                    : imp[j].metric < m->nmetrics + m->spec.ncustom ? "custom"
                                                                    : "events";
        d->share = imp[j].share;
        d->direction = imp[j].direction;
        tm->ntop++;
    }
}

/* The test judged the model as calibrated before the test period; the
 * saved model follows the latest labelled window (calib.c). */
static cw_status train_recal(cw_store *st, const cw_split *sp, cw_model *md, cw_trained_model *tm)
{
    tm->test_recal = md->recal;
    tm->test_mean_platt = md->test_mean_platt;
    if (md->recal.applied)
        md->platt_b = md->recal.platt_b;
    cw_error rerr = {CW_OK, ""};
    cw_status rc =
        cw_model_recalibrate(md, &sp->mx, sp->test_to, sp->recal_days, &tm->recal, &rerr);
    if (rc != CW_OK)
        cw_store_set_error(st, rc, "%s", cw_error_why(&rerr));
    return rc;
}

cw_status cw_model_train(cw_store *st, const cw_train_opts *o, cw_train_result *res)
{
    cw_store_enter(st, "train");
    memset(res, 0, sizeof *res);
    res->active = -1;
    cw_split sp;
    cw_split_opts so = {.from_day = o->from_day,
                        .to_day = o->to_day,
                        .data_end_day = o->data_end_day,
                        .horizon_days = o->horizon_days,
                        .seat_loss_pct = o->seat_loss_pct,
                        .mrr_loss_pct = o->mrr_loss_pct,
                        .test_share = o->test_share > 0 ? o->test_share : 0.25,
                        .no_product_features = o->no_product_features,
                        .max_event_names = o->max_event_names,
                        .min_positives = o->min_positives,
                        .force = o->force,
                        .rows_design = o->rows_design,
                        .renewal_days = o->renewal_days,
                        .recal_days = o->recal_days};
    cw_status rc = cw_split_make_ex(st, &so, &sp);
    res->rows_design = o->rows_design == CW_ROWS_RENEWAL ? CW_ROWS_RENEWAL : CW_ROWS_WEEKLY;
    res->renewal_days = o->renewal_days > 0 ? o->renewal_days : 30;
    if (rc == CW_ERR_SMALLDATA)
        res->small_data = 1;
    if (rc != CW_OK)
        return rc;
    unsigned char *dropped = train_describe(&sp, res);
    if (!dropped) {
        cw_split_free(&sp);
        return cw_store_set_error(st, CW_ERR_NOMEM, "model: out of memory");
    }
    res->fit_from = sp.fit_from;
    res->fit_to = sp.fit_to;
    res->calib_from = sp.cal_from;
    res->calib_to = sp.cal_to;
    res->test_from = sp.test_from;
    res->test_to = sp.test_to;
    res->features = sp.mx.nf;
    if (o->dump_matrix)
        rc = dump_matrix(st, &sp, o->dump_matrix);
    const cw_store_ops *ops = cw_store_get_ops(st);
    int txn = 0;
    if (rc == CW_OK && (rc = ops->begin(st)) == CW_OK)
        txn = 1;
    cw_model_kind kinds[2] = {CW_MODEL_LOGREG, CW_MODEL_XGBOOST};
    for (int k = 0; rc == CW_OK && k < 2; k++) {
        if (!(o->kinds & kinds[k]))
            continue;
        cw_trained_model *tm = &res->models[res->nmodels++];
        tm->kind = kinds[k];
        cw_model *md;
        double *p;
        rc = cw_split_train(st, &sp, kinds[k], o->threads, &md, &p, &tm->test, &tm->fit_s);
        if (rc != CW_OK)
            break;
        free(p);
        if ((rc = train_recal(st, &sp, md, tm)) != CW_OK) {
            cw_model_free(md);
            break;
        }
        md->horizon_days = sp.horizon_days;
        char day[16];
        day_str(sp.test_to, day, sizeof day);
        if (res->rows_design == CW_ROWS_RENEWAL)
            snprintf(tm->name, sizeof tm->name, "%s-%s-renewal%dd-%s", o->name ? o->name : "churn",
                     cw_model_kind_name(kinds[k]), res->renewal_days, day);
        else
            snprintf(tm->name, sizeof tm->name, "%s-%s-%dd-%s", o->name ? o->name : "churn",
                     cw_model_kind_name(kinds[k]), o->horizon_days, day);
        tm->fit_rows = sp.nfit;
        tm->calib_rows = sp.ncal;
        tm->test_rows = sp.ntest;
        int ng = cw_mx_groups(&sp.mx);
        cw_metric_importance *imp = malloc((size_t)ng * sizeof *imp);
        cw_error err = {CW_OK, ""};
        rc = imp ? cw_model_importance(md, &sp.mx, sp.test, sp.ntest, IMPORTANCE_ROWS, imp, &err)
                 : cw_error_set(&err, CW_ERR_NOMEM, "model: importance: out of memory");
        if (rc != CW_OK) {
            cw_store_set_error(st, rc, "%s", cw_error_why(&err));
            free(imp);
            cw_model_free(md);
            break;
        }
        qsort(imp, (size_t)ng, sizeof *imp, importance_cmp);
        train_top(tm, &sp, imp, ng);
        char *meta = model_meta(&sp, o, md, tm, tm->name, imp, dropped);
        free(imp);
        char *body = NULL;
        size_t blen = 0;
        rc = meta ? cw_model_serialise(md, &body, &blen, &err)
                  : cw_error_set(&err, CW_ERR_NOMEM, "model: meta: out of memory");
        if (rc != CW_OK)
            cw_store_set_error(st, rc, "%s", cw_error_why(&err));
        if (rc == CW_OK)
            rc = cw_store_model_save(st, tm->name, kinds[k], meta, body, blen, 0,
                                     (int64_t)time(NULL), &tm->id);
        free(meta);
        free(body);
        cw_model_free(md);
    }
    /* --activate: the kind that ranked the test snapshots best (the later
     * one on a tie), not merely the last trained */
    if (rc == CW_OK && o->activate && res->nmodels > 0) {
        int b = 0;
        for (int i = 1; i < res->nmodels; i++)
            if (!(res->models[i].test.roc_auc < res->models[b].test.roc_auc))
                b = i;
        rc = cw_store_model_activate(st, res->models[b].id);
        if (rc == CW_OK)
            res->active = b;
    }
    if (rc == CW_OK)
        rc = ops->commit(st);
    else if (txn)
        ops->rollback(st);
    free(dropped);
    cw_split_free(&sp);
    return rc;
}
