/*
 * model_int.h — internals of the churn model shared by model_data.c,
 * model.c, model_explain.c, predict.c, backtest.c, store/sql/store_model.c and the unit
 * tests: subscription timelines and churn events, the training matrix and
 * the fitted model.
 */
#ifndef CW_MODEL_INT_H
#define CW_MODEL_INT_H

#include "churnwatch.h"

#define DAY_SECONDS 86400

/* ---- model_data.c: churn events --------------------------------------- */

/* Every account's subscription changes (the subscriptions table), by
 * internal id, sorted by time: account a's rows are [lo[a], lo[a+1]). */
typedef struct cw_subs {
    int64_t nacc; /* ids 0 .. nacc-1 */
    int64_t *lo;  /* nacc + 1 */
    int64_t *ts, *mrr, *seats;
    int64_t nrows;
    const char **ext;     /* external account ids (NULL when the id is unused) */
    char *text;           /* where they live */
    signed char *billing; /* billing_period enum index per row, -1 unknown */
    int64_t *start_day;   /* per account: accounts.contract_start as a day (INT64_MIN: none) */
} cw_subs;

/* Reads every subscription change into *s (caller frees with cw_subs_free);
 * errors on the store. */
cw_status cw_subs_load(cw_store *st, cw_subs *s);
/* Frees what *s holds; accepts NULL. */
void cw_subs_free(cw_subs *s);
/* MRR and seats in force just before instant t (0 when none). */
void cw_subs_at(const cw_subs *s, int64_t a, int64_t t, int64_t *mrr, int64_t *seats);
/* The churn events of account a: the instants at which its MRR went from
 * positive to 0, as lib/revenue/revenue.c counts churn. The first one in (t0, t1],
 * or -1. */
int64_t cw_churn_first(const cw_subs *s, int64_t a, int64_t t0, int64_t t1);
/* The label of account a at snapshot instant t: 1 when it churns in
 * (t, t + horizon], or (when > 0) its seats / MRR fall at least
 * seat_loss_pct / mrr_loss_pct percent below their level at t in that
 * window; else 0. */
int cw_churn_label(const cw_subs *s, int64_t a, int64_t t, int horizon_days, double seat_loss_pct,
                   double mrr_loss_pct);

/* ---- model_data.c: the feature matrix --------------------------------- */

#define CW_LABEL_UNKNOWN 255

/* What a model learns from beyond the catalogue's account metrics: the
 * configuration's custom metrics (value and 28-day trend, read from the
 * stored snapshot vectors by name) and the behaviour features of event
 * names (per name: the 28-day count, the count per active user and the %
 * change against the previous 28 days), computed from the daily event
 * rollups at each snapshot day. Saved with the model (meta "feature_set")
 * so that predict builds the same columns. */
typedef struct cw_mx_spec {
    int ncustom, nevents;
    char **custom, **events; /* names; owned (cw_mx_spec_free) */
} cw_mx_spec;
void cw_mx_spec_free(cw_mx_spec *sp);

/* Event behaviour features per event name, in this order. */
#define CW_EVENT_FEATURES 3

/* Rows = (snapshot, account) pairs of accounts active at the snapshot, in
 * (day, account) order; features = the catalogue's account metrics, then
 * their 28-day trends (2 nmetrics), then the custom metrics and their
 * trends (2 spec.ncustom), then CW_EVENT_FEATURES per event name; one flat
 * float array, NaN = missing. A feature group is what an explanation
 * names: a catalogue metric (0 .. nmetrics-1), a custom metric, an event
 * name (cw_mx_group). */
