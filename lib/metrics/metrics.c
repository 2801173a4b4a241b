/*
 * metrics.c — the point-in-time metrics engine: every leading indicator of
 * the catalogue (metrics_catalog.c), per account and per user, for a series
 * of snapshot dates in one pass over the events.
 *
 * As-of rule: a snapshot at day D sees only what is stamped before D's
 * midnight (UTC): event days < D, tickets/surveys/trainings/measurements
 * with timestamps < D·86400, the subscription change in force before D, a
 * user provisioned before D and not yet deactivated at D. Windows are
 * [D − w, D).
 *
 * Pass 1 is account-major: the small tables are loaded once and grouped by
 * account; event rows (one per account-day, already sorted) are streamed;
 * for each account its users' active days are laid out as flat, day-sorted
 * arrays with prefix sums, so every window count for every snapshot is two
 * binary searches. The account's snapshot vectors are kept until the
 * account is done, which gives the 28-day trend; rows are written as they
 * are finished. Pass 2 is snapshot-major: one snapshot's account vectors
 * at a time are read back and ranked within peer groups (same segment and
 * tenure band). Memory is bounded by one account plus one snapshot, not by
 * the number of snapshots.
 */
#define _POSIX_C_SOURCE 200809L
#include "metrics/metrics_int.h"
#include "core/util.h"
#include "ingest/validate.h"
#include "store/store.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY_S          86400
#define NA             ((double)NAN)
#define MAX_FEATURES   64
#define MAX_MILESTONES 32
#define TS_NEVER       INT64_MAX

/* ---- loaded tables ---------------------------------------------------- */

typedef struct m_sub {
    int64_t account, ts, mrr, seats;
    int annual; /* billing_period enum index (0 monthly, 1 annual, ...); -1 unknown */
} m_sub;

typedef struct m_user {
    int64_t id, account, prov_ts, deact_ts;
    int dept; /* interned department, else role, else -1 */
} m_user;

typedef struct m_ticket {
    int64_t account, opened, closed;
    int category, sat;
} m_ticket;

typedef struct m_survey {
    int64_t account, user, sent, responded;
    int type, score;
} m_survey;

typedef struct m_training {
    int64_t account, user, ts;
} m_training;

typedef struct m_goal {
    int64_t account;
    double baseline, target;
    int64_t start_day, target_day;
    int64_t m_lo, m_hi; /* measurements, sorted by time */
} m_goal;

typedef struct m_measure {
    int64_t goal, ts;
    int expected;
    double value;
} m_measure;

typedef struct m_account {
    int64_t start_day, churn_day; /* churn_day TS_NEVER when none */
    int64_t seats, mrr;
    int segment, churned;
    const char *ext;
    int64_t sub_lo, sub_hi, user_lo, user_hi, tk_lo, tk_hi, sv_lo, sv_hi, tr_lo, tr_hi, g_lo, g_hi;
} m_account;

typedef struct ev_info {
    int feature; /* -1 when not in the catalogue */
    int advanced, milestone, first_value;
} ev_info;

/* One user's events of one day, as the engine lays out an account. */
struct uday {
    int32_t user; /* index into the account's users, -1 = account-level */
    int32_t day;
    int32_t n, nadv, nfeat;
    uint64_t fmask;
};

typedef struct engine {
    int nm; /* account vector length: built-ins, custom metrics, milestones */
    cw_store *st;
    const cw_store_ops *ops;
    const cw_metrics_opts *o;
    cw_metrics_stats *stats;
    int window;
    m_account *acc;
    int64_t nacc; /* ids 1..nacc */
    m_sub *subs;
    m_user *users;
    m_ticket *tickets;
    m_survey *surveys;
    m_training *trainings;
    m_goal *goals;
    m_measure *measures;
    int64_t nsubs, nusers, ntickets, nsurveys, ntrainings, ngoals, nmeasures;
    int64_t cap[8];
    ev_info *ev;
    int64_t nev;
    int nfeatures, nmilestones;
    int milestone_due[MAX_MILESTONES];
    char *ms_names[MAX_MILESTONES];
    int ms_base; /* vector index of the first days_to_milestone entry */
    uint64_t advanced_mask;
    cw_intern *segments, *depts, *goal_ids, *feature_names, *milestone_names;
    char **fnames; /* catalogue feature names by load order (feature_names' ids) */
    int64_t nfnames, fnames_cap;
    /* snapshot dates being computed */
    int64_t *days;
    int ndays;
    int64_t *day_accounts, *day_users; /* rows stored per snapshot */
    int64_t user_day;                  /* the snapshot whose user metrics are stored (or all) */
    /* per snapshot k: the trend's base, days[k] - 28, is not computed in
     * this run but has a stored snapshot, so its rows are read back */
    unsigned char *base_stored;
    /* readers of event ranges, and their hand-over to the writer */
    struct scanner *scanners;
    int nscanners, threaded;
    struct handoff *ho;
    cw_intern *event_ids; /* event name → id, for custom metrics */
    double t0, last_progress;
    int64_t accounts_done;
} engine;

typedef struct user_state {
    int64_t lo, hi;              /* the user's day records in the sorted copy */
    int64_t first[MAX_FEATURES]; /* first day each feature was used, TS_NEVER if not */
    int64_t trained_ts;          /* first training completion, TS_NEVER */
} user_state;

/* One account being assembled and computed by a scanner. Each scanner has
 * two slots: while the main thread writes one, the scanner fills the other. */
typedef struct slot {
    int64_t id; /* 0: empty */
    struct uday *ud;
    int64_t nud, ud_cap;
    int64_t ms_first[MAX_MILESTONES];
    int64_t fv_first;
    cw_cm_state *cm;
    /* results and scratch, grown to the largest account */
    double *vals, *trend, *scratch, *uvals;
    int64_t *cum;
    user_state *us;
    int64_t users_cap, cum_cap, uvals_cap;
    cw_status status;
    int in_use; /* handed to the writer and not yet written */
    struct scanner *owner;
} slot;

/* Appends one element to a growable array. */
static void *push(void **arr, int64_t *n, int64_t *cap, size_t size)
{
    if (*n == *cap) {
        int64_t nc = *cap ? *cap * 2 : 1024;
        void *p = realloc(*arr, (size_t)nc * size);
        if (!p)
            return NULL;
        *arr = p;
        *cap = nc;
    }
    return (char *)*arr + (size_t)(*n)++ * size;
}
#define PUSH(E, field, n, capi)                                                                    \
    push((void **)&(E)->field, &(E)->n, &(E)->cap[capi], sizeof *(E)->field)

static int64_t intern_id(cw_intern *m, const char *s, size_t len)
{
    int64_t id = cw_intern_get(m, s, len);
    if (id < 0) {
        id = (int64_t)cw_intern_count(m);
        if (cw_intern_put(m, s, len, id) != CW_OK)
            return -1;
    }
    return id;
}

static int64_t floor_day(int64_t ts)
{
    return ts >= 0 ? ts / DAY_S : -((-ts + DAY_S - 1) / DAY_S);
}

/* qsort for arrays that may be empty, and then NULL (qsort's pointer must
 * not be NULL even for zero elements). */
static void sort(void *base, int64_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, (size_t)n, size, cmp);
}

/* ---- loading ------------------------------------------------------------ */

static cw_status load_account(int64_t id, const cw_value *v, void *ud)
{
    engine *E = ud;
    if (id > E->nacc) {
        m_account *a = realloc(E->acc, sizeof *a * (size_t)(id + 1));
        if (!a)
            return cw_store_set_error(E->st, CW_ERR_NOMEM,
                                      "metrics: out of memory loading accounts");
        memset(a + E->nacc + 1, 0, sizeof *a * (size_t)(id - E->nacc));
        E->acc = a;
        E->nacc = id;
    }
    m_account *a = &E->acc[id];
    /* accounts_fields: account_id, name, segment, owner, contract_start, seats,
     * mrr_minor, currency, renewal_date, status, churn_date, churn_reason */
    a->ext = cw_strndup(v[0].s, v[0].len);
    a->segment = (int)intern_id(E->segments, v[2].s, v[2].len);
    a->start_day = floor_day(v[4].i);
    a->seats = v[5].i;
    a->mrr = v[6].i;
    a->churned = v[9].i == 1;
    a->churn_day = v[10].present ? floor_day(v[10].i) : TS_NEVER;
    return a->ext && a->segment >= 0 ? CW_OK : CW_ERR_NOMEM;
}

static cw_status load_sub(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    engine *E = ud;
    m_sub *s = PUSH(E, subs, nsubs, 0);
    if (!s)
        return cw_store_set_error(E->st, CW_ERR_NOMEM,
                                  "metrics: out of memory loading subscriptions");
    *s = (m_sub){v[0].i, v[1].i, v[2].i, v[4].i, v[6].present ? (int)v[6].i : -1};
    return CW_OK;
}

static cw_status load_user(int64_t id, const cw_value *v, void *ud)
{
    engine *E = ud;
    m_user *u = PUSH(E, users, nusers, 1);
    if (!u)
        return cw_store_set_error(E->st, CW_ERR_NOMEM, "metrics: out of memory loading users");
    /* users_fields: user_id, account_id, email, role, department, provisioned_at, deactivated_at */
    int dept = v[4].present   ? (int)intern_id(E->depts, v[4].s, v[4].len)
               : v[3].present ? (int)intern_id(E->depts, v[3].s, v[3].len)
                              : -1;
    *u = (m_user){id, v[1].i, v[5].i, v[6].present ? v[6].i : TS_NEVER, dept};
    return CW_OK;
}