typedef struct cw_mx {
    int64_t rows, cap;
    int nf, nmetrics;
    float *x;
    int32_t *day, *acc;
    unsigned char *y; /* 0/1, or CW_LABEL_UNKNOWN when the window passes data_end */
    float *peers;     /* rows × nmetrics peer percentiles, only when asked for */
    int64_t *snap;    /* distinct snapshot days, ascending */
    int nsnap;
    /* labels are known for snapshots day + horizon <= this: the day the
     * subscription data is known to (declared, or its latest change) */
    int64_t data_end_day;
    int data_end_declared; /* 1: --data-end, 0: the latest subscription change */
    int64_t unknown_rows;  /* rows whose label window passes data_end_day */
    cw_mx_spec spec;
    /* The row design (CW_ROWS_WEEKLY: one row per snapshot and active
     * account; CW_ROWS_RENEWAL: one row per account and renewal, observed
     * renewal_days before it). Renewal rows only: */
    int rows_design, renewal_days;
    int32_t *snapday;        /* the snapshot the row's metrics come from (<= day) */
    int32_t *renewal;        /* the renewal day the label is about */
    int64_t renewals_seen;   /* renewals whose observation day lies in the history */
    int64_t renewals_nosnap; /* of them: no stored metrics of the account at the snapshot */
    int64_t stale_max;       /* largest day - snapday over the rows (days) */
    double stale_mean;       /* mean of day - snapday */
} cw_mx;

typedef struct cw_mx_opts {
    int64_t from_day, to_day; /* inclusive; 0 = open */
    int horizon_days;
    double seat_loss_pct, mrr_loss_pct;
    int want_peers;
    int64_t data_end_day;    /* 0: the latest subscription change */
    const cw_mx_spec *spec;  /* the extra features to build; NULL: discover them */
    int no_product_features; /* with spec NULL: catalogue metrics only */
    int max_event_names;     /* discovery: at most this many event names (0: 40) */
    int rows_design;         /* CW_ROWS_WEEKLY (0) or CW_ROWS_RENEWAL */
    int renewal_days;        /* renewal rows: observed this many days before (0: 30) */
} cw_mx_opts;

/* Renewal rows: an account with MRR in force N days before a renewal of
 * its contract (the anniversaries days_to_renewal counts to, per the
 * billing period in force) is a row observed at O = max(R - N, P + 1), P
 * the previous renewal (or the contract's start); its features are the
 * latest snapshot at or before O (event features at O itself), its label
 * whether it churned in (O, end of R]. Known when O + N + 1 <= data end. */
#define CW_RENEWAL_MAX_STALE 31 /* a snapshot older than this before O: no row */
/* The renewals of account a of s, as (observation day, renewal day) pairs
 * with O in [lo, hi] and MRR in force at O, in order, into o and r (at
 * most cap; returns how many there are, which may exceed cap). */
int64_t cw_renewals_of(const cw_subs *s, int64_t a, int n_days, int64_t lo, int64_t hi, int64_t *o,
                       int64_t *r, int64_t cap);

/* Builds the feature matrix of the stored snapshots o selects, with labels
 * from s, into *m (caller frees with cw_mx_free); errors on the store. */
cw_status cw_mx_load(cw_store *st, const cw_subs *s, const cw_mx_opts *o, cw_mx *m);
/* Frees what *m holds; accepts NULL. */
void cw_mx_free(cw_mx *m);
/* Keeps the rows r of m with keep[r] set, in order. */
void cw_mx_keep(cw_mx *m, const unsigned char *keep);
/* The name of feature j ("metric", "metric.trend", "event:NAME.count_28d",
 * …), written into buf when composed. */
const char *cw_mx_feature_name(const cw_mx *m, int j, char *buf, size_t n);
/* Feature groups: their number, the group of feature j, and a group's
 * name and family ("product" for custom metrics and events). */
int cw_mx_groups(const cw_mx *m);
int cw_mx_group(const cw_mx *m, int j);
const char *cw_mx_group_name(const cw_mx *m, int g);
const char *cw_mx_group_family(const cw_mx *m, int g);
/* The latest subscription change as a day (-1 when none). */
int64_t cw_subs_data_end_day(const cw_subs *s);

/* ---- model.c: fitted models -------------------------------------------- */

typedef struct cw_model {
    cw_model_kind kind;
    int nf, nmetrics, horizon_days;
    /* logistic regression: per raw feature the training median (imputation),
     * clip bounds, mean and sd after clipping, the weight of the
     * standardised value and of the missing indicator */
    double *median, *clip_lo, *clip_hi, *mean, *sd, *w, *wmiss;
    double bias;
    void *booster; /* XGBoost BoosterHandle */
    /* Platt calibration of the raw decision value f: p = 1/(1+exp(-(a f + b))) */
    double platt_a, platt_b;
    char *meta; /* JSON as stored */
    /* XGBoost: each feature's distinct split thresholds, ascending, read
     * from the model dump on first use (cw_model_to_green) */
    double **thr;
    int *nthr;
    /* XGBoost: boosting rounds, and how early stopping chose them (es_fit_rows
     * 0 when the default was used) */
    int rounds;
    int64_t es_val_from, es_fit_rows, es_val_rows;
    double es_logloss;
    /* the extra features it was trained on (from meta "feature_set") */
    cw_mx_spec spec;
    /* the last recalibration on a labelled window (calib.c), applied = 0 when none */
    cw_recal_info recal;
    /* cw_split_train: the mean test probability with the calibration
     * slice's Platt sigmoid alone (before the recalibration) */
    double test_mean_platt;
} cw_model;

typedef struct cw_fit_opts {
    int threads;
    uint64_t seed;
    int rounds;       /* XGBoost boosting rounds (0: early stopping, else 250) */
    int horizon_days; /* the label horizon: early stopping's purge gap */
} cw_fit_opts;

/* XGBoost's parameters in words, as recorded in each model's meta. */
extern const char cw_xgb_params_text[];
/* The functions of model.c have no handle: each failure returns its status
 * with the message in *err (may be NULL), e.g. "xgboost: predict: …" or
 * "model: calibration: out of memory"; the caller moves it onto the store. */

/* Fits kind on the rows of m listed in idx (labels known). On success *out
 * is a model the caller frees with cw_model_free(); on failure it stays
 * NULL. */
cw_status cw_model_fit(cw_model_kind kind, const cw_mx *m, const int64_t *idx, int64_t n,
                       const cw_fit_opts *o, cw_model **out, cw_error *err);
/* Fits Platt scaling on the rows idx (held out from the fit). */
cw_status cw_model_calibrate(cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                             cw_error *err);
/* Calibrated probabilities of rows idx into p (n values). */
cw_status cw_model_prob(const cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                        double *p, cw_error *err);
/* Per-feature contributions in calibrated log-odds for rows idx:
 * contrib[i * (nf + 1) + j], the last column the base value; they add up
 * to the logit of the probability. */
cw_status cw_model_contribs(const cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                            double *contrib, cw_error *err);
/* Global importance of each feature group over rows idx (a metric's value
 * and trend features together; an event name's three features): the mean
 * |contribution| in calibrated log-odds, its share of the sum over groups,
 * and the sign of the correlation between the group's first feature (the
 * value; the 28-day count) and its contribution (+1: higher values raise
 * the risk, -1: lower values do, 0: no clear direction or no values). imp
 * has cw_mx_groups(m) entries. Uses at most max_rows rows, evenly spaced. */
typedef struct cw_metric_importance {
    int metric; /* feature group (cw_mx_group); catalogue index for metrics */
    double mean_abs, share;
    int direction;
} cw_metric_importance;
cw_status cw_model_importance(const cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                              int64_t max_rows, cw_metric_importance *imp, cw_error *err);
/* model_explain.c: the order of one row's drivers. c holds the row's
 * contributions (value features, then trends: 2 nm); scratch gets the nm
 * metrics with their value+trend contribution, the actionable metrics
 * raising the risk first, grouped by family (largest family total first,
 * then by contribution), then the rest by contribution descending.
 * fam_sum (2 nm) gets in [k] the family total of each raising metric. */