static cw_status load_ticket(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    engine *E = ud;
    m_ticket *t = PUSH(E, tickets, ntickets, 2);
    if (!t)
        return cw_store_set_error(E->st, CW_ERR_NOMEM, "metrics: out of memory loading tickets");
    /* ticket_id, account_id, user_id, opened_at, closed_at, category, priority, satisfaction */
    *t = (m_ticket){v[1].i, v[3].i, v[4].present ? v[4].i : TS_NEVER, (int)v[5].i,
                    v[7].present ? (int)v[7].i : -1};
    return CW_OK;
}

static cw_status load_survey(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    engine *E = ud;
    m_survey *s = PUSH(E, surveys, nsurveys, 3);
    if (!s)
        return cw_store_set_error(E->st, CW_ERR_NOMEM, "metrics: out of memory loading surveys");
    /* survey_id, account_id, user_id, type, sent_at, responded_at, score, reason, comment */
    *s = (m_survey){v[1].i,
                    v[2].present ? v[2].i : 0,
                    v[4].present ? v[4].i : -1,
                    v[5].present ? v[5].i : -1,
                    (int)v[3].i,
                    v[6].present ? (int)v[6].i : -1};
    return CW_OK;
}

static cw_status load_training(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    engine *E = ud;
    m_training *t = PUSH(E, trainings, ntrainings, 4);
    if (!t)
        return cw_store_set_error(E->st, CW_ERR_NOMEM, "metrics: out of memory loading trainings");
    /* user_id, account_id, course, completed_at */
    *t = (m_training){v[1].i, v[0].i, v[3].i};
    return CW_OK;
}

static cw_status load_goal(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    engine *E = ud;
    int64_t idx = E->ngoals;
    m_goal *g = PUSH(E, goals, ngoals, 5);
    if (!g || cw_intern_put(E->goal_ids, v[0].s, v[0].len, idx) != CW_OK)
        return cw_store_set_error(E->st, CW_ERR_NOMEM, "metrics: out of memory loading goals");
    /* goal_id, account_id, metric, unit, baseline, target, start_date, target_date */
    *g = (m_goal){v[1].i, v[4].d, v[5].d, floor_day(v[6].i), floor_day(v[7].i), 0, 0};
    return CW_OK;
}

static cw_status load_measure(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    engine *E = ud;
    int64_t g = cw_intern_get(E->goal_ids, v[0].s, v[0].len);
    if (g < 0)
        return CW_OK;
    m_measure *m = PUSH(E, measures, nmeasures, 6);
    if (!m)
        return cw_store_set_error(E->st, CW_ERR_NOMEM, "metrics: out of memory loading measures");
    /* goal_id, measured_at, kind, value */
    *m = (m_measure){g, v[1].i, v[2].i == 1, v[3].d};
    return CW_OK;
}

typedef struct feature_ctx {
    engine *E;
    cw_intern *names; /* event name → event id */
} feature_ctx;

static cw_status load_feature(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    feature_ctx *fc = ud;
    engine *E = fc->E;
    /* event, feature, tier, milestone, milestone_due_day, first_value.
     * Features and milestones count whether or not their event has been
     * seen: a milestone nobody reached yet is still due, and whether an
     * event happened on or after the snapshot must not change what the
     * snapshot sees. Features are numbered by name afterwards. */
    int64_t f = cw_intern_get(E->feature_names, v[1].s, v[1].len);
    if (f < 0) {
        f = E->nfnames;
        char **name = push((void **)&E->fnames, &E->nfnames, &E->fnames_cap, sizeof *E->fnames);
        if (!name || !(*name = cw_strndup(v[1].s, v[1].len)) ||
            cw_intern_put(E->feature_names, v[1].s, v[1].len, f) != CW_OK)
            return cw_store_set_error(E->st, CW_ERR_NOMEM,
                                      "metrics: out of memory loading features");
    }
    int64_t m = -1;
    if (v[3].present) {
        m = intern_id(E->milestone_names, v[3].s, v[3].len);
        if (m < 0)
            return cw_store_set_error(E->st, CW_ERR_NOMEM,
                                      "metrics: out of memory loading features");
        if (m < MAX_MILESTONES) {
            E->milestone_due[m] = v[4].present ? (int)v[4].i : 90;
            if (!E->ms_names[m]) {
                if (!(E->ms_names[m] = cw_strndup(v[3].s, v[3].len)))
                    return cw_store_set_error(E->st, CW_ERR_NOMEM,
                                              "metrics: out of memory loading features");
                /* the snapshot's catalog is comma-separated */
                for (char *c = E->ms_names[m]; *c; c++)
                    if (*c == ',')
                        *c = ';';
            }
        }
        int64_t nm = (int64_t)cw_intern_count(E->milestone_names);
        E->nmilestones = nm < MAX_MILESTONES ? (int)nm : MAX_MILESTONES;
    }
    int64_t ev = cw_intern_get(fc->names, v[0].s, v[0].len);
    if (ev < 0 || ev >= E->nev)
        return CW_OK; /* catalogued but never seen */
    ev_info *e = &E->ev[ev];
    e->feature = (int)f; /* load order until number_features() */
    e->advanced = v[2].i == 1;
    e->first_value = v[5].present && v[5].i;
    if (m >= 0 && m < MAX_MILESTONES)
        e->milestone = (int)m;
    return CW_OK;
}

typedef struct fname {
    const char *name;
    int64_t id;
} fname;

static int fname_cmp(const void *a, const void *b)
{
    return strcmp(((const fname *)a)->name, ((const fname *)b)->name);
}

/* Numbers the catalogue's features by name (byte order), the numbering
 * user_stop_feature reports; features after the first MAX_FEATURES names
 * are not tracked. Sets the advanced-feature mask. */
static cw_status number_features(engine *E)
{
    fname *byname = malloc(sizeof *byname * (size_t)(E->nfnames ? E->nfnames : 1));
    int *rank = malloc(sizeof *rank * (size_t)(E->nfnames ? E->nfnames : 1));
    if (!byname || !rank) {
        free(byname);
        free(rank);
        return cw_store_set_error(E->st, CW_ERR_NOMEM, "metrics: out of memory numbering features");
    }
    for (int64_t i = 0; i < E->nfnames; i++)
        byname[i] = (fname){E->fnames[i], i};
    sort(byname, E->nfnames, sizeof *byname, fname_cmp);
    for (int64_t r = 0; r < E->nfnames; r++)
        rank[byname[r].id] = r < MAX_FEATURES ? (int)r : -1;
    for (int64_t i = 0; i < E->nev; i++) {
        ev_info *e = &E->ev[i];
        if (e->feature < 0)
            continue;
        e->feature = rank[e->feature];
        if (e->advanced && e->feature >= 0)
            E->advanced_mask |= 1ull << e->feature;
    }
    E->nfeatures = E->nfnames < MAX_FEATURES ? (int)E->nfnames : MAX_FEATURES;
    free(byname);
    free(rank);
    return CW_OK;
}

static cw_status count_event(const char *ext, size_t len, int64_t id, int64_t aux, void *ud)
{
    (void)aux;
    feature_ctx *fc = ud;
    if (id + 1 > fc->E->nev)
        fc->E->nev = id + 1;
    return cw_intern_put(fc->names, ext, len, id);
}

/* Sorting helpers: every small table grouped by account, then by time. */
#define CMP(a, b) (((a) > (b)) - ((a) < (b)))
static int sub_cmp(const void *a, const void *b)
{
    const m_sub *x = a, *y = b;
    return x->account != y->account ? CMP(x->account, y->account) : CMP(x->ts, y->ts);
}
static int user_cmp(const void *a, const void *b)
{
    const m_user *x = a, *y = b;
    return x->account != y->account ? CMP(x->account, y->account) : CMP(x->id, y->id);
}
static int ticket_cmp(const void *a, const void *b)
{
    const m_ticket *x = a, *y = b;
    return x->account != y->account ? CMP(x->account, y->account) : CMP(x->opened, y->opened);
}
static int survey_cmp(const void *a, const void *b)
{
    const m_survey *x = a, *y = b;
    if (x->account != y->account)
        return CMP(x->account, y->account);
    int64_t tx = x->responded >= 0 ? x->responded : x->sent;
    int64_t ty = y->responded >= 0 ? y->responded : y->sent;
    return CMP(tx, ty);
}
static int training_cmp(const void *a, const void *b)
{
    const m_training *x = a, *y = b;
    return x->account != y->account ? CMP(x->account, y->account) : CMP(x->ts, y->ts);
}
static int measure_cmp(const void *a, const void *b)
{
    const m_measure *x = a, *y = b;
    return x->goal != y->goal ? CMP(x->goal, y->goal) : CMP(x->ts, y->ts);
}

/* Sets [lo, hi) ranges per account over an account-sorted array. */
#define RANGES(E, arr, n, lo, hi)                                                                  \
    for (int64_t i_ = 0; i_ < (E)->n;) {                                                           \
        int64_t a_ = (E)->arr[i_].account, j_ = i_;                                                \
        while (j_ < (E)->n && (E)->arr[j_].account == a_)                                          \
            j_++;                                                                                  \
        if (a_ >= 1 && a_ <= (E)->nacc)                                                            \
            (E)->acc[a_].lo = i_, (E)->acc[a_].hi = j_;                                            \
        i_ = j_;                                                                                   \
    }