typedef struct cw_driver_rank {
    int k;    /* metric (catalogue index) */
    double c; /* its value + trend contribution */
} cw_driver_rank;
void cw_order_drivers(const double *c, int nm, cw_driver_rank *scratch, double *fam_sum);
/* The same over all feature groups of m (cw_mx_groups: catalogue metrics,
 * custom metrics, event names; c has m->nf + 1 entries): scratch gets
 * cw_mx_groups(m) entries, fam_sum 2 × that. Custom metrics and event names
 * are actionable, in families "custom" and "events". */
void cw_order_groups(const cw_mx *m, const double *c, cw_driver_rank *scratch, double *fam_sum);
/* The first feature of group g: a metric's value, an event's 28-day count. */
int cw_mx_group_feature(const cw_mx *m, int g);
/* model_explain.c: the drivers JSON of row r of m (caller frees; NULL when
 * out of memory). c: the row's contributions; prob: its probability;
 * ndrv: drivers to list; scratch, fam_sum: as for cw_order_groups; best:
 * the feature whose change would turn the row green (-1 = none), found and
 * v: whether such a value exists and the value (cw_model_to_green_many). */
char *cw_model_explain_row(const cw_mx *m, int64_t r, const double *c, double prob, double green,
                           int ndrv, cw_driver_rank *scratch, double *fam_sum, int best, int found,
                           double v);

/* Serialises the model's parameters into *body (*body_len bytes, NUL
 * terminated; caller frees). */
cw_status cw_model_serialise(const cw_model *md, char **body, size_t *body_len, cw_error *err);
/* Rebuilds a model of kind ("logreg", "xgboost") from its stored meta JSON
 * and body. CW_ERR_INPUT when they do not fit this build (another feature
 * count, a damaged body). On success *out is a model the caller frees with
 * cw_model_free(); on failure it stays NULL. */
cw_status cw_model_deserialise(const char *kind, const char *meta, const void *body,
                               size_t body_len, cw_model **out, cw_error *err);
/* Frees md; accepts NULL. */
void cw_model_free(cw_model *md);
/* "liblinear 2.x" / "xgboost 1.x.y" */
void cw_model_library_version(cw_model_kind kind, char *buf, size_t n);
/* "logreg" or "xgboost" (static). */
const char *cw_model_kind_name(cw_model_kind kind);

/* The smallest change of raw feature j of row r that brings the calibrated
 * probability below g: *found = 1 with *value the new value. Exact for the
 * regression (within the training clip range); a search over the trees'
 * split values of the feature for XGBoost. */
/* The same for k rows at once: row rows[i], feature feat[i] (-1: none);
 * found[i], value[i]. Batched for the trees. */
cw_status cw_model_to_green_many(cw_model *md, const cw_mx *m, const int64_t *rows, const int *feat,
                                 int64_t k, double g, int *found, double *value, cw_error *err);
cw_status cw_model_to_green(cw_model *md, const cw_mx *m, int64_t r, int j, double g, int *found,
                            double *value, cw_error *err);

/* ---- store/sql/store_model.c -------------------------------------------------- */

/* Stores a model (meta JSON, body bytes) named name at now, making it the
 * active one when activate; *id gets its id. */
cw_status cw_store_model_save(cw_store *st, const char *name, cw_model_kind kind, const char *meta,
                              const void *body, size_t body_len, int activate, int64_t now,
                              int64_t *id);
/* Makes model id the one active model. */
cw_status cw_store_model_activate(cw_store *st, int64_t id);
/* Loads model id (0: the active one); *name, *kind, *meta and *body: caller
 * frees with free(). */
cw_status cw_store_model_load(cw_store *st, int64_t id, int64_t *out_id, char **name, char **kind,
                              char **meta, void **body, size_t *body_len);
/* Deletes the predictions model made for day. */
cw_status cw_store_predictions_clear(cw_store *st, int64_t day, int64_t model);
/* Inserts rows[0..n) (account, probability, drivers_json) with one statement. */
cw_status cw_store_predictions_put(cw_store *st, int64_t day, int64_t model, int64_t n,
                                   const cw_prediction *rows);