static cw_status load_all(engine *E)
{
    cw_status s;
    const cw_store_ops *ops = E->ops;
    feature_ctx fc = {E, cw_intern_new()};
    if (!fc.names)
        return cw_store_set_error(E->st, CW_ERR_NOMEM, "metrics: out of memory loading the data");
    if ((s = ops->scan_rows(E->st, CW_KIND_ACCOUNTS, load_account, E)) != CW_OK ||
        (s = ops->scan_rows(E->st, CW_KIND_SUBSCRIPTIONS, load_sub, E)) != CW_OK ||
        (s = ops->scan_rows(E->st, CW_KIND_USERS, load_user, E)) != CW_OK ||
        (s = ops->scan_rows(E->st, CW_KIND_TICKETS, load_ticket, E)) != CW_OK ||
        (s = ops->scan_rows(E->st, CW_KIND_SURVEYS, load_survey, E)) != CW_OK ||
        (s = ops->scan_rows(E->st, CW_KIND_TRAININGS, load_training, E)) != CW_OK ||
        (s = ops->scan_rows(E->st, CW_KIND_GOALS, load_goal, E)) != CW_OK ||
        (s = ops->scan_rows(E->st, CW_KIND_GOAL_MEASUREMENTS, load_measure, E)) != CW_OK ||
        (s = ops->load_ids(E->st, CW_KIND_EVENTS, count_event, &fc)) != CW_OK)
        goto done;
    E->ev = calloc((size_t)(E->nev ? E->nev : 1), sizeof *E->ev);
    if (!E->ev) {
        s = cw_store_set_error(E->st, CW_ERR_NOMEM, "metrics: out of memory loading the data");
        goto done;
    }
    for (int64_t i = 0; i < E->nev; i++)
        E->ev[i] = (ev_info){-1, 0, -1, 0};
    if ((s = ops->scan_rows(E->st, CW_KIND_FEATURES, load_feature, &fc)) != CW_OK ||
        (s = number_features(E)) != CW_OK)
        goto done;
    sort(E->subs, E->nsubs, sizeof *E->subs, sub_cmp);
    sort(E->users, E->nusers, sizeof *E->users, user_cmp);
    sort(E->tickets, E->ntickets, sizeof *E->tickets, ticket_cmp);
    sort(E->surveys, E->nsurveys, sizeof *E->surveys, survey_cmp);
    sort(E->trainings, E->ntrainings, sizeof *E->trainings, training_cmp);
    sort(E->measures, E->nmeasures, sizeof *E->measures, measure_cmp);
    RANGES(E, subs, nsubs, sub_lo, sub_hi);
    RANGES(E, users, nusers, user_lo, user_hi);
    RANGES(E, tickets, ntickets, tk_lo, tk_hi);
    RANGES(E, surveys, nsurveys, sv_lo, sv_hi);
    RANGES(E, trainings, ntrainings, tr_lo, tr_hi);
    /* measurement ranges per goal (goal indexes are load order) */
    for (int64_t i = 0; i < E->nmeasures;) {
        int64_t g = E->measures[i].goal, j = i;
        while (j < E->nmeasures && E->measures[j].goal == g)
            j++;
        E->goals[g].m_lo = i, E->goals[g].m_hi = j;
        i = j;
    }
done:
    E->event_ids = fc.names; /* custom metrics resolve event names later */
    return s;
}

/* ---- per-account computation ------------------------------------------- */