/* Stores one backtest subject's JSON, run at at. */
cw_status cw_store_backtest_put(cw_store *st, int64_t at, const char *subject, const char *json);
/* Calls fn for every scores row with day in [lo, hi]. */
cw_status cw_store_scores_scan(cw_store *st, int64_t lo, int64_t hi,
                               cw_status (*fn)(int64_t day, int64_t account, const char *scorecard,
                                               double score, int colour, void *ud),
                               void *ud);

/* ---- model_train.c: the time split shared by train and backtest -------- */

typedef struct cw_split {
    cw_subs subs;
    cw_mx mx;
    int64_t *fit, *cal, *test; /* row indices */
    int64_t nfit, ncal, ntest;
    int64_t fit_from, fit_to, cal_from, cal_to, test_from, test_to;
    int horizon_days;
    int64_t fit_pos, test_pos;
    int small_data; /* positives under the minimum (made anyway: force) */
    int recal_days; /* recalibration window, days (0: 28, < 0: off) */
} cw_split;

typedef struct cw_split_opts {
    int64_t from_day, to_day, data_end_day;
    int horizon_days;
    double seat_loss_pct, mrr_loss_pct, test_share;
    int want_peers, no_product_features, max_event_names;
    int min_positives; /* fit and test churn rows needed (0: 30; < 0: no check) */
    int force;         /* under min_positives: go on, with small_data set */
    int rows_design;   /* CW_ROWS_WEEKLY or CW_ROWS_RENEWAL (horizon: renewal_days + 1) */
    int renewal_days;
    int recal_days; /* recalibration window (0: CW_RECAL_DAYS, < 0: off) */
} cw_split_opts;

/* The same with every option; under min_positives (unless force) fails
 * with CW_ERR_SMALLDATA. */
cw_status cw_split_make_ex(cw_store *st, const cw_split_opts *o, cw_split *sp);

/* Loads the snapshots and splits the labelled ones by time: test = the last
 * test_share of labelled snapshot days; training = the days whose label
 * window ends before the first test day (the purge gap); calibration = the
 * last fifth of the training days, fit = the rest. Catalogue metrics only,
 * labels to the latest subscription change, no minimum of positives. */
cw_status cw_split_make(cw_store *st, int64_t from_day, int64_t to_day, int horizon_days,
                        double seat_loss_pct, double mrr_loss_pct, double test_share,
                        int want_peers, cw_split *sp);
/* Frees what *sp holds; accepts NULL. */
void cw_split_free(cw_split *sp);

/* Raw decision values (log-odds before calibration) of rows idx into f. */
cw_status cw_model_decision(const cw_model *md, const cw_mx *m, const int64_t *idx, int64_t n,
                            double *f, cw_error *err);

/* ---- calib.c: recalibration on the latest fully labelled window --------- */

#define CW_RECAL_DAYS          28 /* the window's length by default, days */
#define CW_RECAL_MIN_POSITIVES 30 /* widened a snapshot day at a time until it has these */

/* Refits md's Platt intercept (the slope stays) on the labelled rows of m
 * in the latest window of snapshot days ending at or before end_day:
 * the snapshot days within days (0: CW_RECAL_DAYS) before the last one,
 * widened back until CW_RECAL_MIN_POSITIVES churn rows or the first
 * snapshot. days < 0: nothing is done (ri->applied = 0). Fills ri and
 * md->recal. */
cw_status cw_model_recalibrate(cw_model *md, const cw_mx *m, int64_t end_day, int days,
                               cw_recal_info *ri, cw_error *err);
/* Fits, calibrates (Platt on the calibration slice, then the intercept on
 * the latest labelled window before the test, calib.c) and tests one kind
 * on sp: *out the model, test_p the test rows' probabilities (caller
 * frees), ev the test metrics. */
cw_status cw_split_train(cw_store *st, const cw_split *sp, cw_model_kind kind, int threads,
                         cw_model **out, double **test_p, cw_eval *ev, double *fit_s);

#endif /* CW_MODEL_INT_H */