/* First index in sorted a[lo, hi) with a[i] >= x. */
static int64_t lower_day(const struct uday *a, int64_t lo, int64_t hi, int64_t x)
{
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a[mid].day < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The subscription change in force before day d (index), or -1. */
static int64_t sub_at(const engine *E, const m_account *a, int64_t d)
{
    int64_t k = -1;
    for (int64_t i = a->sub_lo; i < a->sub_hi && E->subs[i].ts < d * DAY_S; i++)
        k = i;
    return k;
}

/* Whether the account is a customer on day d (as known before d). */
static int active_at(const engine *E, const m_account *a, int64_t d)
{
    if (a->start_day >= d)
        return 0;
    if (a->sub_hi > a->sub_lo) {
        int64_t k = sub_at(E, a, d);
        return k >= 0 && E->subs[k].mrr > 0;
    }
    return a->churn_day >= d;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percent change of cur vs prev; NaN when prev is 0. */
static double pct_change(double cur, double prev)
{
    return prev > 0 ? (cur - prev) / prev * 100.0 : NA;
}

/* Expected value of goal g on day d: linear from (start, baseline) to
 * (target_day, target), or through the goal's agreed checkpoints. */
static double goal_expected(const engine *E, const m_goal *g, int64_t d)
{
    double t0 = (double)g->start_day, v0 = g->baseline;
    for (int64_t i = g->m_lo; i < g->m_hi; i++) {
        const m_measure *m = &E->measures[i];
        if (!m->expected)
            continue;
        double t = (double)floor_day(m->ts);
        if (t >= (double)d) {
            return t > t0 ? v0 + (m->value - v0) * ((double)d - t0) / (t - t0) : m->value;
        }
        t0 = t, v0 = m->value;
    }
    double t1 = (double)g->target_day;
    if ((double)d >= t1)
        return g->target;
    return t1 > t0 ? v0 + (g->target - v0) * ((double)d - t0) / (t1 - t0) : g->target;
}

/* The first day of the contract in force before day d: contract_start, or
 * the day of the first paid change after the account's last cancellation
 * (a change to MRR 0) — a reactivated account renews from its return. */
static int64_t contract_anchor(const engine *E, const m_account *a, int64_t d)
{
    int64_t anchor = a->start_day;
    int cancelled = 0;
    for (int64_t i = a->sub_lo; i < a->sub_hi && E->subs[i].ts < d * DAY_S; i++) {
        if (E->subs[i].mrr == 0)
            cancelled = 1;
        else if (cancelled)
            anchor = floor_day(E->subs[i].ts), cancelled = 0;
    }
    return anchor;
}

static void slot_reset(slot *sl)
{
    sl->id = 0;
    sl->nud = 0;
    for (int m = 0; m < MAX_MILESTONES; m++)
        sl->ms_first[m] = TS_NEVER;
    sl->fv_first = TS_NEVER;
    if (sl->cm)
        cw_cm_account_reset(sl->cm);
}

static void slot_free(slot *sl)
{
    free(sl->ud);
    free(sl->vals);
    free(sl->trend);
    free(sl->scratch);
    free(sl->uvals);
    free(sl->cum);
    free(sl->us);
    cw_cm_free(sl->cm);
}

/* User vectors of snapshot k are kept when they are to be stored. */
static int keeps_users(const engine *E, int k)
{
    return E->o->user_history || E->days[k] == E->user_day;
}

/* What the stages of compute_account share about one account: its
 * user-days in (user, day) order with prefix sums of their events, and its
 * per-day totals over all users with theirs. */
typedef struct acct_ctx {
    const engine *E;
    slot *sl;
    const m_account *a;
    int64_t nu;          /* the account's users: E->users[a->user_lo ..] */
    struct uday *sorted; /* user-days by (user, day); sl->us[u] holds user u's range */
    int64_t *cum;        /* cum[i]: events of sorted[0 .. i-1] */
    struct uday *ad;     /* per-day totals over all users, in day order */
    int64_t nad;
    int64_t *acum; /* acum[i]: events of ad[0 .. i-1] */
} acct_ctx;

/* One snapshot day of the account being computed: its vector, and what
 * later stages read from earlier ones. */
typedef struct snap_ctx {
    int k;     /* index into E->days */
    int64_t D; /* the snapshot day */
    double *v; /* the account vector */
    int64_t seats, tenure;
    int64_t active; /* users active in the window */
} snap_ctx;

/* Orders the account's user-days by (user, day) into c->sorted (counting
 * sort: stable, and the records arrive in day order) with prefix sums in
 * c->cum, and sets each user's range, first use of each feature and first
 * training. */
static cw_status sort_user_days(acct_ctx *c)
{
    const engine *E = c->E;
    const slot *sl = c->sl;
    const m_account *a = c->a;
    user_state *us = sl->us;
    const int64_t nu = c->nu, nud = sl->nud;
    struct uday *sorted = malloc(sizeof *sorted * (size_t)(nud ? nud : 1));
    int64_t *start = calloc((size_t)nu + 2, sizeof *start);
    c->sorted = sorted;
    if (!sorted || !start) {
        free(start);
        return CW_ERR_NOMEM;
    }
    for (int64_t i = 0; i < nud; i++)
        start[sl->ud[i].user + 2]++; /* user -1 (account-level) lands in bucket 1 */
    for (int64_t u = 1; u <= nu + 1; u++)
        start[u] += start[u - 1];
    for (int64_t i = 0; i < nud; i++)
        sorted[start[sl->ud[i].user + 1]++] = sl->ud[i];
    /* start[u + 1] now ends bucket u, start[0] the account-level bucket */
    int64_t prev_end = start[0];
    for (int64_t u = 0; u < nu; u++) {
        us[u].lo = prev_end;
        us[u].hi = start[u + 1];
        prev_end = us[u].hi;
        for (int f = 0; f < MAX_FEATURES; f++)
            us[u].first[f] = TS_NEVER;
        for (int64_t i = us[u].lo; i < us[u].hi; i++) {
            uint64_t m = sorted[i].fmask;
            while (m) {
                int f = __builtin_ctzll(m);
                m &= m - 1;
                if (us[u].first[f] == TS_NEVER)
                    us[u].first[f] = sorted[i].day;
            }
        }
        us[u].trained_ts = TS_NEVER;
    }
    free(start);
    for (int64_t i = a->tr_lo; i < a->tr_hi; i++) {
        const m_training *t = &E->trainings[i];
        for (int64_t u = 0; u < nu; u++)
            if (E->users[a->user_lo + u].id == t->user && t->ts < us[u].trained_ts)
                us[u].trained_ts = t->ts;
    }
    int64_t *cum = c->cum = sl->cum;
    cum[0] = 0;
    for (int64_t i = 0; i < nud; i++)
        cum[i + 1] = cum[i] + sorted[i].n;
    return CW_OK;
}

/* Account-level day totals (all users) for events_window and recency:
 * sl->ud is in day order, so equal days fold in place into c->ad, with
 * prefix sums in c->acum (after c->cum). Call after sort_user_days. */
static void fold_account_days(acct_ctx *c)
{
    const slot *sl = c->sl;
    struct uday *ad = c->ad = sl->ud;
    int64_t nad = 0;
    for (int64_t i = 0; i < sl->nud; i++) {
        if (nad && ad[nad - 1].day == sl->ud[i].day) {
            ad[nad - 1].n += sl->ud[i].n;
            ad[nad - 1].nadv += sl->ud[i].nadv;
            ad[nad - 1].nfeat += sl->ud[i].nfeat;
            ad[nad - 1].fmask |= sl->ud[i].fmask;
        } else {
            ad[nad++] = sl->ud[i];
        }
    }
    c->nad = nad;
    int64_t *acum = c->acum = c->cum + sl->nud + 1;
    acum[0] = 0;
    for (int64_t i = 0; i < nad; i++)
        acum[i + 1] = acum[i] + ad[i].n;
}

/* Contract metrics: tenure, seats, MRR and their change over 90 days, and
 * the days to the next renewal. */
static void snap_contract(const acct_ctx *c, snap_ctx *sn)
{
    const engine *E = c->E;
    const m_account *a = c->a;
    const int64_t D = sn->D;
    double *v = sn->v;
    int64_t sk = sub_at(E, a, D);
    int64_t seats = sk >= 0 ? E->subs[sk].seats : a->seats;
    int64_t mrr = sk >= 0 ? E->subs[sk].mrr : a->mrr;
    int64_t tenure = D - a->start_day;
    v[M_TENURE_DAYS] = (double)tenure;
    v[M_SEATS] = (double)seats;
    v[M_MRR_MINOR] = (double)mrr;
    int64_t sk90 = sub_at(E, a, D - 90);
    if (D - 90 > a->start_day) {
        v[M_SEAT_CHANGE_90D] = (double)(seats - (sk90 >= 0 ? E->subs[sk90].seats : seats));
        v[M_MRR_CHANGE_90D] = (double)(mrr - (sk90 >= 0 ? E->subs[sk90].mrr : mrr));
    }
    /* next term anniversary (civil months) of the current contract */
    /* billing_period: monthly, annual, quarterly, semiannual, other;
     * unknown and other count as annual, as before the last three existed. */
    static const int term_months[] = {1, 12, 3, 6, 12};
    int annual = sk >= 0 ? E->subs[sk].annual : -1;
    int months = annual >= 0 && annual < 5 ? term_months[annual] : 12;
    v[M_DAYS_TO_RENEWAL] = (double)(cw_next_anniversary(contract_anchor(E, a, D), months, D) - D);
    sn->seats = seats;
    sn->tenure = tenure;
}

/* What the users of one snapshot add up to. */
typedef struct usage_totals {
    int64_t prov, active, ever, dropped, sum_ad, sum_weeks, user_events, feat_sum, trained;
    uint64_t mask; /* features used in the window */
    uint64_t dept_seen[4];
    double *ev_counts; /* events per provisioned user, for shares and Gini */
} usage_totals;

/* Adds user u's window before the snapshot to *t and, when the user's
 * vector is kept, fills it. */
static void user_window(const acct_ctx *c, const snap_ctx *sn, int64_t u, usage_totals *t)
{
    const engine *E = c->E;
    const slot *sl = c->sl;
    const struct uday *sorted = c->sorted;
    const int64_t *cum = c->cum;
    const int64_t D = sn->D;
    const int w = E->window;
    const m_user *mu = &E->users[c->a->user_lo + u];
    double *uv =
        keeps_users(E, sn->k)
            ? sl->uvals +
                  ((size_t)(E->o->user_history ? sn->k : 0) * (size_t)c->nu + (size_t)u) * U__COUNT
            : NULL;
    if (!(mu->prov_ts < D * DAY_S && mu->deact_ts >= D * DAY_S)) {
        if (uv)
            uv[0] = -1; /* not provisioned: no row */
        return;
    }
    const user_state *us = &sl->us[u];
    int64_t hi = lower_day(sorted, us->lo, us->hi, D);
    int64_t lo = lower_day(sorted, us->lo, hi, D - w);
    int64_t plo = lower_day(sorted, us->lo, lo, D - 2 * w);
    int64_t ev_w = cum[hi] - cum[lo], ev_p = cum[lo] - cum[plo];
    int64_t active_days = hi - lo;
    int weeks = 0;
    for (int wk = 0; wk < 8; wk++) {
        int64_t a0 = lower_day(sorted, us->lo, hi, D - 7 * (wk + 1));
        int64_t a1 = lower_day(sorted, a0, hi, D - 7 * wk);
        weeks += a1 > a0;
    }
    uint64_t mask = 0;
    for (int64_t i = lo; i < hi; i++)
        mask |= sorted[i].fmask;
    int discovered = 0;
    for (int f = 0; f < E->nfeatures && f < MAX_FEATURES; f++)
        discovered += us->first[f] >= D - w && us->first[f] < D;
    int was_active = hi > us->lo;
    int64_t last = was_active ? sorted[hi - 1].day : -1;
    int drop = was_active && D - last >= 14;
    t->ev_counts[t->prov] = (double)ev_w;
    t->prov++;
    t->active += active_days > 0;
    t->ever += was_active;
    t->dropped += drop;
    t->sum_ad += active_days;
    t->sum_weeks += weeks;
    t->user_events += ev_w;
    t->mask |= mask;
    if (active_days > 0) {
        t->feat_sum += __builtin_popcountll(mask);
        if (mu->dept >= 0 && mu->dept < 256)
            t->dept_seen[mu->dept / 64] |= 1ull << (mu->dept % 64);
    }
    t->trained += us->trained_ts < D * DAY_S;
    if (uv) {
        uv[U_ACTIVE_DAYS] = (double)active_days;
        uv[U_WEEKS_ACTIVE_8] = weeks;
        uv[U_FEATURES_USED] = __builtin_popcountll(mask);
        uv[U_ADVANCED_FEATURES_USED] = __builtin_popcountll(mask & E->advanced_mask);
        uv[U_FEATURES_DISCOVERED] = discovered;
        uv[U_EVENTS_WINDOW] = (double)ev_w;
        uv[U_EVENTS_CHANGE_PCT] = pct_change((double)ev_w, (double)ev_p);
        uv[U_DAYS_SINCE_ACTIVE] = was_active ? (double)(D - last) : NA;
        uv[U_DROPPED_OFF] = drop;
        uv[U_STOP_FEATURE] = NA;
        if (drop) {
            int best = -1;
            for (int f = 0; f < E->nfeatures && f < MAX_FEATURES; f++)
                if (us->first[f] <= last && (best < 0 || us->first[f] > us->first[best]))
                    best = f;
            uv[U_STOP_FEATURE] = best >= 0 ? best : NA;
        }
        uv[U_TRAINED] = us->trained_ts < D * DAY_S;
    }
}

/* Usage metrics: each user's window (user_window), then the account's
 * events in the window and the one before it (all users and account-level
 * events: per-day totals with prefix sums, two binary searches), recency,
 * licence use, concentration and breadth. */
static void snap_usage(const acct_ctx *c, snap_ctx *sn)
{
    const engine *E = c->E;
    const struct uday *ad = c->ad;
    const int64_t *acum = c->acum;
    const int64_t D = sn->D, seats = sn->seats;
    const int w = E->window;
    double *v = sn->v;
    usage_totals t = {.ev_counts = c->sl->scratch};
    for (int64_t u = 0; u < c->nu; u++)
        user_window(c, sn, u, &t);
    int64_t dhi = lower_day(ad, 0, c->nad, D), dlo = lower_day(ad, 0, dhi, D - w);
    int64_t dplo = lower_day(ad, 0, dlo, D - 2 * w);
    int64_t ev_w = acum[dhi] - acum[dlo], ev_p = acum[dlo] - acum[dplo];
    int64_t adv_w = 0, feat_w = 0, last_day = dhi > 0 ? ad[dhi - 1].day : -1;
    for (int64_t i = dlo; i < dhi; i++) {
        adv_w += ad[i].nadv;
        feat_w += ad[i].nfeat;
        t.mask |= ad[i].fmask;
    }
    const int64_t prov = t.prov, active = t.active, ever = t.ever;
    v[M_ACTIVE_USERS] = (double)active;
    v[M_EVENTS_WINDOW] = (double)ev_w;
    v[M_EVENTS_CHANGE_PCT] = pct_change((double)ev_w, (double)ev_p);
    v[M_DAYS_SINCE_LAST_ACTIVITY] = last_day >= 0 ? (double)(D - last_day) : NA;
    v[M_ACTIVE_DAYS_PER_USER] = prov ? (double)t.sum_ad / (double)prov : NA;
    v[M_WEEKLY_CONSISTENCY] = prov ? (double)t.sum_weeks / (double)prov : NA;
    v[M_DROPPED_OFF_USERS] = (double)t.dropped;
    v[M_DROPPED_OFF_SHARE] = ever ? (double)t.dropped / (double)ever : NA;
    v[M_LICENCE_ACTIVATION] = seats ? (double)ever / (double)seats : NA;
    v[M_ACTIVE_LICENCE_RATIO] = seats ? (double)active / (double)seats : NA;
    v[M_LICENCE_GAP] = (double)(seats - active);
    v[M_TRAINING_COMPLETION] = seats ? (double)t.trained / (double)seats : NA;
    v[M_ACTIVE_USER_SHARE] = prov ? (double)active / (double)prov : NA;
    if (t.user_events > 0) {
        double *ev_counts = t.ev_counts;
        sort(ev_counts, prov, sizeof *ev_counts, dcmp);
        int64_t top = (prov + 9) / 10;
        double topsum = 0, g = 0;
        for (int64_t i = 0; i < top; i++)
            topsum += ev_counts[prov - 1 - i];
        for (int64_t i = 0; i < prov; i++)
            g += (double)(i + 1) * ev_counts[i];
        v[M_TOP_USER_SHARE] = ev_counts[prov - 1] / (double)t.user_events;
        v[M_TOP10PCT_SHARE] = topsum / (double)t.user_events;
        v[M_ACTIVITY_GINI] =
            2.0 * g / ((double)prov * (double)t.user_events) - ((double)prov + 1.0) / (double)prov;
    }
    v[M_DEPARTMENTS_ACTIVE] =
        __builtin_popcountll(t.dept_seen[0]) + __builtin_popcountll(t.dept_seen[1]) +
        __builtin_popcountll(t.dept_seen[2]) + __builtin_popcountll(t.dept_seen[3]);
    v[M_FEATURES_USED] = __builtin_popcountll(t.mask);
    v[M_ADVANCED_FEATURE_SHARE] = feat_w ? (double)adv_w / (double)feat_w : NA;
    v[M_FEATURES_PER_ACTIVE_USER] = active ? (double)t.feat_sum / (double)active : NA;
    sn->active = active;
}

/* Onboarding milestones and first value; reads the licence activation
 * snap_usage set. */
static void snap_onboarding(const acct_ctx *c, const snap_ctx *sn)
{
    const engine *E = c->E;
    const slot *sl = c->sl;
    const int64_t D = sn->D, tenure = sn->tenure, start_day = c->a->start_day;
    double *v = sn->v;
    int due = 0, done = 0;
    for (int m = 0; m < E->nmilestones; m++) {
        if (E->milestone_due[m] > tenure)
            continue;
        due++;
        done += sl->ms_first[m] < D;
    }
    /* days from contract_start to each milestone reached before D */
    for (int m = 0; m < E->nmilestones; m++)
        v[E->ms_base + m] = sl->ms_first[m] < D ? (double)(sl->ms_first[m] - start_day) : NA;
    v[M_MILESTONES_DUE] = due;
    v[M_MILESTONES_DONE] = done;
    v[M_MILESTONES_OVERDUE] = due - done;
    v[M_TIME_TO_FIRST_VALUE_DAYS] = sl->fv_first < D ? (double)(sl->fv_first - start_day) : NA;
    /* On track: nothing overdue and activation at the tenure's bar
     * (30% by day 30, 50% by day 60, 70% by day 90 and after). */
    double bar = tenure < 30 ? 0.0 : tenure < 60 ? 0.3 : tenure < 90 ? 0.5 : 0.7;
    v[M_ONBOARDING_ON_TRACK] =
        (due == done) && (isnan(v[M_LICENCE_ACTIVATION]) || v[M_LICENCE_ACTIVATION] >= bar);
}

/* Support tickets: volume, intro vs advanced, open, resolution time and
 * satisfaction. */
static void snap_support(const acct_ctx *c, const snap_ctx *sn)
{
    const engine *E = c->E;
    const m_account *a = c->a;
    const int64_t D = sn->D, active = sn->active;
    const int w = E->window;
    double *v = sn->v;
    int64_t tk_w = 0, intro90 = 0, adv90 = 0, intro_late = 0, open = 0, sat_n = 0;
    double sat_sum = 0;
    int64_t nres = 0;
    double *res = c->sl->scratch + c->nu + (size_t)c->nu * U__COUNT;
    for (int64_t i = a->tk_lo; i < a->tk_hi; i++) {
        const m_ticket *t = &E->tickets[i];
        if (t->opened >= D * DAY_S)
            break;
        int64_t od = floor_day(t->opened);
        if (od >= D - w) {
            tk_w++;
            if (t->category == 0 && od - a->start_day > 90)
                intro_late++;
        }
        if (od >= D - 90) {
            intro90 += t->category == 0;
            adv90 += t->category == 1;
        }
        if (t->closed >= D * DAY_S)
            open++;
        else if (t->closed >= (D - 90) * DAY_S) {
            res[nres++] = (double)(t->closed - t->opened) / 3600.0;
            if (t->sat >= 1)
                sat_sum += t->sat, sat_n++;
        }
    }
    v[M_TICKETS_WINDOW] = (double)tk_w;
    v[M_TICKETS_PER_ACTIVE_USER] = active ? (double)tk_w / (double)active : NA;
    v[M_INTRO_TICKET_SHARE] = intro90 + adv90 ? (double)intro90 / (double)(intro90 + adv90) : NA;
    v[M_INTRO_TICKETS_AFTER_DAY90] = (double)intro_late;
    v[M_OPEN_TICKETS] = (double)open;
    if (nres) {
        sort(res, nres, sizeof *res, dcmp);
        v[M_MEDIAN_RESOLVE_HOURS] =
            nres % 2 ? res[nres / 2] : (res[nres / 2 - 1] + res[nres / 2]) / 2.0;
    }
    v[M_TICKET_CSAT] = sat_n ? sat_sum / (double)sat_n : NA;
}

/* NPS of the respondents' latest answers in the 180 days before day Dp;
 * NaN without answers. */
static double nps_before(const engine *E, const m_account *a, int64_t Dp)
{
    int64_t prom = 0, det = 0, resp = 0;
    for (int64_t i = a->sv_lo; i < a->sv_hi; i++) {
        const m_survey *sv = &E->surveys[i];
        if (sv->type != 0)
            continue;
        if (sv->responded < 0 || sv->responded >= Dp * DAY_S || sv->responded < (Dp - 180) * DAY_S)
            continue;
        /* each respondent's latest answer: later rows of the same user win */
        int later = 0;
        for (int64_t j = i + 1; j < a->sv_hi && !later; j++) {
            const m_survey *o2 = &E->surveys[j];
            later = o2->type == 0 && o2->user == sv->user && o2->user != 0 && o2->responded >= 0 &&
                    o2->responded < Dp * DAY_S;
        }
        if (later)
            continue;
        resp++;
        prom += sv->score >= 9;
        det += sv->score <= 6;
    }
    return resp ? 100.0 * (double)(prom - det) / (double)resp : NA;
}

/* Surveys: NPS now and its change over 90 days, the latest NPS answer and
 * the response rate. */
static void snap_surveys(const acct_ctx *c, const snap_ctx *sn)
{
    const engine *E = c->E;
    const m_account *a = c->a;
    const int64_t D = sn->D;
    double *v = sn->v;
    v[M_NPS_ACCOUNT] = nps_before(E, a, D);
    double nps_90 = nps_before(E, a, D - 90);
    if (!isnan(v[M_NPS_ACCOUNT]) && !isnan(nps_90))
        v[M_NPS_CHANGE_90D] = v[M_NPS_ACCOUNT] - nps_90;
    int64_t latest_ts = -1, sent = 0, answered = 0;
    int latest = -1;
    for (int64_t i = a->sv_lo; i < a->sv_hi; i++) {
        const m_survey *sv = &E->surveys[i];
        if (sv->type == 0 && sv->responded >= 0 && sv->responded < D * DAY_S &&
            sv->responded > latest_ts && sv->score >= 0)
            latest_ts = sv->responded, latest = sv->score;
        if (sv->type != 2 && sv->sent >= (D - 180) * DAY_S && sv->sent < D * DAY_S) {
            sent++;
            answered += sv->responded >= 0 && sv->responded < D * DAY_S;
        }
    }
    if (latest >= 0) {
        v[M_NPS_LATEST] = latest;
        v[M_NPS_CATEGORY] = latest >= 9 ? 1 : latest >= 7 ? 0 : -1;
    }
    v[M_SURVEY_RESPONSE_RATE] = sent ? (double)answered / (double)sent : NA;
}

/* Outcomes: goals started before the snapshot and their attainment
 * against the expected value (worst and mean). */
static void snap_outcomes(const acct_ctx *c, const snap_ctx *sn)
{
    const engine *E = c->E;
    const int64_t D = sn->D;
    double *v = sn->v;
    int goals = 0;
    double worst = NA, att_sum = 0;
    int att_n = 0;
    for (int64_t gi = c->a->g_lo; gi < c->a->g_hi; gi++) {
        const m_goal *g = &E->goals[gi];
        if (g->start_day >= D)
            continue;
        goals++;
        double achieved = g->baseline;
        for (int64_t i = g->m_lo; i < g->m_hi && E->measures[i].ts < D * DAY_S; i++)
            if (!E->measures[i].expected)
                achieved = E->measures[i].value;
        double expected = goal_expected(E, g, D);
        if (expected == g->baseline)
            continue;
        double att = (achieved - g->baseline) / (expected - g->baseline);
        att_sum += att;
        att_n++;
        if (isnan(worst) || att < worst)
            worst = att;
    }
    v[M_GOALS_ACTIVE] = goals;
    v[M_GOAL_ATTAINMENT_WORST] = worst;
    v[M_GOAL_ATTAINMENT_MEAN] = att_n ? att_sum / att_n : NA;
}

/* Computes every snapshot vector of the slot's account (no I/O: runs on
 * a scanner thread and reads only what load_all() built), one stage per
 * group of metrics; custom metrics last. */
static cw_status compute_account(const engine *E, slot *sl)
{
    const m_account *a = &E->acc[sl->id];
    acct_ctx c = {.E = E, .sl = sl, .a = a, .nu = a->user_hi - a->user_lo};
    cw_status s = sort_user_days(&c);
    if (s != CW_OK) {
        free(c.sorted);
        return s;
    }
    fold_account_days(&c);
    for (int k = 0; k < E->ndays; k++) {
        snap_ctx sn = {.k = k, .D = E->days[k], .v = sl->vals + (size_t)k * E->nm};
        for (int m = 0; m < E->nm; m++)
            sn.v[m] = NA;
        if (!active_at(E, a, sn.D))
            continue;
        snap_contract(&c, &sn);
        snap_usage(&c, &sn);
        snap_onboarding(&c, &sn);
        snap_support(&c, &sn);
        snap_surveys(&c, &sn);
        snap_outcomes(&c, &sn);
        if (sl->cm && (s = cw_cm_compute(sl->cm, sn.D, c.nu, sn.v)) != CW_OK)
            break;
    }
    free(c.sorted);
    return s;
}

/* Stores a computed slot (main thread): the trend against the snapshot 28
 * days earlier (from this run, else from the store), account rows and the
 * kept user rows. */
static cw_status write_account(engine *E, slot *sl)
{
    const m_account *a = &E->acc[sl->id];
    int64_t nu = a->user_hi - a->user_lo;
    cw_status s = CW_OK;
    double fetched[M__COUNT + CW_MAX_CUSTOM + MAX_MILESTONES];
    for (int k = 0; k < E->ndays && s == CW_OK; k++) {
        int64_t D = E->days[k];
        double *v = sl->vals + (size_t)k * E->nm;
        if (isnan(v[M_TENURE_DAYS]))
            continue; /* not a customer on D */
        double *t = sl->trend + (size_t)k * E->nm;
        const double *prev = NULL;
        for (int j = k - 1; j >= 0 && E->days[j] >= D - 28; j--)
            if (E->days[j] == D - 28)
                prev = sl->vals + (size_t)j * E->nm;
        if (!prev && E->base_stored[k]) {
            int found = 0;
            if ((s = E->ops->account_metrics_get(E->st, D - 28, sl->id, fetched, E->nm, &found)) !=
                CW_OK)
                break;
            if (found)
                prev = fetched;
        }
        for (int m = 0; m < E->nm; m++)
            t[m] = prev ? v[m] - prev[m] : NA;
        if (prev && isnan(prev[M_TENURE_DAYS]))
            for (int m = 0; m < E->nm; m++)
                t[m] = NA;
        if ((s = E->ops->account_metrics_put(E->st, D, sl->id, v, t, E->nm)) != CW_OK)
            break;
        E->stats->account_rows++;
        E->day_accounts[k]++;
        if (!keeps_users(E, k))
            continue;
        for (int64_t u = 0; u < nu && s == CW_OK; u++) {
            const double *uv =
                sl->uvals +
                ((size_t)(E->o->user_history ? k : 0) * (size_t)nu + (size_t)u) * U__COUNT;
            if (uv[0] < 0)
                continue;
            s = E->ops->user_metrics_put(E->st, D, E->users[a->user_lo + u].id, sl->id, uv,
                                         U__COUNT);
            E->stats->user_rows++;
            E->day_users[k]++;
        }
    }
    return s;
}

/* Grows the slot's buffers for its account. */
static cw_status slot_prepare(const engine *E, slot *sl)
{
    const m_account *a = &E->acc[sl->id];
    int64_t nu = a->user_hi - a->user_lo;
    int64_t ntk = a->tk_hi - a->tk_lo;
    if (nu + 1 > sl->users_cap || ntk > 4096) {
        int64_t c = nu + 1 > sl->users_cap ? (nu + 1) * 2 : sl->users_cap;
        user_state *us = realloc(sl->us, sizeof *us * (size_t)c);
        if (us)
            sl->us = us;
        /* scratch: per-user event counts, then closed-ticket durations */
        double *sc = realloc(sl->scratch, sizeof *sc * ((size_t)c * (U__COUNT + 1) +
                                                        (size_t)(ntk > 4096 ? ntk : 4096)));
        if (sc)
            sl->scratch = sc;
        if (!us || !sc)
            return CW_ERR_NOMEM;
        sl->users_cap = c;
    }
    if (2 * (sl->nud + 1) > sl->cum_cap) {
        int64_t c = (sl->nud + 1) * 4;
        int64_t *cum = realloc(sl->cum, sizeof *cum * (size_t)c);
        if (!cum)
            return CW_ERR_NOMEM;
        sl->cum = cum, sl->cum_cap = c;
    }
    int64_t need = (E->o->user_history ? E->ndays : 1) * (nu ? nu : 1) * U__COUNT;
    if (need > sl->uvals_cap) {
        double *uv = realloc(sl->uvals, sizeof *uv * (size_t)need * 2);
        if (!uv)
            return CW_ERR_NOMEM;
        sl->uvals = uv, sl->uvals_cap = need * 2;
    }
    return CW_OK;
}

/* A scanner reads one range of accounts' event days through its own
 * database connection, lays each account out in a slot and computes it, then
 * hands the slot to the writer (the main thread, the only one that writes)
 * and fills its other slot meanwhile. With one thread there is a single
 * scanner on the main connection and slots are written as they finish. */
typedef struct scanner {
    engine *E;
    cw_store *rst; /* own read connection; NULL: the main one */
    int64_t lo, hi, next;
    slot slots[2];
    slot *cur;
    int64_t days_read, events_read;
    pthread_t thread;
    int started;
    cw_status status;
} scanner;

typedef struct handoff {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot *ready[8];
    int nready;
    int running; /* scanners still scanning */
    int abort;   /* the writer failed: scanners stop */
} handoff;

/* The current account of sc is complete: compute it and deliver it. */
static cw_status finish_account(scanner *sc, int64_t id)
{
    engine *E = sc->E;
    slot *sl = sc->cur;
    if (id < 1 || id > E->nacc || !E->acc[id].ext) {
        slot_reset(sl);
        return CW_OK;
    }
    sl->id = id;
    cw_status s = slot_prepare(E, sl);
    if (s != CW_OK)
        return s;
    sl->status = compute_account(E, sl);
    if (!E->threaded) {
        s = sl->status == CW_OK ? write_account(E, sl) : sl->status;
        slot_reset(sl);
        E->accounts_done++;
        return s;
    }
    handoff *ho = E->ho;
    slot *other = sl == &sc->slots[0] ? &sc->slots[1] : &sc->slots[0];
    pthread_mutex_lock(&ho->mu);
    sl->in_use = 1;
    ho->ready[ho->nready++] = sl;
    pthread_cond_broadcast(&ho->cv);
    while (other->in_use && !ho->abort)
        pthread_cond_wait(&ho->cv, &ho->mu);
    int abort = ho->abort;
    pthread_mutex_unlock(&ho->mu);
    if (abort)
        return CW_ERR_DB;
    slot_reset(other);
    sc->cur = other;
    return CW_OK;
}

/* Index of user id among the account's users (sorted by id), or -1. */
static int64_t local_user(const engine *E, const m_account *a, int64_t user)
{
    int64_t lo = a->user_lo, hi = a->user_hi;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (E->users[mid].id < user)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < a->user_hi && E->users[lo].id == user ? lo - a->user_lo : -1;
}

static void progress(engine *E, const char *phase, int64_t done, int64_t total, int force)
{
    if (!E->o->on_progress)
        return;
    double now = cw_now();
    if (!force && now - E->last_progress < 0.25)
        return;
    E->last_progress = now;
    E->o->on_progress(phase, done, total, now - E->t0, E->o->ud);
}

static cw_status on_event_day(int64_t account, int64_t day, const cw_event_cell *cells, size_t n,
                              void *ud)
{
    scanner *sc = ud;
    engine *E = sc->E;
    cw_status s;
    while (sc->next < account) {
        if ((s = finish_account(sc, sc->next)) != CW_OK)
            return s;
        sc->next++;
        if (!E->threaded)
            progress(E, "accounts", sc->next - 1, E->nacc, 0);
    }
    if (account > E->nacc || !E->acc[account].ext)
        return CW_OK;
    sc->days_read++;
    const m_account *a = &E->acc[account];
    slot *sl = sc->cur;
    const ev_info *evs = E->ev;
    const int64_t nev = E->nev;
    int64_t events = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        struct uday *r = push((void **)&sl->ud, &sl->nud, &sl->ud_cap, sizeof *sl->ud);
        if (!r)
            return CW_ERR_NOMEM;
        /* users of an account usually have consecutive ids: try the direct
         * offset before the binary search */
        int64_t u = cells[i].user, lu = -1;
        if (u) {
            int64_t guess = u - (a->user_hi > a->user_lo ? E->users[a->user_lo].id : 0);
            lu = guess >= 0 && guess < a->user_hi - a->user_lo &&
                         E->users[a->user_lo + guess].id == u
                     ? guess
                     : local_user(E, a, u);
        }
        *r = (struct uday){(int32_t)lu, (int32_t)day, 0, 0, 0, 0};
        for (; j < n && cells[j].user == u; j++) {
            const cw_event_cell *c = &cells[j];
            r->n += (int32_t)c->n;
            events += c->n;
            if (sl->cm) {
                cw_status s2 = cw_cm_add_cell(sl->cm, day, r->user, c->event, c->n, c->vsum);
                if (s2 != CW_OK)
                    return s2;
            }
            if (c->event < 0 || c->event >= nev)
                continue;
            const ev_info *e = &evs[c->event];
            if (e->feature >= 0) {
                r->fmask |= 1ull << e->feature;
                r->nfeat += (int32_t)c->n;
                r->nadv += e->advanced ? (int32_t)c->n : 0;
            }
            if (e->milestone >= 0 && sl->ms_first[e->milestone] == TS_NEVER)
                sl->ms_first[e->milestone] = day;
            if (e->first_value && sl->fv_first == TS_NEVER)
                sl->fv_first = day;
        }
        i = j;
    }
    sc->events_read += events;
    return CW_OK;
}

/* ---- pass 2: peer percentiles ------------------------------------------ */

typedef struct peer_row {
    int64_t account;
    int group;
    double v[M__COUNT + CW_MAX_CUSTOM + MAX_MILESTONES];
} peer_row;

typedef struct peer_ctx {
    engine *E;
    peer_row *rows;
    int64_t n, cap;
} peer_ctx;

static int tenure_band(double tenure)
{
    static const double edges[] = {30, 90, 180, 365, 730};
    int b = 0;
    while (b < 5 && tenure >= edges[b])
        b++;
    return b;
}

static cw_status collect_peer(int64_t day, int64_t account, const double *vals, const double *trend,
                              const double *peers, int n, void *ud)
{
    (void)day, (void)trend, (void)peers;
    peer_ctx *pc = ud;
    peer_row *r = push((void **)&pc->rows, &pc->n, &pc->cap, sizeof *pc->rows);
    if (!r)
        return CW_ERR_NOMEM;
    r->account = account;
    for (int m = 0; m < pc->E->nm; m++)
        r->v[m] = m < n ? vals[m] : NA;
    int seg = account <= pc->E->nacc ? pc->E->acc[account].segment : 0;
    r->group = seg * 8 + tenure_band(r->v[M_TENURE_DAYS]);
    return CW_OK;
}

static int peer_group_cmp(const void *a, const void *b)
{
    const peer_row *x = a, *y = b;
    return x->group != y->group ? CMP(x->group, y->group) : CMP(x->account, y->account);
}

static cw_status peers_for_day(engine *E, int64_t day)
{
    peer_ctx pc = {E, NULL, 0, 0};
    cw_status s = E->ops->account_metrics_day(E->st, day, collect_peer, &pc);
    if (s != CW_OK) {
        free(pc.rows);
        return s;
    }
    sort(pc.rows, pc.n, sizeof *pc.rows, peer_group_cmp);
    /* Percentile rank within the group: (below + half of equal) / n, from
     * each metric's sorted column (two binary searches per value). */
    double *col = malloc(sizeof *col * (size_t)(pc.n ? pc.n : 1));
    const int nm = E->nm;
    double *pct = malloc(sizeof *pct * (size_t)(pc.n ? pc.n : 1) * (size_t)nm);
    for (int64_t i = 0; col && pct && i < pc.n && s == CW_OK;) {
        int64_t j = i;
        while (j < pc.n && pc.rows[j].group == pc.rows[i].group)
            j++;
        for (int m = 0; m < nm; m++) {
            int64_t cnt = 0;
            for (int64_t r = i; r < j; r++)
                if (!isnan(pc.rows[r].v[m]))
                    col[cnt++] = pc.rows[r].v[m];
            sort(col, cnt, sizeof *col, dcmp);
            for (int64_t r = i; r < j; r++) {
                double x = pc.rows[r].v[m];
                if (isnan(x)) {
                    pct[(r - i) * nm + m] = NA;
                    continue;
                }
                int64_t lo = 0, hi = cnt;
                while (lo < hi) {
                    int64_t mid = (lo + hi) / 2;
                    if (col[mid] < x)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                int64_t below = lo;
                hi = cnt;
                while (lo < hi) {
                    int64_t mid = (lo + hi) / 2;
                    if (col[mid] <= x)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                pct[(r - i) * nm + m] =
                    100.0 * ((double)below + 0.5 * (double)(lo - below)) / (double)cnt;
            }
        }
        for (int64_t r = i; r < j && s == CW_OK; r++)
            s = E->ops->account_peers_put(E->st, day, pc.rows[r].account, pct + (r - i) * nm, nm);
        i = j;
    }
    if ((!col || !pct) && s == CW_OK)
        s = cw_store_set_error(E->st, CW_ERR_NOMEM, "metrics: out of memory ranking peers");
    free(pct);
    free(col);
    free(pc.rows);
    return s;
}

/* ---- run ------------------------------------------------------------------ */

/* Sets up scanner k over accounts [lo, hi]: its slots and custom-metric
 * states. */
static cw_status scanner_init(engine *E, scanner *sc, int64_t lo, int64_t hi)
{
    memset(sc, 0, sizeof *sc);
    sc->E = E;
    sc->lo = lo;
    sc->hi = hi;
    sc->next = lo;
    for (int i = 0; i < 2; i++) {
        slot *sl = &sc->slots[i];
        sl->owner = sc;
        if (E->o->ncustom) {
            cw_status s =
                cw_cm_init(&sl->cm, E->o->custom, E->o->ncustom, E->event_ids, E->nev, E->window);
            if (s != CW_OK)
                return s;
        }
        slot_reset(sl);
        sl->vals = malloc(sizeof *sl->vals * (size_t)E->ndays * (size_t)E->nm);
        sl->trend = malloc(sizeof *sl->trend * (size_t)E->ndays * (size_t)E->nm);
        if (!sl->vals || !sl->trend)
            return cw_store_set_error(E->st, CW_ERR_NOMEM,
                                      "metrics: out of memory starting a scanner");
    }
    sc->cur = &sc->slots[0];
    return CW_OK;
}

/* Reads the scanner's range and finishes every account in it (also those
 * without events). */
static cw_status scanner_run(scanner *sc)
{
    engine *E = sc->E;
    cw_store *db = sc->rst ? sc->rst : E->st;
    cw_status s = cw_store_get_ops(db)->scan_event_days(db, sc->lo, sc->hi, on_event_day, sc);
    while (s == CW_OK && sc->next <= sc->hi) {
        s = finish_account(sc, sc->next);
        sc->next++;
    }
    return s;
}

static void *scanner_main(void *arg)
{
    scanner *sc = arg;
    sc->status = scanner_run(sc);
    handoff *ho = sc->E->ho;
    pthread_mutex_lock(&ho->mu);
    ho->running--;
    if (sc->status != CW_OK)
        ho->abort = 1;
    pthread_cond_broadcast(&ho->cv);
    pthread_mutex_unlock(&ho->mu);
    return NULL;
}

/* Pass 1. With two threads, two scanners read halves of the accounts
 * (balanced by users) on their own connections and compute, while this
 * thread writes what they finish; with one, a single scanner does all
 * three in turn. */
static cw_status scan_all(engine *E)
{
    int threads = E->o->threads;
    if (threads <= 0)
        threads = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1;
    int64_t split = E->nacc;
    if (threads > 1 && E->nacc > 1) {
        /* the account where half the users have been seen */
        int64_t half = E->nusers / 2, seen = 0;
        for (int64_t id = 1; id <= E->nacc; id++) {
            seen += E->acc[id].user_hi - E->acc[id].user_lo;
            if (seen >= half) {
                split = id;
                break;
            }
        }
        if (split >= E->nacc)
            split = E->nacc - 1;
    }
    E->nscanners = threads > 1 && E->nacc > 1 ? 2 : 1;
    E->scanners = calloc((size_t)E->nscanners, sizeof *E->scanners);
    if (!E->scanners)
        return cw_store_set_error(E->st, CW_ERR_NOMEM,
                                  "metrics: out of memory scanning event days");
    cw_status s = CW_OK;
    for (int k = 0; k < E->nscanners && s == CW_OK; k++)
        s = scanner_init(E, &E->scanners[k], k == 0 ? 1 : split + 1,
                         E->nscanners == 1 || k == 1 ? E->nacc : split);
    /* each reader thread needs its own connection; without one, run alone */
    for (int k = 0; k < E->nscanners && s == CW_OK; k++)
        if (E->ops->open_reader(E->st, &E->scanners[k].rst) != CW_OK) {
            for (int j = 0; j < E->nscanners; j++) {
                cw_store_close(E->scanners[j].rst);
                E->scanners[j].rst = NULL;
                for (int i = 0; j > 0 && i < 2; i++)
                    slot_free(&E->scanners[j].slots[i]);
            }
            E->scanners[0].hi = E->nacc;
            E->nscanners = 1;
            break;
        }
    E->threaded = E->nscanners > 1;
    if (s == CW_OK && !E->threaded)
        s = scanner_run(&E->scanners[0]);
    if (s == CW_OK && E->threaded) {
        handoff *ho = E->ho;
        if (pthread_mutex_init(&ho->mu, NULL) != 0)
            return cw_store_set_error(E->st, CW_ERR_NOMEM,
                                      "metrics: out of memory scanning event days");
        pthread_cond_init(&ho->cv, NULL);
        for (int k = 0; k < E->nscanners; k++) {
            scanner *sc = &E->scanners[k];
            pthread_mutex_lock(&ho->mu);
            ho->running++;
            pthread_mutex_unlock(&ho->mu);
            if (pthread_create(&sc->thread, NULL, scanner_main, sc) != 0) {
                pthread_mutex_lock(&ho->mu);
                ho->running--;
                ho->abort = 1;
                pthread_mutex_unlock(&ho->mu);
                s = cw_store_set_error(E->st, CW_ERR_NOMEM,
                                       "metrics: out of memory scanning event days");
                break;
            }
            sc->started = 1;
        }
        /* the writer: everything SQLite writes happens here */
        pthread_mutex_lock(&ho->mu);
        while (ho->running > 0 || ho->nready > 0) {
            if (ho->nready == 0) {
                pthread_cond_wait(&ho->cv, &ho->mu);
                continue;
            }
            slot *sl = ho->ready[0];
            memmove(ho->ready, ho->ready + 1, sizeof *ho->ready * (size_t)--ho->nready);
            pthread_mutex_unlock(&ho->mu);
            cw_status ws = CW_OK;
            if (s == CW_OK && !ho->abort)
                ws = sl->status == CW_OK ? write_account(E, sl) : sl->status;
            E->accounts_done++;
            progress(E, "accounts", E->accounts_done, E->nacc, 0);
            pthread_mutex_lock(&ho->mu);
            sl->in_use = 0;
            if (ws != CW_OK && s == CW_OK) {
                s = ws;
                ho->abort = 1;
            }
            pthread_cond_broadcast(&ho->cv);
        }
        pthread_mutex_unlock(&ho->mu);
        for (int k = 0; k < E->nscanners; k++)
            if (E->scanners[k].started) {
                pthread_join(E->scanners[k].thread, NULL);
                /* a scanner's message is on its own connection */
                const char *m = cw_store_errmsg(E->scanners[k].rst);
                if (s == CW_OK && E->scanners[k].status != CW_OK)
                    s = *m ? cw_store_set_error(E->st, E->scanners[k].status, "%s", m)
                           : E->scanners[k].status;
            }
        pthread_cond_destroy(&ho->cv);
        pthread_mutex_destroy(&ho->mu);
    }
    for (int k = 0; k < E->nscanners; k++) {
        E->stats->account_days_read += E->scanners[k].days_read;
        E->stats->events_read += E->scanners[k].events_read;
    }
    return s;
}

void cw_metrics_opts_init(cw_metrics_opts *o)
{
    memset(o, 0, sizeof *o);
    o->window_days = 28;
}

static void engine_free(engine *E)
{
    for (int k = 0; E->scanners && k < E->nscanners; k++) {
        cw_store_close(E->scanners[k].rst);
        for (int i = 0; i < 2; i++)
            slot_free(&E->scanners[k].slots[i]);
    }
    free(E->scanners);
    free(E->ho);
    cw_intern_free(E->event_ids);
    for (int64_t i = 1; i <= E->nacc; i++)
        free((void *)E->acc[i].ext);
    free(E->acc);
    free(E->subs);
    free(E->users);
    free(E->tickets);
    free(E->surveys);
    free(E->trainings);
    free(E->goals);
    free(E->measures);
    free(E->ev);
    free(E->days);
    free(E->base_stored);
    cw_intern_free(E->segments);
    cw_intern_free(E->depts);
    cw_intern_free(E->goal_ids);
    cw_intern_free(E->feature_names);
    for (int64_t i = 0; i < E->nfnames; i++)
        free(E->fnames[i]);
    free(E->fnames);
    free(E->day_accounts);
    free(E->day_users);
    cw_intern_free(E->milestone_names);
    for (int m = 0; m < MAX_MILESTONES; m++)
        free(E->ms_names[m]);
}

static int goal_acc_cmp(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return CMP(x[0], y[0]) ? CMP(x[0], y[0]) : CMP(x[1], y[1]);
}

/* Pass 2 over every snapshot computed. */
static cw_status peers_all(engine *E)
{
    double tp = cw_now();
    /* The peers pass reads the rows just written, one day at a time. */
    cw_status s = E->ops->analyze(E->st, "account_metrics");
    for (int k = 0; k < E->ndays && s == CW_OK; k++) {
        s = peers_for_day(E, E->days[k]);
        progress(E, "peers", k + 1, E->ndays, 0);
    }
    E->stats->peers_s = cw_now() - tp;
    return s;
}

/* Which snapshots' trend base (day - 28) must be read back from the store:
 * those not computed in this run whose day has a stored snapshot. A
 * snapshot's account rows are written and deleted with its
 * metric_snapshots row, in one transaction, so where day - 28 has none
 * there is nothing to read, and no lookup per account (a round trip each on
 * PostgreSQL) is made. */
static cw_status trend_bases(engine *E)
{
    if (!(E->base_stored = calloc((size_t)E->ndays, 1)))
        return cw_store_set_error(E->st, CW_ERR_NOMEM, "metrics: out of memory");
    for (int k = 0, j = 0; k < E->ndays; k++) {
        int64_t base = E->days[k] - 28;
        while (j < E->ndays && E->days[j] < base)
            j++;
        int exists = 0;
        cw_status s;
        if ((j == E->ndays || E->days[j] != base) &&
            (s = E->ops->snapshot_exists(E->st, base, &exists)) != CW_OK)
            return s;
        E->base_stored[k] = (unsigned char)exists;
    }
    return CW_OK;
}

cw_status cw_metrics_run(cw_store *st, const cw_metrics_opts *o, cw_metrics_stats *stats)
{
    cw_store_enter(st, "metrics");
    memset(stats, 0, sizeof *stats);
    int every = o->every_days > 0 ? o->every_days : 1;
    int64_t to = o->every_days > 0 ? o->to_day : o->from_day;
    if (to < o->from_day)
        return cw_store_set_error(st, CW_ERR_USAGE, "snapshot range ends before it starts");
    int64_t ndays = (to - o->from_day) / every + 1;
    if (ndays > 100000)
        return cw_store_set_error(st, CW_ERR_USAGE, "too many snapshots (%lld)", (long long)ndays);
    engine E;
    memset(&E, 0, sizeof E);
    E.st = st;
    E.ops = cw_store_get_ops(st);
    E.o = o;
    E.stats = stats;
    E.window = o->window_days > 0 ? o->window_days : 28;
    E.nm = M__COUNT + (o->ncustom > 0 && o->custom ? o->ncustom : 0);
    if (o->ncustom > CW_MAX_CUSTOM)
        return cw_store_set_error(st, CW_ERR_USAGE, "too many custom metrics");
    E.t0 = cw_now();
    int64_t *goal_order = NULL;
    cw_status s = CW_OK;
    E.segments = cw_intern_new();
    E.depts = cw_intern_new();
    E.goal_ids = cw_intern_new();
    E.feature_names = cw_intern_new();
    E.milestone_names = cw_intern_new();
    E.days = malloc(sizeof *E.days * (size_t)ndays);
    E.day_accounts = calloc((size_t)ndays, sizeof *E.day_accounts);
    E.day_users = calloc((size_t)ndays, sizeof *E.day_users);
    E.ho = calloc(1, sizeof *E.ho);
    if (!E.segments || !E.depts || !E.goal_ids || !E.feature_names || !E.milestone_names ||
        !E.days || !E.day_accounts || !E.day_users || !E.ho) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "metrics: out of memory");
        goto done;
    }
    if ((s = E.ops->begin(st)) != CW_OK)
        goto done;
    for (int64_t d = o->from_day; d <= to; d += every) {
        int exists = 0;
        if ((s = E.ops->snapshot_exists(st, d, &exists)) != CW_OK)
            goto done;
        if (exists && !o->recompute) {
            stats->snapshots_skipped++;
            continue;
        }
        /* Also when absent: the store then knows the day's rows are all
         * new and writes them in bulk (COPY on PostgreSQL). */
        if ((s = E.ops->snapshot_delete(st, d)) != CW_OK)
            goto done;
        E.days[E.ndays++] = d;
    }
    if (E.ndays == 0) {
        s = E.ops->commit(st);
        goto done;
    }
    E.user_day = o->user_history ? -1 : E.days[E.ndays - 1];
    if ((s = trend_bases(&E)) != CW_OK)
        goto done;
    if ((s = load_all(&E)) != CW_OK)
        goto done;
    /* The vector: built-ins, custom metrics, then days to each milestone of
     * the feature catalogue (data-dependent, so named in the catalog). */
    E.ms_base = E.nm;
    E.nm += E.nmilestones;
    /* Group goals by account (goals were loaded in goal_id order). */
    goal_order = malloc(sizeof *goal_order * 2 * (size_t)(E.ngoals ? E.ngoals : 1));
    if (!goal_order) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "metrics: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < E.ngoals; i++)
        goal_order[2 * i] = E.goals[i].account, goal_order[2 * i + 1] = i;
    sort(goal_order, E.ngoals, 2 * sizeof *goal_order, goal_acc_cmp);
    {
        /* Reorder goals by account so each account has a contiguous range. */
        m_goal *sorted = malloc(sizeof *sorted * (size_t)(E.ngoals ? E.ngoals : 1));
        if (!sorted) {
            s = cw_store_set_error(st, CW_ERR_NOMEM, "metrics: out of memory");
            goto done;
        }
        for (int64_t i = 0; i < E.ngoals; i++)
            sorted[i] = E.goals[goal_order[2 * i + 1]];
        free(E.goals);
        E.goals = sorted;
    }
    stats->load_s = cw_now() - E.t0;
    RANGES(&E, goals, ngoals, g_lo, g_hi);
    if ((s = scan_all(&E)) != CW_OK)
        goto done;
    stats->compute_s = cw_now() - E.t0 - stats->load_s;
    if ((s = peers_all(&E)) != CW_OK)
        goto done;
    char catalog[16384];
    size_t cl = 0;
    for (int m = 0; m < E.nm && cl < sizeof catalog; m++)
        cl += m < E.ms_base
                  ? (size_t)snprintf(catalog + cl, sizeof catalog - cl, "%s%s", m ? "," : "",
                                     m < M__COUNT ? cw_metric_catalog[m].name
                                                  : o->custom[m - M__COUNT].name)
                  : (size_t)snprintf(catalog + cl, sizeof catalog - cl, ",days_to_milestone:%s",
                                     E.ms_names[m - E.ms_base] ? E.ms_names[m - E.ms_base] : "?");
    for (int k = 0; k < E.ndays && s == CW_OK; k++)
        s = E.ops->snapshot_put(st, E.days[k], E.window, catalog, E.day_accounts[k],
                                E.day_users[k]);
    /* For what reads the snapshots next (score, the API). */
    if (s == CW_OK)
        s = E.ops->analyze(st, "account_peers, user_metrics");
    if (s == CW_OK)
        s = E.ops->commit(st);
    if (s == CW_OK)
        stats->snapshots_computed = E.ndays;
done:
    if (s != CW_OK)
        E.ops->rollback(st);
    stats->elapsed_s = cw_now() - E.t0;
    free(goal_order);
    engine_free(&E);
    return s;
}
