/*
 * sim.c — the simulator: writes a deterministic, realistic SaaS world in the
 * documented input formats, so that ingest, scoring and the dashboard can be
 * exercised end to end and the early-warning signals checked against a known
 * truth.
 *
 * Every account gets one hidden churn driver (healthy, poor onboarding,
 * unused licences, narrow usage, falling engagement, late introductory
 * tickets, detractor, outcome behind, or a natural cause no metric predicts).
 * The driver changes the account's behaviour — users provisioned, activity,
 * feature adoption, milestones, trainings, tickets, survey answers, goal
 * progress — and its churn hazard at renewals; ground_truth.csv records it.
 * docs/simulator.md describes the world for people.
 *
 * Generation streams account by account: each account's randomness comes
 * from (seed, account index) through splitmix64/xoshiro256**, its whole life
 * is simulated day by day, and its rows are appended to every output file
 * through large private buffers. Memory is bounded by the largest account's
 * users, never by the number of events. Output is a pure function of the
 * options: the same seed gives byte-identical files.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "churnwatch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <zlib.h>

#define NO_DAY     INT64_MAX
#define DAY_S      86400
#define ROW_MAX    9216 /* room reserved per row: a 4000-byte comment quoted, plus the rest */
#define EVENTS_BUF ((size_t)1 << 20)
#define OTHER_BUF  ((size_t)1 << 17)

/* ---------------------------------------------------------------------
 * Civil time (self-contained: the simulator does not depend on time.c)
 * ------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t civ_days(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of civ_days. */
static void civ_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned month_len(int64_t y, unsigned m)
{
    static const unsigned len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : len[m - 1];
}

/* day plus n calendar months, the day of month clamped to the month's end
 * (Jan 31 + 1 month = Feb 28/29): how billing anniversaries work. */
static int64_t add_months(int64_t day, int64_t n)
{
    int64_t y;
    unsigned m, d;
    civ_from_days(day, &y, &m, &d);
    int64_t mi = y * 12 + (int64_t)(m - 1) + n;
    int64_t ny = mi >= 0 ? mi / 12 : (mi - 11) / 12;
    unsigned nm = (unsigned)(mi - ny * 12) + 1;
    unsigned ml = month_len(ny, nm);
    return civ_days(ny, nm, d > ml ? ml : d);
}

/* 0 = Sunday … 6 = Saturday (1970-01-01 was a Thursday). */
static int weekday(int64_t day)
{
    int64_t w = (day + 4) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

/* ---------------------------------------------------------------------
 * Random numbers: splitmix64 seeds xoshiro256**
 * ------------------------------------------------------------------- */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Seeds r from (seed, account, stream): every account, and every stream of
 * an account, draws independently of all the others, so an account's data
 * does not depend on how many accounts come before it. */
static void rng_init(rng *r, uint64_t seed, uint64_t account, uint64_t stream)
{
    uint64_t x = seed;
    uint64_t h = splitmix64(&x);
    x = h ^ (account * 0xd1342543de82ef95ULL + 0x632be59bd9b4e019ULL);
    h = splitmix64(&x);
    x = h ^ (stream * 0xbf58476d1ce4e5b9ULL + 0x2545f4914f6cdd1dULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_u64(rng *r)
{
    uint64_t *s = r->s;
    const uint64_t result = rotl64(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static inline double rng_unif(rng *r)
{
    return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

static inline int rng_chance(rng *r, double p)
{
    return rng_unif(r) < p;
}

/* Uniform integer in [lo, hi]; hi >= lo. */
static inline int64_t rng_range(rng *r, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    if (span <= 0xffffffffULL)
        return lo + (int64_t)(((rng_u64(r) >> 32) * span) >> 32);
    return lo + (int64_t)(rng_u64(r) % span);
}

static inline double rng_between(rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_unif(r);
}

/* Roughly standard normal (Irwin–Hall with four terms): no libm needed. */
static double rng_normal(rng *r)
{
    return (rng_unif(r) + rng_unif(r) + rng_unif(r) + rng_unif(r) - 2.0) * 1.7320508075688772;
}

/* Index drawn from weights w[0..n). */
static int rng_pick(rng *r, const int *w, int n)
{
    int total = 0;
    for (int i = 0; i < n; i++)
        total += w[i];
    int x = (int)rng_range(r, 0, total - 1);
    for (int i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}

/* 1 + the number of further successes with continuation probability q, at most cap. */
static inline int rng_geom(rng *r, double q, int cap)
{
    int n = 1;
    while (n < cap && rng_unif(r) < q)
        n++;
    return n;
}

static inline double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---------------------------------------------------------------------
 * The world's constants
 * ------------------------------------------------------------------- */

enum {
    DRV_NONE,
    DRV_POOR_ONBOARDING,
    DRV_UNUSED_LICENCES,
    DRV_NARROW_USAGE,
    DRV_FALLING_ENGAGEMENT,
    DRV_LATE_INTRO_TICKETS,
    DRV_DETRACTOR,
    DRV_OUTCOME_BEHIND,
    DRV_OUT_OF_BUSINESS,
    DRV_OUTGREW,
    DRV_STAFF_CHANGE,
    DRV__COUNT
};

static const char *const driver_names[DRV__COUNT] = {
    "none",         "poor_onboarding",    "unused_licences",
    "narrow_usage", "falling_engagement", "late_intro_tickets",
    "detractor",    "outcome_behind",     "out_of_business",
    "outgrew",      "staff_change",
};
/* Share of accounts (percent) per driver: half healthy, ~40% behavioural, ~10% natural. */
static const int driver_weight[DRV__COUNT] = {50, 6, 6, 6, 6, 5, 5, 6, 4, 3, 3};
/* Monthly churn hazard at renewals once a behavioural driver has shown for
 * DRIVER_LAG_DAYS; everyone else uses BASE_HAZARD (about 7.5% a year). */
static const double driver_hazard[DRV__COUNT] = {0,    0.24, 0.18, 0.18, 0.30, 0.20,
                                                 0.30, 0.20, 0,    0,    0};
#define BASE_HAZARD     0.0065
#define DRIVER_LAG_DAYS 30
/* product_events: share of accounts that stop getting value from insights,
 * the chance a user's session pins or dismisses one, and the monthly churn
 * hazard at renewals once that has lasted DRIVER_LAG_DAYS. */
#define PV_LOST_SHARE   0.20
#define PV_EVENT_P      0.5
#define PV_HAZARD       0.20

static int is_natural(int drv)
{
    return drv >= DRV_OUT_OF_BUSINESS;
}

typedef struct seg_def {
    const char *name;
    int seats_lo, seats_hi, seats_cap;
    int64_t list_cents; /* list price per seat per month */
    int disc_lo, disc_hi;
    double p_annual, p_existing;
    const char *plan;
    int depts_lo, depts_hi;
} seg_def;

static const seg_def segs[3] = {
    {"smb", 3, 15, 40, 2500, 0, 5, 0.12, 0.45, "Team", 1, 2},
    {"mid", 15, 80, 200, 4000, 0, 15, 0.50, 0.50, "Business", 2, 4},
    {"enterprise", 80, 400, 1500, 6000, 10, 30, 0.95, 0.65, "Enterprise", 4, 8},
};

/* The product's events. Order = features.csv order (login last). */
enum {
    EV_WORKSPACE_SETUP,
    EV_USER_INVITE,
    EV_DASHBOARD_VIEW,
    EV_DASHBOARD_CREATE,
    EV_REPORT_VIEW,
    EV_REPORT_CREATE,
    EV_REPORT_EXPORT,
    EV_DATA_IMPORT,
    EV_SEARCH,
    EV_COMMENT_ADD,
    EV_SHARE_LINK,
    EV_INTEGRATION_CONNECT,
    EV_INTEGRATION_SYNC,
    EV_ALERT_CREATE,
    EV_WORKFLOW_CREATE,
    EV_WORKFLOW_RUN,
    EV_API_CALL,
    EV_FORECAST_RUN,
    EV_SEGMENT_CREATE,
    EV_LOGIN,
    EV__COUNT
};

typedef struct ev_def {
    const char *name, *feature;
    int advanced;
    const char *milestone;
    int due_day; /* -1 = none */
    int first_value;
} ev_def;

static const ev_def evdefs[EV__COUNT] = {
    {"workspace_setup", "Setup", 0, "setup_done", 7, 0},
    {"user_invite", "Team", 0, "team_invited", 14, 0},
    {"dashboard_view", "Dashboards", 0, NULL, -1, 0},
    {"dashboard_create", "Dashboards", 0, NULL, -1, 0},
    {"report_view", "Reports", 0, NULL, -1, 0},
    {"report_create", "Reports", 0, "first_report", 30, 1},
    {"report_export", "Reports", 0, NULL, -1, 0},
    {"data_import", "Data import", 0, NULL, -1, 0},
    {"search", "Search", 0, NULL, -1, 0},
    {"comment_add", "Collaboration", 0, NULL, -1, 0},
    {"share_link", "Collaboration", 0, NULL, -1, 0},
    {"integration_connect", "Integrations", 1, "integration_connected", 60, 0},
    {"integration_sync", "Integrations", 1, NULL, -1, 0},
    {"alert_create", "Alerts", 1, NULL, -1, 0},
    {"workflow_create", "Automation", 1, NULL, -1, 0},
    {"workflow_run", "Automation", 1, NULL, -1, 0},
    {"api_call", "API", 1, NULL, -1, 0},
    {"forecast_run", "Predictive analytics", 1, NULL, -1, 0},
    {"segment_create", "Predictive analytics", 1, NULL, -1, 0},
    {"login", "Login", 0, NULL, -1, 0},
};

/* What a user does on an active day, by weight. */
typedef struct ev_weight {
    int ev, w;
} ev_weight;
static const ev_weight basic_mix[] = {
    {EV_DASHBOARD_VIEW, 30}, {EV_REPORT_VIEW, 24},     {EV_SEARCH, 12},
    {EV_REPORT_CREATE, 6},   {EV_DASHBOARD_CREATE, 3}, {EV_REPORT_EXPORT, 7},
    {EV_DATA_IMPORT, 2},     {EV_COMMENT_ADD, 9},      {EV_SHARE_LINK, 5},
};
static const ev_weight viewer_mix[] = {
    {EV_DASHBOARD_VIEW, 40}, {EV_REPORT_VIEW, 35},  {EV_SEARCH, 12},
    {EV_COMMENT_ADD, 8},     {EV_REPORT_EXPORT, 5},
};
static const ev_weight advanced_mix[] = {
    {EV_ALERT_CREATE, 3}, {EV_WORKFLOW_CREATE, 1}, {EV_WORKFLOW_RUN, 5},
    {EV_API_CALL, 4},     {EV_FORECAST_RUN, 4},    {EV_SEGMENT_CREATE, 3},
};
#define NMIX(a) ((int)(sizeof a / sizeof a[0]))

/* Onboarding milestones; index into sim_acct.ms_day. */
enum { MS_SETUP, MS_TEAM, MS_REPORT, MS_INTEGRATION, MS__COUNT };

enum { ROLE_ADMIN, ROLE_MANAGER, ROLE_ANALYST, ROLE_EDITOR, ROLE_VIEWER, ROLE__COUNT };
static const char *const role_names[ROLE__COUNT] = {"admin", "manager", "analyst", "editor",
                                                    "viewer"};
static const double role_active[ROLE__COUNT] = {0.65, 0.42, 0.60, 0.45, 0.22};
static const double role_more[ROLE__COUNT] = {0.52, 0.42, 0.56, 0.48, 0.30};
static const double role_adv[ROLE__COUNT] = {0.30, 0.12, 0.35, 0.18, 0.03};

#define NDEPTS 8
static const char *const dept_names[NDEPTS] = {
    "Sales",   "Marketing",   "Finance", "Operations", "Customer Support",
    "Product", "Engineering", "HR"};

#define NFIRST 30
#define NLAST  30
static const char *const first_names[NFIRST] = {
    "alex",  "sam",   "maria", "john",  "li",  "fatima", "noah", "emma", "olivia", "liam",
    "ava",   "lucas", "mia",   "ethan", "zoe", "omar",   "yuki", "ines", "pavel",  "chloe",
    "diego", "hana",  "ivan",  "sara",  "tom", "nina",   "raj",  "leah", "ben",    "amara"};
static const char *const last_names[NLAST] = {
    "smith",   "garcia", "mueller", "rossi", "kim",    "nguyen",   "patel",  "silva",
    "cohen",   "novak",  "jones",   "brown", "dubois", "tanaka",   "berg",   "larsen",
    "okafor",  "haddad", "moreau",  "ricci", "walsh",  "kowalski", "santos", "evans",
    "fischer", "ali",    "costa",   "young", "hill",   "price"};

#define NWORDS 24
static const char *const company_words[NWORDS] = {
    "Acme",     "Globex",   "Initech",   "Umbrella", "Stark",    "Wayne",   "Hooli",     "Vandelay",
    "Soylent",  "Tyrell",   "Cyberdyne", "Wonka",    "Nakatomi", "Oceanic", "Northwind", "Contoso",
    "Fabrikam", "Blue Sky", "Redwood",   "Pinnacle", "Quantum",  "Summit",  "Harbor",    "Atlas"};

typedef struct course_def {
    const char *name;
    double p;   /* completion probability for a healthy account's user */
    int lo, hi; /* days after provisioning */
    int admin_only;
} course_def;
#define NCOURSES 7
static const course_def courses[NCOURSES] = {
    {"Getting started", 0.60, 2, 30, 0},           {"Dashboards 101", 0.35, 7, 60, 0},
    {"Reports essentials", 0.35, 14, 90, 0},       {"Admin certification", 0.50, 20, 120, 1},
    {"Integrations deep dive", 0.15, 30, 180, 0},  {"Automation advanced", 0.12, 60, 240, 0},
    {"Forecasting masterclass", 0.08, 90, 300, 0},
};

typedef struct metric_def {
    const char *metric, *unit;
    double base_lo, base_hi, target_lo, target_hi;
} metric_def;
#define NMETRICS 6
static const metric_def metrics[NMETRICS] = {
    {"logistics cost savings", "%", 0, 0, 15, 35},
    {"hours saved per week", "hours", 0, 0, 10, 80},
    {"report turnaround time", "days", 8, 15, 1, 4},
    {"forecast accuracy", "%", 55, 70, 80, 92},
    {"revenue influenced", "USD", 0, 0, 50000, 500000},
    {"first response time", "hours", 24, 48, 4, 8},
};

/* Journey sources. Paid sources carry a cost on visits and leads; partner
 * deals carry a referral fee on the paid step. */
typedef struct source_def {
    const char *name;
    int weight;
    int64_t visit_lo, visit_hi, lead_lo, lead_hi; /* cents; 0 = free */
    const char *campaigns[3];
} source_def;
#define NSOURCES    7
#define SRC_PARTNER 6
static const source_def sources[NSOURCES] = {
    {"organic", 25, 0, 0, 0, 0, {"", "", ""}},
    {"direct", 10, 0, 0, 0, 0, {"", "", ""}},
    {"referral", 12, 0, 0, 0, 0, {"customer_referral", "customer_referral", "g2_reviews"}},
    {"google_ads", 22, 150, 600, 2000, 9000, {"search_brand", "search_generic", "retargeting"}},
    {"linkedin_ads", 12, 400, 1200, 5000, 15000, {"abm_enterprise", "cs_leaders", "abm_mid"}},
    {"events", 7, 2000, 8000, 8000, 25000, {"saas_summit", "webinar_health_scores", "cs_meetup"}},
    {"partner", 12, 0, 0, 0, 0, {"partner_program", "partner_program", "reseller"}},
};

/* What the CRM records as the churn reason, per driver; 30% of the time the
 * recorded reason is a generic one whatever the cause. */
static const char *const crm_reasons[DRV__COUNT][3] = {
    {"price", "budget cuts", "switched to competitor"},
    {"never got started", "too hard to set up", "did not see value"},
    {"too expensive for how much we use it", "low adoption", "price"},
    {"only a few people used it", "low adoption", "did not see value"},
    {"no longer needed", "usage dropped", "switched to competitor"},
    {"too complex", "team needed constant help, gave up", "support"},
    {"unhappy with support", "bugs and reliability", "missing features"},
    {"did not achieve expected results", "ROI not proven", "did not see value"},
    {"company closed", "went out of business", "insolvency"},
    {"outgrew the product", "needs enterprise features", "moving to an in-house solution"},
    {"champion left", "new management chose another vendor", "reorganisation, team disbanded"},
};
static const char *const generic_reasons[5] = {"price", "budget cuts, cost review", "other",
                                               "switched to competitor", "no reason given"};
/* What customers answer in the exit survey (35% generic). */
static const char *const exit_reasons[DRV__COUNT][3] = {
    {"Too expensive", "Budget was cut", "Chose a competitor"},
    {"Onboarding took too long", "Could not get it set up", "Never saw the value"},
    {"Paying for seats nobody uses", "Not enough people used it", "Too expensive"},
    {"Only our analysts used it", "Did not catch on with the team", "Never saw the value"},
    {"We stopped using it", "No longer a priority", "Chose a competitor"},
    {"Too hard to use", "Needed too much hand-holding", "Support could not help us"},
    {"Support was poor", "Too many bugs", "Missing features we asked for"},
    {"Did not deliver the results we expected", "No measurable ROI", "Never saw the value"},
    {"We are closing the business", "Company shut down", "Budget was cut"},
    {"We outgrew it", "Need more advanced features", "Building our own"},
    {"Our champion left the company", "New leadership, new vendor", "Team was reorganised"},
};
static const char *const generic_exit[4] = {"Too expensive", "Other", "Budget was cut",
                                            "Chose a competitor"};

static const char *const promoter_comments[4] = {
    "Great product, the dashboards save us hours every week",
    "Love the \"alerts\" feature, it keeps the team honest",
    "Easy to use, support is quick",
    "Reports are exactly what our board wants to see",
};
static const char *const passive_comments[3] = {
    "Good, but exports could be faster",
    "Does the job. Pricing is a bit high, though",
    "OK overall; the forecasting is hard to configure",
};
static const char *const detractor_comments[5] = {
    "Too many bugs lately, and support is slow",
    "We are not seeing the results we were promised",
    "Hard to use; my team keeps asking how to do basic things",
    "Honestly? \"Enterprise ready\" it is not",
    "Nobody on my team uses it",
};
static const char *const exit_comments[4] = {
    "Thanks for the help over the years",
    "Might come back when our budget allows",
    "The product is fine, it just was not right for us",
    "Please cancel all seats, effective immediately",
};

/* ---------------------------------------------------------------------
 * Buffered output files
 * ------------------------------------------------------------------- */

enum { OUT_TRUTH = CW_KIND__COUNT, OUT__COUNT };

typedef struct sim_out {
    char *path;
    FILE *fp;
    gzFile gz;
    char *buf;
    size_t len, cap;
    int64_t rows;
    int err; /* errno of the first failed write; 0 = fine */
} sim_out;

/* Writes the buffer to the file. The first failure is kept in o->err and
 * later data is dropped, so callers check once per account. */
static void out_flush(sim_out *o)
{
    if (o->len && !o->err) {
        errno = 0;
        if (o->gz) {
            if (gzwrite(o->gz, o->buf, (unsigned)o->len) != (int)o->len)
                o->err = errno ? errno : EIO;
        } else if (fwrite(o->buf, 1, o->len, o->fp) != o->len) {
            o->err = errno ? errno : EIO;
        }
    }
    o->len = 0;
}

/* Returns where the next n bytes go (n <= ROW_MAX <= cap). */
static inline char *out_reserve(sim_out *o, size_t n)
{
    if (o->len + n > o->cap)
        out_flush(o);
    return o->buf + o->len;
}

/* Ends a row that was written up to p. */
static inline void out_row(sim_out *o, char *p)
{
    *p++ = '\n';
    o->len = (size_t)(p - o->buf);
    o->rows++;
}

static inline char *put_mem(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static inline char *put_s(char *p, const char *s)
{
    return put_mem(p, s, strlen(s));
}

/* A CSV text field, quoted per RFC 4180 only when it holds , " CR or LF. */
static char *put_text(char *p, const char *s)
{
    if (!s)
        return p;
    if (!strpbrk(s, ",\"\r\n"))
        return put_s(p, s);
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '"')
            *p++ = '"';
        *p++ = *s;
    }
    *p++ = '"';
    return p;
}

/* v in decimal, zero-padded to at least width digits. */
static inline char *put_pad(char *p, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n)
        *p++ = tmp[--n];
    return p;
}

static inline char *put_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return put_pad(p, (uint64_t)0 - (uint64_t)v, 1);
    }
    return put_pad(p, (uint64_t)v, 1);
}

/* "YYYY-MM-DD" */
static char *put_date(char *p, int64_t day)
{
    int64_t y;
    unsigned m, d;
    civ_from_days(day, &y, &m, &d);
    p = put_pad(p, (uint64_t)y, 4);
    *p++ = '-';
    p = put_pad(p, m, 2);
    *p++ = '-';
    return put_pad(p, d, 2);
}

/* "HH:MM:SSZ" for a second of the day. */
static inline char *put_hms(char *p, int sec)
{
    int h = sec / 3600, m = sec / 60 % 60, s = sec % 60;
    p[0] = (char)('0' + h / 10);
    p[1] = (char)('0' + h % 10);
    p[2] = ':';
    p[3] = (char)('0' + m / 10);
    p[4] = (char)('0' + m % 10);
    p[5] = ':';
    p[6] = (char)('0' + s / 10);
    p[7] = (char)('0' + s % 10);
    p[8] = 'Z';
    return p + 9;
}

/* "YYYY-MM-DDTHH:MM:SSZ" for Unix seconds ts (ts >= 0). */
static char *put_ts(char *p, int64_t ts)
{
    int64_t day = ts / DAY_S;
    p = put_date(p, day);
    *p++ = 'T';
    return put_hms(p, (int)(ts - day * DAY_S));
}

/* A decimal with two places (goal values). */
static char *put_real(char *p, double v)
{
    int n = snprintf(p, 40, "%.2f", v);
    return p + (n > 0 && n < 40 ? n : 0);
}

/* ---------------------------------------------------------------------
 * Simulation state
 * ------------------------------------------------------------------- */

typedef struct sim_user {
    int64_t num;                 /* global user number: U%07 */
    int64_t prov_day, deact_day; /* deact_day NO_DAY while active */
    int64_t prov_ts, deact_ts;
    int64_t next_course;         /* day of the next course completion, NO_DAY none */
    int64_t course_at[NCOURSES]; /* completion day per course, NO_DAY none */
    double p_active;             /* weekday activity probability before multipliers */
    double q;                    /* continuation probability of a day's feature events */
    double adv;                  /* share of events on advanced features once adopted */
    int adopt_days;              /* days until advanced use reaches that share */
    int start_min;               /* personal start of the working day, minutes after 07:00 */
    uint8_t role, dept, fname, lname;
    uint8_t power, silent, never; /* narrow_usage roles; never logs in */
    char id[24];
    uint8_t idlen;
} sim_user;

typedef struct sim_goal {
    int num;
    double baseline, target, attain;
    int64_t start_day, target_day;
    int64_t next_meas;    /* day of the next monthly actual, NO_DAY none */
    int64_t check_day[2]; /* agreed checkpoints (kind=expected), NO_DAY none */
} sim_goal;

typedef struct sim_acct {
    int64_t idx;
    char id[24];
    size_t idlen;
    char domain[64];
    char name[96];
    int seg, drv, drv_on; /* drv_on: the driver still acts (cleared on reactivation) */
    int annual, existing;
    int64_t price_cents; /* per seat per month */
    int seats, seats_before_churn;
    int64_t last_sub_ts; /* effective time of the last subscription row written */
    int64_t cs;          /* contract start day */
    int64_t first_day;   /* max(cs, start_day) */
    int64_t onset;       /* driver onset day, NO_DAY none */
    int64_t nat_churn;   /* natural-cause churn day, NO_DAY none */
    int64_t renew_anchor, renew_k, next_renewal;
    int renew_months;
    int churned_now, reactivated;
    int64_t first_churn, last_churn, react_day;
    const char *churn_reason;
    int ms_day[MS__COUNT]; /* tenure day each milestone is reached, -1 never */
    int ms_done[MS__COUNT];
    int integration_on;
    double prov_frac; /* share of seats the account staffs */
    int n_first;      /* users provisioned at contract start */
    int64_t ramp_start;
    int invite_t, ramp_days;
    int64_t expand_until;
    int n_power;
    double never_p, train_f;
    int n_active;
    double base_mult, fall, fall_step, nps_bias;
    int64_t nps_next;
    int nps_q, nps_off;
    uint8_t depts[NDEPTS];
    int ndepts, src, owner;
    sim_goal goals[2];
    int ngoals;
    int64_t ev_seq, ticket_seq, survey_seq;
    int64_t events;
    rng rp; /* lifecycle and staffing */
    rng re; /* product events */
    rng rm; /* tickets, surveys, trainings, goals, journey */
    /* product_events: whether and when the account stops getting value from
     * insights (pins turn into dismissals); its own stream */
    rng rx;
    int pv_lost;
    /* --churn-shift: 0 undecided, 1 won back for good, -1 still at risk */
    int shift_fate;
    int64_t pv_onset;
} sim_acct;

typedef struct sim_ctx {
    const cw_sim_opts *o;
    int64_t start_day, end_day, start_ts, end_ts;
    sim_out out[OUT__COUNT];
    int64_t n_csm;
    int64_t next_user_num;
    int64_t events;
    sim_user *users; /* the current account's users, reused */
    size_t nusers, cap_users;
    int *scratch;       /* index lists over users, same capacity */
    int nelig;          /* users eligible today (indices in scratch) */
    char dayprefix[12]; /* "YYYY-MM-DDT" of the day being simulated */
    size_t ev_len[EV__COUNT];
    int64_t churned_ever, churned_now, active_now, mrr_active, seats_active, reactivated;
    int64_t drv_n[DRV__COUNT], drv_churned[DRV__COUNT];
    int nomem;
} sim_ctx;

static const char *const kind_files[CW_KIND__COUNT] = {
    NULL,           "accounts.csv", "subscriptions.csv",     "users.csv",
    "features.csv", "events.csv",   "trainings.csv",         "tickets.csv",
    "surveys.csv",  "goals.csv",    "goal_measurements.csv", "journey.csv",
};
static const char *const kind_names[CW_KIND__COUNT] = {
    NULL,        "accounts", "subscriptions", "users", "features",          "events",
    "trainings", "tickets",  "surveys",       "goals", "goal_measurements", "journey",
};
/* Canonical columns of lib/ingest/schema.c, in its order; then the ground truth. */
static const char *const out_headers[OUT__COUNT] = {
    NULL,
    "account_id,name,segment,owner,contract_start,seats,mrr_minor,currency,renewal_date,status,"
    "churn_date,churn_reason",
    "account_id,effective_at,mrr_minor,currency,seats,plan,billing_period",
    "user_id,account_id,email,role,department,provisioned_at,deactivated_at",
    "event,feature,tier,milestone,milestone_due_day,first_value",
    "ts,account_id,user_id,event,value,event_id",
    "user_id,account_id,course,completed_at",
    "ticket_id,account_id,user_id,opened_at,closed_at,category,priority,satisfaction",
    "survey_id,account_id,user_id,type,sent_at,responded_at,score,reason,comment",
    "goal_id,account_id,metric,unit,baseline,target,start_date,target_date",
    "goal_id,measured_at,kind,value",
    "visitor_id,stage,at,source,campaign,cost_minor,currency,account_id",
    NULL, /* subscription_periods: not simulated (the change log is written directly) */
    "account_id,driver,churned,churn_date,driver_onset_date,natural",
};

/* ---------------------------------------------------------------------
 * Row writers for the small kinds
 * ------------------------------------------------------------------- */

static void write_subscription(sim_ctx *c, sim_acct *a, int64_t day, int seats)
{
    sim_out *o = &c->out[CW_KIND_SUBSCRIPTIONS];
    /* Two changes on one day (a renewal change, then a cancellation) take
     * effect an hour apart: (account, effective_at) is the natural key. */
    int64_t ts = day * DAY_S;
    if (ts <= a->last_sub_ts)
        ts = a->last_sub_ts + 3600;
    a->last_sub_ts = ts;
    char *p = out_reserve(o, ROW_MAX);
    p = put_mem(p, a->id, a->idlen);
    *p++ = ',';
    p = put_ts(p, ts);
    *p++ = ',';
    p = put_i64(p, (int64_t)seats * a->price_cents);
    p = put_s(p, ",USD,");
    p = put_i64(p, seats);
    *p++ = ',';
    p = put_s(p, segs[a->seg].plan);
    *p++ = ',';
    p = put_s(p, a->annual ? "annual" : "monthly");
    out_row(o, p);
}

/* One journey row; cost_cents < 0 leaves cost and currency empty; a NULL
 * account leaves account_id empty. */
static void write_journey(sim_ctx *c, const char *visitor, const char *stage, int64_t ts, int src,
                          const char *campaign, int64_t cost_cents, const sim_acct *a)
{
    sim_out *o = &c->out[CW_KIND_JOURNEY];
    char *p = out_reserve(o, ROW_MAX);
    p = put_s(p, visitor);
    *p++ = ',';
    p = put_s(p, stage);
    *p++ = ',';
    p = put_ts(p, ts);
    *p++ = ',';
    p = put_s(p, sources[src].name);
    *p++ = ',';
    p = put_text(p, campaign);
    *p++ = ',';
    if (cost_cents >= 0) {
        p = put_i64(p, cost_cents);
        p = put_s(p, ",USD");
    } else {
        *p++ = ',';
    }
    *p++ = ',';
    if (a)
        p = put_mem(p, a->id, a->idlen);
    out_row(o, p);
}

/* One survey row; responded_ts 0 = unanswered, score < 0 = empty. */
static void write_survey(sim_ctx *c, sim_acct *a, const sim_user *u, const char *type,
                         int64_t sent_ts, int64_t responded_ts, int score, const char *reason,
                         const char *comment)
{
    sim_out *o = &c->out[CW_KIND_SURVEYS];
    char *p = out_reserve(o, ROW_MAX);
    *p++ = 'S';
    p = put_mem(p, a->id + 1, a->idlen - 1);
    *p++ = '-';
    p = put_pad(p, (uint64_t)++a->survey_seq, 4);
    *p++ = ',';
    p = put_mem(p, a->id, a->idlen);
    *p++ = ',';
    if (u)
        p = put_mem(p, u->id, u->idlen);
    *p++ = ',';
    p = put_s(p, type);
    *p++ = ',';
    p = put_ts(p, sent_ts);
    *p++ = ',';
    if (responded_ts)
        p = put_ts(p, responded_ts);
    *p++ = ',';
    if (score >= 0)
        p = put_i64(p, score);
    *p++ = ',';
    p = put_text(p, reason);
    *p++ = ',';
    p = put_text(p, comment);
    out_row(o, p);
}

/* ---------------------------------------------------------------------
 * Product events (the hot path)
 * ------------------------------------------------------------------- */

/* Value kinds of an event row. */
enum { VAL_NONE, VAL_INT, VAL_CENTI };

/* Appends one event row at second sec of the current day. u NULL = an
 * account-level event. About 10% of rows carry no event_id, so ingest's
 * content-hash dedup is exercised; ids are unique either way. */
static inline void write_event_named(sim_ctx *c, sim_acct *a, const sim_user *u, int sec,
                                     const char *name, size_t nlen, int vkind, int64_t v)
{
    sim_out *o = &c->out[CW_KIND_EVENTS];
    char *p = out_reserve(o, 256);
    p = put_mem(p, c->dayprefix, 11);
    p = put_hms(p, sec);
    *p++ = ',';
    p = put_mem(p, a->id, a->idlen);
    *p++ = ',';
    if (u)
        p = put_mem(p, u->id, u->idlen);
    *p++ = ',';
    p = put_mem(p, name, nlen);
    *p++ = ',';
    if (vkind == VAL_INT) {
        p = put_i64(p, v);
    } else if (vkind == VAL_CENTI) {
        p = put_i64(p, v / 100);
        *p++ = '.';
        p = put_pad(p, (uint64_t)(v % 100), 2);
    }
    *p++ = ',';
    a->ev_seq++;
    if ((rng_u64(&a->re) >> 56) >= 26) { /* 230 of 256: about 90% carry an id */
        *p++ = 'E';
        p = put_mem(p, a->id + 1, a->idlen - 1);
        *p++ = '-';
        p = put_pad(p, (uint64_t)a->ev_seq, 7);
    }
    out_row(o, p);
    a->events++;
}

static inline void write_event(sim_ctx *c, sim_acct *a, const sim_user *u, int sec, int ev,
                               int vkind, int64_t v)
{
    write_event_named(c, a, u, sec, evdefs[ev].name, c->ev_len[ev], vkind, v);
}

/* A plausible value for the events that carry one (rows, requests,
 * seconds, days); returns the value kind. */
static int event_value(rng *r, int ev, int64_t *v)
{
    static const int64_t pow10[5] = {1, 10, 100, 1000, 10000};
    static const int64_t horizons[4] = {30, 90, 180, 365};
    switch (ev) {
    case EV_REPORT_EXPORT:
        *v = rng_range(r, 1, 9) * pow10[rng_range(r, 1, 3)] + rng_range(r, 0, 9);
        return VAL_INT;
    case EV_DATA_IMPORT:
        *v = rng_range(r, 1, 9) * pow10[rng_range(r, 2, 4)] + rng_range(r, 0, 99);
        return VAL_INT;
    case EV_API_CALL: *v = rng_range(r, 1, 500); return VAL_INT;
    case EV_WORKFLOW_RUN: *v = rng_range(r, 50, 60000); return VAL_CENTI;
    case EV_FORECAST_RUN: *v = horizons[rng_range(r, 0, 3)]; return VAL_INT;
    default: return VAL_NONE;
    }
}

static int mix_total(const ev_weight *mix, int n, int skip_ev)
{
    int t = 0;
    for (int i = 0; i < n; i++)
        t += mix[i].ev == skip_ev ? 0 : mix[i].w;
    return t;
}

/* An event from mix; skip_ev (weight excluded from total) is never drawn. */
static inline int pick_mix(rng *r, const ev_weight *mix, int n, int total, int skip_ev)
{
    int x = (int)(((rng_u64(r) >> 32) * (uint64_t)total) >> 32);
    for (int i = 0; i < n; i++) {
        if (mix[i].ev == skip_ev)
            continue;
        if (x < mix[i].w)
            return mix[i].ev;
        x -= mix[i].w;
    }
    return mix[0].ev;
}

/* One user's events for the current day: a login, the forced events
 * (milestones, invites) and a geometric number of feature events, with a
 * second session now and then. Timestamps strictly increase, so a user's
 * events of a day never share a second (content-hash dedup stays exact). */
static void user_day(sim_ctx *c, sim_acct *a, const sim_user *u, int64_t d, const int *forced,
                     int nforced, int invites, double p_adv)
{
    rng *r = &a->re;
    int sec = 7 * 3600 + u->start_min * 60 + (int)rng_range(r, 0, 8 * 3600);
    if (d == u->prov_day) {
        int after = (int)(u->prov_ts - d * DAY_S) + 60;
        if (after > sec)
            sec = after;
    }
    const int skip = a->ms_done[MS_REPORT] ? -1 : EV_REPORT_CREATE;
    const int viewer = u->role == ROLE_VIEWER;
    const ev_weight *mix = viewer ? viewer_mix : basic_mix;
    const int nmix = viewer ? NMIX(viewer_mix) : NMIX(basic_mix);
    const int total = mix_total(mix, nmix, skip);
    const int adv_total = mix_total(advanced_mix, NMIX(advanced_mix), -1);

    for (int session = 0; session < 2; session++) {
        if (sec >= DAY_S - 60)
            return;
        write_event(c, a, u, sec, EV_LOGIN, VAL_NONE, 0);
        for (int i = 0; session == 0 && i < nforced; i++) {
            sec += (int)rng_range(r, 20, 300);
            if (sec >= DAY_S)
                return;
            int vk = forced[i] == EV_USER_INVITE ? VAL_INT : VAL_NONE;
            write_event(c, a, u, sec, forced[i], vk, invites);
        }
        int n = rng_geom(r, u->q, 15);
        for (int i = 0; i < n; i++) {
            sec += (int)rng_range(r, 15, 600);
            if (sec >= DAY_S)
                return;
            int ev = p_adv > 0 && rng_unif(r) < p_adv
                         ? pick_mix(r, advanced_mix, NMIX(advanced_mix), adv_total, -1)
                         : pick_mix(r, mix, nmix, total, skip);
            int64_t v = 0;
            int vk = event_value(r, ev, &v);
            write_event(c, a, u, sec, ev, vk, v);
        }
        /* product_events: an insight pinned, or dismissed once the account
         * has stopped getting value from them (the same number of events) */
        if (session == 0 && c->o->product_events && rng_unif(&a->rx) < PV_EVENT_P) {
            sec += (int)rng_range(&a->rx, 15, 600);
            if (sec >= DAY_S)
                return;
            int lost = a->pv_lost && d >= a->pv_onset;
            write_event_named(c, a, u, sec, lost ? "insight_dismiss" : "insight_pin",
                              lost ? 15 : 11, VAL_NONE, 0);
        }
        if (sec >= 18 * 3600 || rng_unif(r) >= 0.2)
            return;
        sec += (int)rng_range(r, 3600, 3 * 3600);
    }
}

/* ---------------------------------------------------------------------
 * Users
 * ------------------------------------------------------------------- */

/* Makes room for one more user; returns 0 when out of memory. */
static int users_grow(sim_ctx *c)
{
    if (c->nusers < c->cap_users)
        return 1;
    size_t ncap = c->cap_users ? c->cap_users * 2 : 256;
    sim_user *nu = realloc(c->users, ncap * sizeof *nu);
    if (nu)
        c->users = nu;
    int *ns = realloc(c->scratch, ncap * sizeof *ns);
    if (ns)
        c->scratch = ns;
    if (!nu || !ns) {
        c->nomem = 1;
        return 0;
    }
    c->cap_users = ncap;
    return 1;
}

static int has_active_admin(const sim_ctx *c)
{
    for (size_t i = 0; i < c->nusers; i++)
        if (c->users[i].deact_day == NO_DAY && c->users[i].role == ROLE_ADMIN)
            return 1;
    return 0;
}

/* Provisions a user on day d at second sec (role -1 = drawn; an account
 * without an admin gets one). Activity, advanced-feature affinity and
 * course completions depend on the role and on the account's driver.
 * Returns 0 when out of memory. */
static int add_user(sim_ctx *c, sim_acct *a, int64_t d, int sec, int role)
{
    if (!users_grow(c))
        return 0;
    rng *r = &a->rp;
    size_t ordinal = c->nusers;
    if (role < 0) {
        static const int w[ROLE__COUNT] = {3, 20, 35, 12, 30};
        role = has_active_admin(c) ? rng_pick(r, w, ROLE__COUNT) : ROLE_ADMIN;
    }
    sim_user *u = &c->users[c->nusers++];
    memset(u, 0, sizeof *u);
    u->num = ++c->next_user_num;
    u->id[0] = 'U';
    u->idlen = (uint8_t)(put_pad(u->id + 1, (uint64_t)u->num, 7) - u->id);
    u->prov_day = d;
    u->prov_ts = d * DAY_S + sec;
    u->deact_day = NO_DAY;
    u->role = (uint8_t)role;
    u->dept = a->depts[rng_range(r, 0, a->ndepts - 1)];
    u->fname = (uint8_t)rng_range(r, 0, NFIRST - 1);
    u->lname = (uint8_t)rng_range(r, 0, NLAST - 1);
    u->p_active = clampd(role_active[role] + rng_between(r, -0.2, 0.2), 0.05, 0.95);
    u->q = clampd(role_more[role] + rng_between(r, -0.1, 0.1), 0.1, 0.8);
    u->adv = role_adv[role] * rng_between(r, 0.4, 1.6);
    u->adopt_days = (int)rng_range(r, 30, 150);
    u->start_min = (int)rng_range(r, 0, 120);
    u->never = rng_chance(r, a->never_p) && role != ROLE_ADMIN;
    if (a->drv == DRV_NARROW_USAGE && !a->reactivated) {
        if ((int)ordinal < a->n_power) {
            u->power = 1;
            u->never = 0;
            u->p_active = rng_between(r, 0.85, 0.97);
            u->q = rng_between(r, 0.72, 0.8);
            u->adv = rng_between(r, 0.3, 0.5);
        } else {
            u->silent = 1;
        }
    }
    double tf = a->drv_on ? a->train_f : 1.0;
    if (u->silent)
        tf *= 0.2;
    u->next_course = NO_DAY;
    for (int k = 0; k < NCOURSES; k++) {
        u->course_at[k] = NO_DAY;
        if (courses[k].admin_only && role != ROLE_ADMIN)
            continue;
        if (u->never || !rng_chance(r, courses[k].p * tf))
            continue;
        int64_t day = d + rng_range(r, courses[k].lo, courses[k].hi);
        if (day < c->start_day)
            continue; /* completed before the data begins */
        u->course_at[k] = day;
        if (day < u->next_course)
            u->next_course = day;
    }
    a->n_active++;
    return 1;
}

static void deactivate(sim_acct *a, sim_user *u, int64_t ts)
{
    u->deact_day = ts / DAY_S;
    u->deact_ts = ts;
    a->n_active--;
}

/* Removes active users beyond the licensed seats, least engaged first (what
 * an admin does when seats are cut). */
static void trim_to_seats(sim_ctx *c, sim_acct *a, int64_t d)
{
    int k = 0;
    while (a->n_active > a->seats) {
        sim_user *worst = NULL;
        double ws = 3.0;
        for (size_t i = 0; i < c->nusers; i++) {
            sim_user *u = &c->users[i];
            if (u->deact_day != NO_DAY || u->prov_day >= d)
                continue;
            double s = u->never ? -1.0 : u->silent ? -0.5 : u->p_active;
            if (u->role == ROLE_ADMIN)
                s += 1.0;
            if (s < ws)
                ws = s, worst = u;
        }
        if (!worst)
            return;
        deactivate(a, worst, d * DAY_S + 8 * 3600 + k++);
    }
}

/* How many users the account wants staffed on day d: the first users, then
 * a ramp after the team is invited up to prov_frac of the seats; falling
 * engagement lets seats empty. */
static int desired_users(const sim_acct *a, int64_t d)
{
    double full = a->seats * a->prov_frac;
    int64_t t = d - a->ramp_start;
    double want;
    if (t < a->invite_t) {
        want = a->n_first;
    } else {
        double f = (double)(t - a->invite_t + 1) / a->ramp_days;
        want = a->n_first + (full - a->n_first) * (f > 1 ? 1 : f);
        if (want < a->n_first + 1 && full >= a->n_first + 1)
            want = a->n_first + 1; /* the invite day invites someone */
    }
    if (a->drv_on && a->drv == DRV_FALLING_ENGAGEMENT && d >= a->onset)
        want *= 0.35 + 0.65 * a->fall;
    int w = (int)(want + 0.5);
    if (w > a->seats)
        w = a->seats;
    return w < 1 ? 1 : w;
}

/* ---------------------------------------------------------------------
 * Account life cycle
 * ------------------------------------------------------------------- */

/* The exit survey sent on churn day d; answered about 60% of the time with
 * a reason that is usually, not always, about the real driver. */
static void write_exit_survey(sim_ctx *c, sim_acct *a, const sim_user *u, int64_t d, int drv)
{
    rng *r = &a->rm;
    int64_t sent = d * DAY_S + 9 * 3600 + rng_range(r, 0, 3600);
    int64_t resp = 0;
    const char *reason = NULL, *comment = NULL;
    if (rng_chance(r, 0.6)) {
        resp = sent + rng_range(r, 3600, 5 * DAY_S);
        if (resp >= c->end_ts) {
            resp = 0;
        } else {
            reason = rng_chance(r, 0.35) ? generic_exit[rng_range(r, 0, 3)]
                                         : exit_reasons[drv][rng_range(r, 0, 2)];
            if (rng_chance(r, 0.3))
                comment = exit_comments[rng_range(r, 0, 3)];
        }
    }
    write_survey(c, a, u, "exit", sent, resp, -1, reason, comment);
}

/* The account cancels on day d: a cancellation row, an exit survey, every
 * user removed, and maybe a comeback later. */
static void churn(sim_ctx *c, sim_acct *a, int64_t d)
{
    rng *r = &a->rp;
    int drv = a->drv_on ? a->drv : DRV_NONE;
    const sim_user *contact = NULL;
    for (size_t i = 0; i < c->nusers && !contact; i++)
        if (c->users[i].deact_day == NO_DAY && c->users[i].role == ROLE_ADMIN)
            contact = &c->users[i];
    for (size_t i = 0; i < c->nusers && !contact; i++)
        if (c->users[i].deact_day == NO_DAY)
            contact = &c->users[i];
    a->seats_before_churn = a->seats;
    a->seats = 0;
    write_subscription(c, a, d, 0);
    write_exit_survey(c, a, contact, d, drv);
    int k = 0;
    for (size_t i = 0; i < c->nusers; i++)
        if (c->users[i].deact_day == NO_DAY)
            deactivate(a, &c->users[i], d * DAY_S + 60 + k++ % 3000);
    a->churn_reason = rng_chance(r, 0.3) ? generic_reasons[rng_range(r, 0, 4)]
                                         : crm_reasons[drv][rng_range(r, 0, 2)];
    if (a->first_churn == NO_DAY)
        a->first_churn = d;
    a->last_churn = d;
    a->churned_now = 1;
    a->integration_on = 0;
    double p_back = drv == DRV_OUT_OF_BUSINESS ? 0.0 : drv == DRV_OUTGREW ? 0.03 : 0.13;
    a->react_day = NO_DAY;
    if (!a->reactivated && rng_chance(r, p_back))
        a->react_day = d + rng_range(r, 30, 120);
}

/* A churned account signs again on day d: smaller, monthly, with the
 * driver's cause behind it (it now behaves like a healthy account). */
static void reactivate(sim_ctx *c, sim_acct *a, int64_t d)
{
    rng *r = &a->rp;
    a->churned_now = 0;
    a->reactivated = 1;
    a->drv_on = 0;
    a->react_day = NO_DAY;
    int s = (int)(a->seats_before_churn * rng_between(r, 0.5, 0.9) + 0.5);
    a->seats = s < 2 ? 2 : s;
    a->annual = 0;
    a->renew_anchor = d;
    a->renew_months = 1;
    a->renew_k = 1;
    a->next_renewal = add_months(d, 1);
    write_subscription(c, a, d, a->seats);
    a->ramp_start = d;
    a->invite_t = (int)rng_range(r, 1, 5);
    a->ramp_days = (int)rng_range(r, 14, 45);
    a->n_first = 1;
    a->prov_frac = rng_between(r, 0.7, 0.95);
    a->never_p = 0.05;
    a->base_mult = rng_between(r, 0.85, 1.05);
    a->expand_until = NO_DAY;
    add_user(c, a, d, 9 * 3600 + (int)rng_range(r, 0, 3600), ROLE_ADMIN);
    if (a->ms_day[MS_INTEGRATION] >= 0) {
        a->ms_done[MS_INTEGRATION] = 0;
        a->ms_day[MS_INTEGRATION] = (int)(d - a->cs + rng_range(r, 3, 20));
    }
}

/* A renewal on day d: churn with the driver's hazard (monthly hazard h,
 * compounded over the term), else maybe change seats. Returns 1 on churn. */
static int renewal(sim_ctx *c, sim_acct *a, int64_t d)
{
    rng *r = &a->rp;
    /* A customer who outgrew the product or lost its champion has decided by
     * nat_churn; it does not renew at the end of the term it has paid for. */
    if (a->drv_on && (a->drv == DRV_OUTGREW || a->drv == DRV_STAFF_CHANGE) &&
        a->nat_churn != NO_DAY && d >= a->nat_churn) {
        churn(c, a, d);
        return 1;
    }
    double h = BASE_HAZARD;
    if (a->drv_on && driver_hazard[a->drv] > 0 && a->onset != NO_DAY &&
        d >= a->onset + DRIVER_LAG_DAYS)
        h = driver_hazard[a->drv];
    if (a->pv_lost && d >= a->pv_onset + DRIVER_LAG_DAYS && h < PV_HAZARD)
        h = PV_HAZARD;
    if (c->o->churn_shift_factor > 0 && d >= c->o->churn_shift_day) {
        /* --churn-shift: the base rate drops for good. An account at risk
         * is won back (the base hazard from then on) with probability
         * 1 - F at its first renewal at risk after the day, else stays at
         * risk; the base hazard is multiplied by F. A lower hazard alone
         * would only delay the churn of the accounts at risk. */
        double f = c->o->churn_shift_factor;
        if (h > BASE_HAZARD && a->shift_fate == 0)
            a->shift_fate = rng_chance(r, 1.0 - f) ? 1 : -1;
        if (h <= BASE_HAZARD || a->shift_fate == 1)
            h = BASE_HAZARD * f;
    }
    double keep = 1.0;
    for (int i = 0; i < a->renew_months; i++)
        keep *= 1.0 - h;
    if (rng_chance(r, 1.0 - keep)) {
        churn(c, a, d);
        return 1;
    }
    const seg_def *sg = &segs[a->seg];
    double util = a->seats ? (double)a->n_active / a->seats : 1.0;
    int seats = a->seats;
    int grows = !a->drv_on || a->drv == DRV_NONE || is_natural(a->drv) ||
                a->drv == DRV_OUTCOME_BEHIND || a->drv == DRV_DETRACTOR;
    double p_up = a->annual ? 0.45 : 0.05;
    if (a->drv_on && a->drv == DRV_OUTGREW)
        p_up *= 2;
    double p_down = a->annual ? 0.6 : 0.12;
    if (grows && util >= 0.85 && seats < sg->seats_cap && rng_chance(r, p_up)) {
        seats += 1 + (int)(seats * rng_between(r, 0.1, 0.35));
        if (seats > sg->seats_cap)
            seats = sg->seats_cap;
    } else if (util < 0.65 && rng_chance(r, p_down)) {
        int s2 = (int)(seats * rng_between(r, 0.6, 0.9) + 0.5);
        if (s2 < a->n_active)
            s2 = a->n_active;
        seats = s2 < 1 ? 1 : s2;
    }
    if (seats == a->seats)
        return 0;
    int up = seats > a->seats;
    a->seats = seats;
    write_subscription(c, a, d, seats);
    if (up) {
        a->expand_until = d + 30;
        char vid[32];
        snprintf(vid, sizeof vid, "V%s", a->id + 1);
        write_journey(c, vid, "upgrade", d * DAY_S + 10 * 3600 + rng_range(&a->rm, 0, 7200), a->src,
                      sources[a->src].campaigns[0], -1, a);
    } else {
        trim_to_seats(c, a, d);
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Per-account behaviours
 * ------------------------------------------------------------------- */

/* An NPS answer (0–10) given the driver and its onset. */
static int nps_score(const sim_acct *a, int64_t d, rng *r)
{
    int drv = a->drv_on ? a->drv : DRV_NONE;
    int after = a->onset != NO_DAY && d >= a->onset;
    double mean = 8.4;
    switch (drv) {
    case DRV_POOR_ONBOARDING: mean = 6.0; break;
    case DRV_UNUSED_LICENCES: mean = 7.2; break;
    case DRV_NARROW_USAGE: mean = 7.4; break;
    case DRV_FALLING_ENGAGEMENT: mean = after ? 6.3 : 7.8; break;
    case DRV_LATE_INTRO_TICKETS: mean = after ? 6.4 : 7.4; break;
    case DRV_OUTCOME_BEHIND: mean = 7.3; break;
    case DRV_DETRACTOR:
        if (after) {
            /* 0–6 and falling, about a point and a half per month. */
            double months = (double)(d - a->onset) / 30.0;
            double m = 5.5 - 1.5 * months + 1.2 * rng_normal(r);
            return (int)clampd(m + 0.5, 0, 6);
        }
        mean = 7.0;
        break;
    default: break;
    }
    double s = mean + a->nps_bias + 1.5 * rng_normal(r);
    return (int)clampd(s + 0.5, 0, 10);
}

/* The quarterly NPS survey: a few users who have been around for two weeks
 * are asked; fewer answer when the account is disengaging. */
static void send_nps(sim_ctx *c, sim_acct *a, int64_t d)
{
    rng *r = &a->rm;
    int n = 0;
    int *idx = c->scratch;
    for (size_t i = 0; i < c->nusers; i++)
        if (c->users[i].deact_day == NO_DAY && c->users[i].prov_day < d - 14)
            idx[n++] = (int)i;
    int k = 2 + a->n_active / 10;
    if (k > n)
        k = n;
    int drv = a->drv_on ? a->drv : DRV_NONE;
    int after = a->onset != NO_DAY && d >= a->onset;
    double p_resp = drv == DRV_POOR_ONBOARDING               ? 0.30
                    : drv == DRV_FALLING_ENGAGEMENT && after ? 0.25
                    : drv == DRV_DETRACTOR                   ? 0.55
                                                             : 0.45;
    for (int j = 0; j < k; j++) {
        int pick = j + (int)rng_range(r, 0, n - 1 - j);
        int t = idx[j];
        idx[j] = idx[pick];
        idx[pick] = t;
        const sim_user *u = &c->users[idx[j]];
        int64_t sent = d * DAY_S + 15 * 3600 + j * 7;
        int64_t resp = 0;
        int score = -1;
        const char *comment = NULL;
        if (!u->never && rng_chance(r, p_resp)) {
            resp = sent + rng_range(r, 600, 7 * DAY_S);
            if (resp >= c->end_ts) {
                resp = 0;
            } else {
                score = nps_score(a, d, r);
                if (rng_chance(r, 0.25)) {
                    if (score >= 9)
                        comment = promoter_comments[rng_range(r, 0, 3)];
                    else if (score >= 7)
                        comment = passive_comments[rng_range(r, 0, 2)];
                    else
                        comment = detractor_comments[rng_range(r, 0, 4)];
                }
            }
        }
        write_survey(c, a, u, "nps", sent, resp, score, NULL, comment);
    }
}

/* Opens the tickets of day d. Before day 90 of tenure most are
 * introductory (how-to on basic features); later mostly advanced and bugs,
 * except for late_intro_tickets, whose users keep asking the basics. */
static void tickets_day(sim_ctx *c, sim_acct *a, int64_t d, int dow)
{
    static const char *const cats[5] = {"introductory", "advanced", "bug", "billing", "other"};
    static const char *const prios[4] = {"low", "normal", "high", "urgent"};
    static const int w_prio[4] = {30, 50, 15, 5};
    static const int64_t close_lo[4] = {8 * 3600, 4 * 3600, 2 * 3600, 1 * 3600};
    static const int64_t close_hi[4] = {168 * 3600, 72 * 3600, 24 * 3600, 8 * 3600};
    static const int w_early[5] = {45, 8, 20, 12, 15};
    static const int w_late[5] = {8, 35, 30, 12, 15};
    static const int w_intro[5] = {60, 8, 15, 7, 10};
    static const int w_good[5] = {5, 5, 10, 30, 50};
    static const int w_mid[5] = {10, 15, 25, 30, 20};
    static const int w_bad[5] = {30, 30, 25, 10, 5};
    rng *r = &a->rm;
    int drv = a->drv_on ? a->drv : DRV_NONE;
    int after = a->onset != NO_DAY && d >= a->onset;
    int64_t tenure = d - a->cs;
    double lambda = (0.015 + 0.0025 * c->nelig) * (dow == 0 || dow == 6 ? 0.15 : 1.0);
    const int *w = tenure < 90 ? w_early : w_late;
    if (drv == DRV_LATE_INTRO_TICKETS && after) {
        lambda *= 1.6;
        w = w_intro;
    } else if (drv == DRV_POOR_ONBOARDING && tenure < 120) {
        w = w_intro;
    } else if (drv == DRV_DETRACTOR && after) {
        lambda *= 1.5;
    }
    if (lambda > 3.0)
        lambda = 3.0;
    int n = 0;
    for (int i = 0; i < 4; i++)
        n += rng_chance(r, lambda / 4);
    const int *ws = (drv == DRV_DETRACTOR && after)                                 ? w_bad
                    : (drv == DRV_LATE_INTRO_TICKETS || drv == DRV_POOR_ONBOARDING) ? w_mid
                                                                                    : w_good;
    for (int i = 0; i < n; i++) {
        int cat = rng_pick(r, w, 5);
        int prio = rng_pick(r, w_prio, 4);
        const sim_user *u = NULL;
        if (c->nelig && rng_chance(r, 0.95))
            u = &c->users[c->scratch[rng_range(r, 0, c->nelig - 1)]];
        int64_t opened = d * DAY_S + rng_range(r, 8 * 3600, 18 * 3600);
        int64_t closed = opened + rng_range(r, close_lo[prio], close_hi[prio]);
        if (closed >= c->end_ts || rng_chance(r, 0.01))
            closed = 0; /* still open */
        int sat = closed && rng_chance(r, 0.55) ? 1 + rng_pick(r, ws, 5) : -1;

        sim_out *o = &c->out[CW_KIND_TICKETS];
        char *p = out_reserve(o, ROW_MAX);
        *p++ = 'T';
        p = put_mem(p, a->id + 1, a->idlen - 1);
        *p++ = '-';
        p = put_pad(p, (uint64_t)++a->ticket_seq, 4);
        *p++ = ',';
        p = put_mem(p, a->id, a->idlen);
        *p++ = ',';
        if (u)
            p = put_mem(p, u->id, u->idlen);
        *p++ = ',';
        p = put_ts(p, opened);
        *p++ = ',';
        if (closed)
            p = put_ts(p, closed);
        *p++ = ',';
        p = put_s(p, cats[cat]);
        *p++ = ',';
        p = put_s(p, prios[prio]);
        *p++ = ',';
        if (sat > 0)
            p = put_i64(p, sat);
        out_row(o, p);

        /* A CSAT survey follows some closed tickets. */
        if (!closed || !u || !rng_chance(r, 0.3))
            continue;
        int64_t sent = closed + 300;
        if (sent >= c->end_ts)
            continue;
        int64_t resp = 0;
        int score = -1;
        if (rng_chance(r, 0.55)) {
            resp = sent + rng_range(r, 300, 3 * DAY_S);
            if (resp >= c->end_ts)
                resp = 0;
            else if (sat > 0)
                score = (int)clampd(sat + (rng_chance(r, 0.3) ? rng_range(r, -1, 1) : 0), 1, 5);
            else
                score = 1 + rng_pick(r, ws, 5);
        }
        write_survey(c, a, u, "csat", sent, resp, score, NULL, NULL);
    }
}

/* Emits the user's course completions due by day d. */
static void trainings_due(sim_ctx *c, sim_acct *a, sim_user *u, int64_t d)
{
    int64_t next = NO_DAY;
    for (int k = 0; k < NCOURSES; k++) {
        if (u->course_at[k] == NO_DAY)
            continue;
        if (u->course_at[k] > d) {
            if (u->course_at[k] < next)
                next = u->course_at[k];
            continue;
        }
        sim_out *o = &c->out[CW_KIND_TRAININGS];
        char *p = out_reserve(o, ROW_MAX);
        p = put_mem(p, u->id, u->idlen);
        *p++ = ',';
        p = put_mem(p, a->id, a->idlen);
        *p++ = ',';
        p = put_text(p, courses[k].name);
        *p++ = ',';
        p = put_ts(p, d * DAY_S + rng_range(&a->rm, 10 * 3600, 17 * 3600));
        out_row(o, p);
        u->course_at[k] = NO_DAY;
    }
    u->next_course = next;
}

static void write_measurement(sim_ctx *c, const sim_acct *a, const sim_goal *g, int64_t ts,
                              const char *kind, double v)
{
    sim_out *o = &c->out[CW_KIND_GOAL_MEASUREMENTS];
    char *p = out_reserve(o, ROW_MAX);
    *p++ = 'G';
    p = put_mem(p, a->id + 1, a->idlen - 1);
    *p++ = '-';
    p = put_i64(p, g->num);
    *p++ = ',';
    p = put_ts(p, ts);
    *p++ = ',';
    p = put_s(p, kind);
    *p++ = ',';
    p = put_real(p, v);
    out_row(o, p);
}

/* Goal measurements due on day d: monthly actuals on the linear path
 * scaled by the account's attainment, with noise (outcome_behind lands far
 * below the path), and the agreed checkpoints some goals have. */
static void goals_day(sim_ctx *c, sim_acct *a, int64_t d)
{
    for (int i = 0; i < a->ngoals; i++) {
        sim_goal *g = &a->goals[i];
        double span = (double)(g->target_day - g->start_day);
        for (int k = 0; k < 2; k++) {
            if (g->check_day[k] == NO_DAY || d < g->check_day[k])
                continue;
            if (g->check_day[k] == d) {
                double f = (double)(d - g->start_day) / span;
                write_measurement(c, a, g, d * DAY_S, "expected",
                                  g->baseline + (g->target - g->baseline) * f);
            }
            g->check_day[k] = NO_DAY;
        }
        while (g->next_meas != NO_DAY && g->next_meas < d) {
            g->next_meas += 30; /* catch up over days the account was not live */
            if (g->next_meas > g->target_day + 90)
                g->next_meas = NO_DAY;
        }
        if (g->next_meas != d)
            continue;
        double f = (double)(d - g->start_day) / span;
        double attain = g->attain;
        if (!a->drv_on && attain < 0.8)
            attain += (0.9 - attain) * 0.5; /* a comeback does better */
        double prog = clampd(f * attain + 0.04 * rng_normal(&a->rm), -0.05, 1.3);
        write_measurement(c, a, g, d * DAY_S + 12 * 3600, "actual",
                          g->baseline + (g->target - g->baseline) * prog);
    }
}

/* ---------------------------------------------------------------------
 * Account set-up
 * ------------------------------------------------------------------- */

/* The account's name (some need CSV quoting) and its users' e-mail domain. */
static void account_name(sim_acct *a, rng *r)
{
    int word = (int)rng_range(r, 0, NWORDS - 1);
    int pat = (int)rng_range(r, 0, 99);
    long long n = (long long)a->idx;
    const char *w = company_words[word];
    if (pat < 25)
        snprintf(a->name, sizeof a->name, "Company %lld Ltd", n);
    else if (pat < 40)
        snprintf(a->name, sizeof a->name, "%s, Inc. %lld", w, n);
    else if (pat < 50)
        snprintf(a->name, sizeof a->name, "%s Group %lld", w, n);
    else if (pat < 60)
        snprintf(a->name, sizeof a->name, "%s & Sons %lld", w, n);
    else if (pat < 70)
        snprintf(a->name, sizeof a->name, "%s Analytics %lld", w, n);
    else if (pat < 80)
        snprintf(a->name, sizeof a->name, "%s Logistics %lld", w, n);
    else if (pat < 88)
        snprintf(a->name, sizeof a->name, "%s GmbH %lld", w, n);
    else if (pat < 97)
        snprintf(a->name, sizeof a->name, "%s Labs %lld", w, n);
    else
        snprintf(a->name, sizeof a->name, "\"%s\" Studio %lld", w, n);
    size_t dl = 0;
    for (const char *s = pat < 25 ? "company" : w; *s && dl < 40; s++) {
        if (*s >= 'A' && *s <= 'Z')
            a->domain[dl++] = (char)(*s - 'A' + 'a');
        else if (*s >= 'a' && *s <= 'z')
            a->domain[dl++] = *s;
    }
    snprintf(a->domain + dl, sizeof a->domain - dl, "%lld.example", n);
}

/* The driver's onset day and its effect on staffing, training and churn
 * timing. Needs the renewal schedule: an annual account's trouble starts
 * some months before the renewal it decides, as it does in life. */
static void account_driver(sim_ctx *c, sim_acct *a, rng *r)
{
    int64_t F = a->first_day, E = c->end_day;
    int64_t R = a->annual && a->next_renewal < E ? a->next_renewal : NO_DAY;
    switch (a->drv) {
    case DRV_POOR_ONBOARDING:
        a->onset = a->cs;
        a->prov_frac = rng_between(r, 0.45, 0.75);
        a->never_p = 0.15;
        a->train_f = 0.25;
        break;
    case DRV_UNUSED_LICENCES:
        a->onset = a->cs;
        a->prov_frac = rng_between(r, 0.25, 0.45);
        a->never_p = 0.15;
        a->train_f = 0.6;
        break;
    case DRV_NARROW_USAGE:
        a->onset = a->existing ? F + rng_range(r, -60, 60) : a->cs + rng_range(r, 20, 60);
        if (R != NO_DAY && a->onset > R - 90)
            a->onset = R - rng_range(r, 90, 200);
        if (a->onset < a->cs + 20)
            a->onset = a->cs + 20;
        a->n_power = (int)rng_range(r, 1, 2);
        a->prov_frac = rng_between(r, 0.6, 0.95);
        break;
    case DRV_FALLING_ENGAGEMENT:
    case DRV_DETRACTOR: {
        int det = a->drv == DRV_DETRACTOR;
        int64_t lo = a->cs + (det ? 30 : 45);
        if (lo < F)
            lo = F;
        int64_t hi = (R != NO_DAY ? R : E) - (det ? 60 : 45);
        if (R != NO_DAY && hi - lo > 150)
            lo = hi - 150;
        a->onset = hi > lo ? rng_range(r, lo, hi) : lo;
        a->fall_step = 1.0 - 1.0 / rng_between(r, 35, 80);
        break;
    }
    case DRV_LATE_INTRO_TICKETS: {
        int64_t lo = a->cs + 90;
        int64_t alt = R != NO_DAY ? R - rng_range(r, 60, 150) : F + rng_range(r, 0, 90);
        a->onset = lo > alt ? lo : alt;
        a->train_f = 0.4;
        break;
    }
    case DRV_OUT_OF_BUSINESS:
    case DRV_OUTGREW:
    case DRV_STAFF_CHANGE: {
        /* Some fall after the period: those accounts do not churn in it. */
        int64_t lo = F + 30;
        int64_t hi = E + (E - F) / 4;
        a->onset = hi > lo ? rng_range(r, lo, hi) : lo;
        a->nat_churn = a->onset;
        if (a->drv == DRV_OUTGREW)
            a->nat_churn += rng_range(r, 30, 60);
        else if (a->drv == DRV_STAFF_CHANGE)
            a->nat_churn += rng_range(r, 30, 75);
        break;
    }
    default: break; /* outcome_behind: the first goal's start, set with the goals */
    }
}

/* Goals agreed at signing (1–2), written when they start within the period. */
static void account_goals(sim_ctx *c, sim_acct *a)
{
    rng *m = &a->rm;
    int ng = rng_chance(m, 0.5) ? 2 : 1;
    int first_metric = (int)rng_range(m, 0, NMETRICS - 1);
    for (int k = 0; k < ng; k++) {
        sim_goal *g = &a->goals[a->ngoals];
        const metric_def *md = &metrics[(first_metric + k * 3) % NMETRICS];
        g->num = k + 1;
        g->start_day = a->cs + rng_range(m, 7, 30);
        g->target_day = g->start_day + (rng_chance(m, 0.5) ? 180 : 365);
        g->baseline = md->base_lo + (md->base_hi - md->base_lo) * rng_unif(m);
        g->target = md->target_lo + (md->target_hi - md->target_lo) * rng_unif(m);
        g->baseline = (double)(int64_t)(g->baseline * 10 + 0.5) / 10;
        g->target = (double)(int64_t)(g->target * 10 + 0.5) / 10;
        switch (a->drv) {
        case DRV_OUTCOME_BEHIND: g->attain = rng_between(m, 0.15, 0.45); break;
        case DRV_POOR_ONBOARDING: g->attain = rng_between(m, 0.4, 0.75); break;
        case DRV_FALLING_ENGAGEMENT:
        case DRV_NARROW_USAGE: g->attain = rng_between(m, 0.6, 0.9); break;
        case DRV_UNUSED_LICENCES:
        case DRV_DETRACTOR:
        case DRV_LATE_INTRO_TICKETS: g->attain = rng_between(m, 0.7, 1.0); break;
        default: g->attain = rng_between(m, 0.85, 1.2); break;
        }
        g->next_meas = g->start_day + 30;
        g->check_day[0] = g->check_day[1] = NO_DAY;
        if (rng_chance(m, 0.3)) {
            g->check_day[0] = g->start_day + 90;
            int64_t mid = g->start_day + (g->target_day - g->start_day) / 2;
            if (mid > g->check_day[0])
                g->check_day[1] = mid;
        }
        if (g->start_day >= c->end_day)
            continue; /* agreed for after the period */
        a->ngoals++;
        if (a->drv == DRV_OUTCOME_BEHIND && a->onset == NO_DAY)
            a->onset = g->start_day;
        sim_out *o = &c->out[CW_KIND_GOALS];
        char *p = out_reserve(o, ROW_MAX);
        *p++ = 'G';
        p = put_mem(p, a->id + 1, a->idlen - 1);
        *p++ = '-';
        p = put_i64(p, g->num);
        *p++ = ',';
        p = put_mem(p, a->id, a->idlen);
        *p++ = ',';
        p = put_text(p, md->metric);
        *p++ = ',';
        p = put_text(p, md->unit);
        *p++ = ',';
        p = put_real(p, g->baseline);
        *p++ = ',';
        p = put_real(p, g->target);
        *p++ = ',';
        p = put_date(p, g->start_day);
        *p++ = ',';
        p = put_date(p, g->target_day);
        out_row(o, p);
    }
    if (a->drv == DRV_OUTCOME_BEHIND && a->onset == NO_DAY)
        a->onset = a->cs + 14;
}

/* Draws the account's segment, price, contract, driver, onboarding and
 * staffing plan, and writes what is known at signing: the initial
 * subscription and the goals. */
static void account_init(sim_ctx *c, sim_acct *a, int64_t i)
{
    static const int w_seg[3] = {60, 30, 10};
    const uint64_t seed = c->o->seed;
    memset(a, 0, sizeof *a);
    a->idx = i;
    rng_init(&a->rp, seed, (uint64_t)i, 1);
    rng_init(&a->re, seed, (uint64_t)i, 2);
    rng_init(&a->rm, seed, (uint64_t)i, 3);
    rng_init(&a->rx, seed, (uint64_t)i, 4);
    a->pv_onset = NO_DAY;
    if (c->o->product_events && rng_chance(&a->rx, PV_LOST_SHARE)) {
        a->pv_lost = 1;
        a->pv_onset = rng_range(&a->rx, c->start_day + 60, c->end_day);
    }
    rng *r = &a->rp;
    a->id[0] = 'A';
    a->idlen = (size_t)(put_pad(a->id + 1, (uint64_t)i, 6) - a->id);
    a->id[a->idlen] = '\0';

    a->seg = rng_pick(r, w_seg, 3);
    const seg_def *sg = &segs[a->seg];
    a->drv = rng_pick(r, driver_weight, DRV__COUNT);
    a->drv_on = 1;
    a->annual = rng_chance(r, sg->p_annual);
    /* Poor onboarding needs its first 90 days inside the period. */
    a->existing = a->drv != DRV_POOR_ONBOARDING && rng_chance(r, sg->p_existing);
    int64_t span = c->end_day - c->start_day;
    if (a->existing) {
        a->cs = c->start_day - rng_range(r, 1, 365);
    } else {
        int64_t room = span > 45 ? span - 30 : span;
        a->cs = c->start_day + rng_range(r, 0, room - 1);
    }
    a->first_day = a->cs > c->start_day ? a->cs : c->start_day;
    double u3 = rng_unif(r);
    u3 = u3 * u3 * u3; /* most accounts are at the small end of their segment */
    a->seats = sg->seats_lo + (int)((sg->seats_hi - sg->seats_lo) * u3 + 0.5);
    int disc = (int)rng_range(r, sg->disc_lo, sg->disc_hi);
    a->price_cents = sg->list_cents * (100 - disc) / 100;
    a->owner = (int)rng_range(r, 0, c->n_csm - 1);
    account_name(a, r);

    int nd = (int)rng_range(r, sg->depts_lo, sg->depts_hi);
    int perm[NDEPTS];
    for (int k = 0; k < NDEPTS; k++)
        perm[k] = k;
    for (int k = 0; k < nd; k++) {
        int j = k + (int)rng_range(r, 0, NDEPTS - 1 - k);
        int t = perm[k];
        perm[k] = perm[j];
        perm[j] = t;
        a->depts[k] = (uint8_t)perm[k];
    }
    a->ndepts = nd;

    /* Onboarding milestones (tenure days, -1 = never reached). */
    int poor = a->drv == DRV_POOR_ONBOARDING;
    a->ms_day[MS_SETUP] = (int)(poor ? rng_range(r, 5, 20) : rng_range(r, 1, 5));
    a->ms_day[MS_TEAM] =
        a->ms_day[MS_SETUP] + (int)(poor ? rng_range(r, 10, 35) : rng_range(r, 1, 8));
    if (poor)
        a->ms_day[MS_REPORT] = rng_chance(r, 0.5) ? (int)rng_range(r, 35, 120) : -1;
    else if (a->drv == DRV_LATE_INTRO_TICKETS)
        a->ms_day[MS_REPORT] = (int)rng_range(r, 14, 40);
    else
        a->ms_day[MS_REPORT] = (int)rng_range(r, 7, 28);
    double p_int = poor ? 0.1 : a->seg == 2 ? 0.9 : 0.7;
    a->ms_day[MS_INTEGRATION] = -1;
    if (rng_chance(r, p_int))
        a->ms_day[MS_INTEGRATION] = (int)(poor ? rng_range(r, 60, 150) : rng_range(r, 20, 55));
    for (int k = 0; k < MS__COUNT; k++)
        if (a->ms_day[k] >= 0 && a->cs + a->ms_day[k] < c->start_day)
            a->ms_done[k] = 1;
    a->integration_on = a->ms_done[MS_INTEGRATION];

    /* Staffing and behaviour. */
    a->n_first = a->seg == 2 ? (int)rng_range(r, 2, 3) : a->seg == 1 ? (int)rng_range(r, 1, 2) : 1;
    a->ramp_start = a->cs;
    a->invite_t = a->ms_day[MS_TEAM];
    a->ramp_days = (int)(poor ? rng_range(r, 60, 150) : rng_range(r, 20, 60));
    a->prov_frac = rng_between(r, 0.8, 1.0);
    a->never_p = 0.05;
    a->train_f = 1.0;
    a->base_mult = rng_between(r, 0.85, 1.1);
    a->nps_bias = rng_between(r, -0.8, 0.8);
    a->fall = 1.0;
    a->expand_until = NO_DAY;
    a->onset = NO_DAY;
    a->nat_churn = NO_DAY;
    a->first_churn = a->last_churn = NO_DAY;
    a->react_day = NO_DAY;

    /* Renewals: monthly or annual anniversaries of the contract start. */
    a->renew_months = a->annual ? 12 : 1;
    a->renew_anchor = a->cs;
    a->renew_k = 1;
    a->next_renewal = add_months(a->cs, a->renew_months);
    while (a->next_renewal < a->first_day)
        a->next_renewal = add_months(a->cs, (int64_t)a->renew_months * ++a->renew_k);
    account_driver(c, a, r);

    /* NPS goes out quarterly, on a per-account day of the quarter's first month. */
    a->nps_off = (int)rng_range(r, 0, 20);
    a->nps_q = 0;
    a->nps_next = c->start_day + a->nps_off;
    while (a->nps_next < a->first_day)
        a->nps_next = add_months(c->start_day, 3 * (int64_t)++a->nps_q) + a->nps_off;

    write_subscription(c, a, a->cs, a->seats);
    account_goals(c, a);
}

/* The journey: the customer's own visit → lead → registration → paid path
 * (squeezed into the period when it began before it; left out for accounts
 * that signed before the period), plus visitors and leads who never buy.
 * Upgrades are written at expansions. */
static void journey_init(sim_ctx *c, sim_acct *a)
{
    rng *r = &a->rm;
    int w_src[NSOURCES];
    for (int k = 0; k < NSOURCES; k++)
        w_src[k] = sources[k].weight;
    a->src = rng_pick(r, w_src, NSOURCES);
    const source_def *sd = &sources[a->src];
    const char *camp = sd->campaigns[rng_range(r, 0, 2)];
    int64_t paid = a->cs * DAY_S + 12 * 3600 + rng_range(r, 0, 3600);
    int64_t reg = paid - rng_range(r, 1, 20) * DAY_S - rng_range(r, 0, 6 * 3600);
    int64_t lead = reg - rng_range(r, 1, 20) * DAY_S - rng_range(r, 0, 6 * 3600);
    int64_t visit = lead - rng_range(r, 0, 14) * DAY_S - rng_range(r, 600, 6 * 3600);
    int64_t visit_cost = sd->visit_hi ? rng_range(r, sd->visit_lo, sd->visit_hi) : -1;
    int64_t lead_cost = sd->lead_hi ? rng_range(r, sd->lead_lo, sd->lead_hi) : -1;
    int64_t paid_cost = a->src == SRC_PARTNER ? a->seats * a->price_cents / 5 : -1;
    char vid[32];
    snprintf(vid, sizeof vid, "V%s", a->id + 1);
    if (a->cs >= c->start_day) {
        if (visit < c->start_ts) {
            int64_t num = paid - c->start_ts - 3600, den = paid - visit;
            reg = paid - (paid - reg) * num / den;
            lead = paid - (paid - lead) * num / den;
            visit = paid - (paid - visit) * num / den;
        }
        write_journey(c, vid, "visit", visit, a->src, camp, visit_cost, NULL);
        write_journey(c, vid, "lead", lead, a->src, camp, lead_cost, NULL);
        write_journey(c, vid, "registration", reg, a->src, camp, -1, NULL);
        write_journey(c, vid, "paid", paid, a->src, camp, paid_cost, a);
    }
    int nv = (int)rng_range(r, 6, 16);
    for (int k = 1; k <= nv; k++) {
        int src = rng_pick(r, w_src, NSOURCES);
        const source_def *s2 = &sources[src];
        const char *cp = s2->campaigns[rng_range(r, 0, 2)];
        snprintf(vid, sizeof vid, "V%s-%02d", a->id + 1, k);
        int64_t t = rng_range(r, c->start_ts, c->end_ts - 1);
        write_journey(c, vid, "visit", t, src, cp,
                      s2->visit_hi ? rng_range(r, s2->visit_lo, s2->visit_hi) : -1, NULL);
        if (!rng_chance(r, 0.25))
            continue;
        t += rng_range(r, 3600, 10 * DAY_S);
        if (t >= c->end_ts)
            continue;
        write_journey(c, vid, "lead", t, src, cp,
                      s2->lead_hi ? rng_range(r, s2->lead_lo, s2->lead_hi) : -1, NULL);
        if (!rng_chance(r, 0.3))
            continue;
        t += rng_range(r, 3600, 14 * DAY_S);
        if (t < c->end_ts)
            write_journey(c, vid, "registration", t, src, cp, -1, NULL);
    }
}

/* The users of an account on its first simulated day: for an account that
 * signed before the period, as if its ramp had run; else its first admins. */
static void account_staff(sim_ctx *c, sim_acct *a)
{
    rng *r = &a->rp;
    if (!a->existing) {
        for (int k = 0; k < a->n_first; k++)
            if (!add_user(c, a, a->cs, 8 * 3600 + k * 900 + (int)rng_range(r, 0, 600), ROLE_ADMIN))
                return;
        return;
    }
    int want = desired_users(a, a->first_day);
    for (int k = 0; k < want; k++) {
        int64_t d = k < a->n_first ? a->cs : rng_range(r, a->cs, a->first_day - 1);
        int role = k < a->n_first ? ROLE_ADMIN : -1;
        if (!add_user(c, a, d, 9 * 3600 + (int)rng_range(r, 0, 8 * 3600), role))
            return;
    }
}

/* ---------------------------------------------------------------------
 * One account, day by day
 * ------------------------------------------------------------------- */

static void write_users(sim_ctx *c, const sim_acct *a)
{
    sim_out *o = &c->out[CW_KIND_USERS];
    for (size_t i = 0; i < c->nusers; i++) {
        const sim_user *u = &c->users[i];
        char *p = out_reserve(o, ROW_MAX);
        p = put_mem(p, u->id, u->idlen);
        *p++ = ',';
        p = put_mem(p, a->id, a->idlen);
        *p++ = ',';
        p = put_s(p, first_names[u->fname]);
        *p++ = '.';
        p = put_s(p, last_names[u->lname]);
        *p++ = '.';
        p = put_i64(p, u->num);
        *p++ = '@';
        p = put_s(p, a->domain);
        *p++ = ',';
        p = put_s(p, role_names[u->role]);
        *p++ = ',';
        p = put_text(p, dept_names[u->dept]);
        *p++ = ',';
        p = put_ts(p, u->prov_ts);
        *p++ = ',';
        if (u->deact_day != NO_DAY)
            p = put_ts(p, u->deact_ts);
        out_row(o, p);
    }
}

/* The account's final state (accounts.csv) and its ground truth; adds it to
 * the manifest's totals. */
static void write_account_rows(sim_ctx *c, sim_acct *a)
{
    static const char *const owner_first[10] = {"dana", "kofi", "lena",  "marco", "priya",
                                                "sven", "tara", "yusuf", "elif",  "jonas"};
    static const char *const owner_last[10] = {"kim",  "mensah", "vogel", "bianchi", "iyer",
                                               "lund", "reyes",  "demir", "aydin",   "weber"};
    sim_out *o = &c->out[CW_KIND_ACCOUNTS];
    char *p = out_reserve(o, ROW_MAX);
    p = put_mem(p, a->id, a->idlen);
    *p++ = ',';
    p = put_text(p, a->name);
    *p++ = ',';
    p = put_s(p, segs[a->seg].name);
    *p++ = ',';
    p = put_s(p, owner_first[a->owner % 10]);
    *p++ = '.';
    p = put_s(p, owner_last[a->owner / 10 % 10]);
    if (a->owner >= 100)
        p = put_i64(p, a->owner / 100);
    p = put_s(p, "@vendor.example,");
    p = put_date(p, a->cs);
    *p++ = ',';
    p = put_i64(p, a->seats);
    *p++ = ',';
    int64_t mrr = (int64_t)a->seats * a->price_cents;
    p = put_i64(p, mrr);
    p = put_s(p, ",USD,");
    if (!a->churned_now) {
        int64_t nr = a->next_renewal, k = a->renew_k;
        while (nr < c->end_day)
            nr = add_months(a->renew_anchor, (int64_t)a->renew_months * ++k);
        p = put_date(p, nr);
        p = put_s(p, ",active,,");
        c->active_now++;
        c->mrr_active += mrr;
        c->seats_active += a->seats;
    } else {
        p = put_s(p, ",churned,");
        p = put_date(p, a->last_churn);
        *p++ = ',';
        p = put_text(p, a->churn_reason);
        c->churned_now++;
    }
    out_row(o, p);

    sim_out *g = &c->out[OUT_TRUTH];
    p = out_reserve(g, ROW_MAX);
    p = put_mem(p, a->id, a->idlen);
    *p++ = ',';
    p = put_s(p, driver_names[a->drv]);
    p = put_s(p, a->first_churn != NO_DAY ? ",1," : ",0,");
    if (a->first_churn != NO_DAY)
        p = put_date(p, a->first_churn);
    *p++ = ',';
    if (a->onset < c->end_day) /* a driver that had not begun by the end has no onset */
        p = put_date(p, a->onset);
    p = put_s(p, is_natural(a->drv) ? ",1" : ",0");
    out_row(g, p);
    c->drv_n[a->drv]++;
    if (a->first_churn != NO_DAY) {
        c->drv_churned[a->drv]++;
        c->churned_ever++;
    }
    if (a->reactivated)
        c->reactivated++;
}

/* The account's activity multiplier on day d, before the weekday factor.
 * Advances falling engagement's decay, so call it once per day. */
static double activity_mult(sim_acct *a, int64_t d)
{
    double m = a->base_mult;
    if (!a->drv_on)
        return m;
    int after = a->onset != NO_DAY && d >= a->onset;
    switch (a->drv) {
    case DRV_POOR_ONBOARDING: return m * (d - a->cs < 90 ? 0.35 : 0.45);
    case DRV_UNUSED_LICENCES: return m * 0.85;
    case DRV_FALLING_ENGAGEMENT:
        if (!after)
            return m;
        a->fall *= a->fall_step;
        if (a->fall < 0.05)
            a->fall = 0.05;
        return m * a->fall;
    case DRV_LATE_INTRO_TICKETS: return m * 0.85;
    case DRV_DETRACTOR: return after ? m * 0.85 : m;
    default: return m;
    }
}

/* The share of a user's feature events that go to advanced features, as a
 * factor of their own affinity. */
static double advanced_factor(const sim_acct *a, int after)
{
    if (!a->drv_on)
        return 1.0;
    switch (a->drv) {
    case DRV_POOR_ONBOARDING: return 0.3;
    case DRV_LATE_INTRO_TICKETS: return after ? 0.25 : 0.4;
    case DRV_UNUSED_LICENCES: return 0.8;
    case DRV_FALLING_ENGAGEMENT: return after ? a->fall : 1.0;
    default: return 1.0;
    }
}

/* People leave (and are replaced later); falling engagement empties seats,
 * staff_change loses its champion on the onset day. */
static void staff_turnover(sim_ctx *c, sim_acct *a, int64_t d, int after)
{
    rng *r = &a->rp;
    if (a->drv_on && a->drv == DRV_STAFF_CHANGE && d == a->onset) {
        for (size_t k = 0; k < c->nusers; k++) {
            if (c->users[k].deact_day == NO_DAY && c->users[k].role == ROLE_ADMIN &&
                c->users[k].prov_day < d) {
                deactivate(a, &c->users[k], d * DAY_S + 17 * 3600);
                break;
            }
        }
    }
    double h_leave = 0.16 / 365;
    if (after && a->drv == DRV_FALLING_ENGAGEMENT)
        h_leave += 0.004;
    else if (after && a->drv == DRV_DETRACTOR)
        h_leave += 0.0008;
    for (size_t k = 0; k < c->nusers; k++) {
        sim_user *u = &c->users[k];
        if (u->deact_day == NO_DAY && u->prov_day < d && rng_unif(r) < h_leave)
            deactivate(a, u, d * DAY_S + rng_range(r, 9 * 3600, 18 * 3600));
    }
}

/* Provisions users toward desired_users(): at once during the ramp, fast
 * after an expansion, slowly (weeks) to replace people who left. Returns
 * how many were invited. */
static int staff_provision(sim_ctx *c, sim_acct *a, int64_t d)
{
    rng *r = &a->rp;
    int invites = 0;
    int deficit = desired_users(a, d) - a->n_active;
    if (deficit <= 0)
        return 0;
    int64_t t = d - a->ramp_start;
    int ramp = t >= a->invite_t && t < a->invite_t + a->ramp_days + 7;
    double p_fill = d < a->expand_until ? 0.25 : 0.07;
    for (int k = 0; k < deficit; k++) {
        if (!ramp && !rng_chance(r, p_fill))
            continue;
        if (!add_user(c, a, d, 9 * 3600 + (int)rng_range(r, 0, 8 * 3600), -1))
            break;
        invites++;
    }
    return invites;
}

/* Simulates account i over the whole period and writes all its rows. */
static void sim_account(sim_ctx *c, int64_t i)
{
    sim_acct acct, *a = &acct;
    c->nusers = 0;
    account_init(c, a, i);
    journey_init(c, a);
    account_staff(c, a);

    for (int64_t d = a->first_day; d < c->end_day && !c->nomem; d++) {
        if (a->churned_now) {
            if (d < a->react_day)
                continue;
            reactivate(c, a, d);
        }
        if (d >= a->next_renewal) {
            a->next_renewal = add_months(a->renew_anchor, (int64_t)a->renew_months * ++a->renew_k);
            if (renewal(c, a, d))
                continue;
        }
        /* Going out of business ends the contract at once, mid-term. */
        if (a->drv_on && a->drv == DRV_OUT_OF_BUSINESS && d == a->nat_churn) {
            churn(c, a, d);
            continue;
        }
        int dow = weekday(d);
        int after = a->drv_on && a->onset != NO_DAY && d >= a->onset;
        double mult = activity_mult(a, d);
        staff_turnover(c, a, d, after);
        int invites = staff_provision(c, a, d);

        /* Milestones and invites are done by an admin (or anyone) who is around. */
        int forced[MS__COUNT + 1], nforced = 0;
        int64_t tenure = d - a->cs;
        int due[MS__COUNT];
        for (int k = 0; k < MS__COUNT; k++)
            due[k] = !a->ms_done[k] && a->ms_day[k] >= 0 && tenure >= a->ms_day[k];
        int performer = -1;
        if (due[MS_SETUP] || due[MS_REPORT] || due[MS_INTEGRATION] || invites) {
            for (size_t k = 0; k < c->nusers && performer < 0; k++)
                if (c->users[k].role == ROLE_ADMIN && c->users[k].deact_day == NO_DAY)
                    performer = (int)k;
            for (size_t k = 0; k < c->nusers && performer < 0; k++)
                if (c->users[k].deact_day == NO_DAY && !c->users[k].never)
                    performer = (int)k;
        }
        if (performer >= 0) {
            if (due[MS_SETUP])
                forced[nforced++] = EV_WORKSPACE_SETUP, a->ms_done[MS_SETUP] = 1;
            if (invites)
                forced[nforced++] = EV_USER_INVITE, a->ms_done[MS_TEAM] = 1;
            if (due[MS_REPORT])
                forced[nforced++] = EV_REPORT_CREATE, a->ms_done[MS_REPORT] = 1;
            if (due[MS_INTEGRATION])
                forced[nforced++] = EV_INTEGRATION_CONNECT, a->ms_done[MS_INTEGRATION] = 1;
        }

        /* Product usage. */
        *put_date(c->dayprefix, d) = 'T';
        double day_mult = mult * (dow == 0 ? 0.08 : dow == 6 ? 0.12 : 1.0);
        int narrow_after = after && a->drv == DRV_NARROW_USAGE;
        double adv_f = advanced_factor(a, after);
        rng *re = &a->re;
        c->nelig = 0;
        for (size_t k = 0; k < c->nusers; k++) {
            sim_user *u = &c->users[k];
            if (u->prov_day > d || u->deact_day <= d)
                continue;
            c->scratch[c->nelig++] = (int)k;
            if (u->next_course <= d)
                trainings_due(c, a, u, d);
            int is_perf = (int)k == performer;
            double p = u->never ? 0.0 : u->p_active * day_mult;
            if (narrow_after && u->silent)
                p *= 0.02;
            if (!is_perf && !(rng_unif(re) < p))
                continue;
            int64_t ten = d - u->prov_day;
            double ramp = ten >= u->adopt_days ? 1.0 : (double)ten / u->adopt_days;
            double p_adv = u->adv * ramp * adv_f * (u->power ? 1.2 : 1.0);
            user_day(c, a, u, d, is_perf ? forced : NULL, is_perf ? nforced : 0, invites, p_adv);
        }
        if (a->integration_on) {
            for (int s = 0; s < 2; s++) {
                int sec = s * 12 * 3600 + 300 + (int)rng_range(re, 0, 240);
                write_event(c, a, NULL, sec, EV_INTEGRATION_SYNC, VAL_INT,
                            rng_range(re, 50, 5000) * (a->seg + 1));
            }
        }
        if (a->ms_done[MS_INTEGRATION])
            a->integration_on = 1; /* syncs start the day after the connection */

        tickets_day(c, a, d, dow);
        if (d >= a->nps_next) {
            if (d == a->nps_next && tenure >= 30)
                send_nps(c, a, d);
            while (a->nps_next <= d)
                a->nps_next = add_months(c->start_day, 3 * (int64_t)++a->nps_q) + a->nps_off;
        }
        goals_day(c, a, d);
    }
    write_users(c, a);
    write_account_rows(c, a);
    c->events += a->events;
}

/* ---------------------------------------------------------------------
 * Files, manifest, entry points
 * ------------------------------------------------------------------- */

/* A malloc'd formatted message (caller frees), or NULL. */
static char *msgf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *msgf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static char *join_path(const char *dir, const char *name)
{
    size_t dl = strlen(dir);
    return msgf("%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", name);
}

/* Opens output k (gzip level 1 for events when asked: speed over ratio) and
 * buffers its header. */
static cw_status out_open(sim_ctx *c, int k, const char *name, char **errmsg)
{
    sim_out *o = &c->out[k];
    o->path = join_path(c->o->out_dir, name);
    o->cap = k == CW_KIND_EVENTS ? EVENTS_BUF : OTHER_BUF;
    o->buf = malloc(o->cap);
    if (!o->path || !o->buf) {
        if (errmsg)
            *errmsg = msgf("out of memory");
        return CW_ERR_NOMEM;
    }
    errno = 0;
    if (k == CW_KIND_EVENTS && c->o->gzip) {
        o->gz = gzopen(o->path, "wb1");
        if (o->gz)
            gzbuffer(o->gz, 1 << 18);
    } else {
        o->fp = fopen(o->path, "wb");
    }
    if (!o->gz && !o->fp) {
        if (errmsg)
            *errmsg = msgf("cannot create %s: %s", o->path, strerror(errno ? errno : EIO));
        return CW_ERR_IO;
    }
    char *p = out_reserve(o, ROW_MAX);
    p = put_s(p, out_headers[k]);
    *p++ = '\n';
    o->len = (size_t)(p - o->buf);
    return CW_OK;
}

/* Flushes and closes an output; returns its first error (errno) or 0. */
static int out_close(sim_out *o)
{
    if (o->fp || o->gz)
        out_flush(o);
    if (o->fp) {
        if (fclose(o->fp) != 0 && !o->err)
            o->err = errno ? errno : EIO;
        o->fp = NULL;
    }
    if (o->gz) {
        if (gzclose(o->gz) != Z_OK && !o->err)
            o->err = errno ? errno : EIO;
        o->gz = NULL;
    }
    return o->err;
}

static void write_features(sim_ctx *c)
{
    sim_out *o = &c->out[CW_KIND_FEATURES];
    for (int e = 0; e < EV__COUNT; e++) {
        const ev_def *d = &evdefs[e];
        char *p = out_reserve(o, ROW_MAX);
        p = put_s(p, d->name);
        *p++ = ',';
        p = put_text(p, d->feature);
        *p++ = ',';
        p = put_s(p, d->advanced ? "advanced" : "basic");
        *p++ = ',';
        if (d->milestone)
            p = put_s(p, d->milestone);
        *p++ = ',';
        if (d->due_day >= 0)
            p = put_i64(p, d->due_day);
        *p++ = ',';
        p = put_s(p, d->first_value ? "true" : "false");
        out_row(o, p);
    }
}

/* manifest.json: the options and the simulator's own counts, which the
 * end-to-end test compares with what the store holds after ingest. */
static cw_status write_manifest(sim_ctx *c, char **errmsg)
{
    char *path = join_path(c->o->out_dir, "manifest.json");
    if (!path) {
        if (errmsg)
            *errmsg = msgf("out of memory");
        return CW_ERR_NOMEM;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        if (errmsg)
            *errmsg = msgf("cannot create %s: %s", path, strerror(errno));
        free(path);
        return CW_ERR_IO;
    }
    char sd[16], ed[16];
    *put_date(sd, c->start_day) = '\0';
    *put_date(ed, c->end_day) = '\0';
    fprintf(f,
            "{\n  \"seed\": %llu,\n  \"accounts\": %lld,\n  \"start\": \"%s\",\n"
            "  \"end\": \"%s\",\n  \"months\": %d,\n  \"gzip\": %s,",
            (unsigned long long)c->o->seed, (long long)c->o->accounts, sd, ed, c->o->months,
            c->o->gzip ? "true" : "false");
    if (c->o->churn_shift_factor > 0) { /* only when asked for: other manifests stay the same */
        char cd[16];
        *put_date(cd, c->o->churn_shift_day) = '\0';
        fprintf(f, "\n  \"churn_shift\": {\"from\": \"%s\", \"factor\": %g},", cd,
                c->o->churn_shift_factor);
    }
    fprintf(f, "\n  \"rows\": {");
    for (int k = 1; k < CW_KIND__COUNT; k++)
        if (kind_names[k])
            fprintf(f, "%s\n    \"%s\": %lld", k > 1 ? "," : "", kind_names[k],
                    (long long)c->out[k].rows);
    fprintf(f,
            "\n  },\n  \"events\": %lld,\n  \"churned_accounts\": %lld,\n"
            "  \"churned_at_least_once\": %lld,\n  \"reactivated_accounts\": %lld,\n"
            "  \"active_accounts_at_end\": %lld,\n  \"active_mrr_minor_at_end\": %lld,\n"
            "  \"currency\": \"USD\",\n  \"seats_active_at_end\": %lld,\n  \"drivers\": {",
            (long long)c->events, (long long)c->churned_now, (long long)c->churned_ever,
            (long long)c->reactivated, (long long)c->active_now, (long long)c->mrr_active,
            (long long)c->seats_active);
    for (int k = 0; k < DRV__COUNT; k++)
        fprintf(f, "%s\n    \"%s\": {\"accounts\": %lld, \"churned\": %lld}", k ? "," : "",
                driver_names[k], (long long)c->drv_n[k], (long long)c->drv_churned[k]);
    fprintf(f, "\n  }\n}\n");
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        if (errmsg)
            *errmsg = msgf("cannot write %s: %s", path, strerror(errno ? errno : EIO));
        free(path);
        return CW_ERR_IO;
    }
    free(path);
    return CW_OK;
}

static double now_s(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Creates dir when missing (one level); an existing directory is fine. */
static cw_status make_dir(const char *dir, char **errmsg)
{
    struct stat st;
    if (mkdir(dir, 0777) == 0)
        return CW_OK;
    int e = errno;
    if (e == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return CW_OK;
    if (errmsg)
        *errmsg = msgf("cannot create directory %s: %s", dir, strerror(e == EEXIST ? ENOTDIR : e));
    return CW_ERR_IO;
}

void cw_sim_opts_init(cw_sim_opts *o)
{
    memset(o, 0, sizeof *o);
    o->accounts = 500;
    o->start_day = civ_days(2025, 1, 1);
    o->months = 12;
    o->seed = 42;
}

/* CW_OK when o can be simulated, else CW_ERR_USAGE with why in *msg
 * (caller frees). */
static cw_status sim_check_opts(const cw_sim_opts *o, char **msg)
{
    if (!o || !o->out_dir || !*o->out_dir)
        *msg = msgf("simulate: no output directory");
    else if (o->accounts < 1 || o->accounts > 100000000)
        *msg = msgf("simulate: accounts must be 1..100000000, got %lld", (long long)o->accounts);
    else if (o->months < 1 || o->months > 120)
        *msg = msgf("simulate: months must be 1..120, got %d", o->months);
    else if (o->churn_shift_factor < 0 || o->churn_shift_factor > 1)
        *msg = msgf("simulate: the churn shift factor must be 0..1, got %g", o->churn_shift_factor);
    else if (o->start_day < civ_days(1972, 1, 1) || o->start_day > civ_days(9000, 1, 1))
        /* Accounts sign up to a year before the start: keep dates 4-digit years. */
        *msg = msgf("simulate: start day %lld is outside 1972..9000", (long long)o->start_day);
    else
        return CW_OK;
    return CW_ERR_USAGE;
}

/* The output directory and its truth/ folder; an earlier run's events in
 * the other form removed. */
static cw_status sim_dirs(const cw_sim_opts *o, char **errmsg)
{
    cw_status s = make_dir(o->out_dir, errmsg);
    /* The ground truth goes into its own folder so that ingesting DIR/ *.csv
     * loads exactly the exports, and never the answers. */
    char *truth_dir = s == CW_OK ? join_path(o->out_dir, "truth") : NULL;
    if (s == CW_OK && !truth_dir)
        s = CW_ERR_NOMEM;
    if (s == CW_OK)
        s = make_dir(truth_dir, errmsg);
    free(truth_dir);
    if (s != CW_OK)
        return s;
    /* One world per directory: an earlier run's events in the other form
     * would be ingested twice when the whole directory is. */
    char *stale = join_path(o->out_dir, o->gzip ? "events.csv" : "events.csv.gz");
    if (stale)
        remove(stale);
    free(stale);
    return CW_OK;
}

/* Simulates and writes every account, reporting progress. */
static cw_status sim_accounts(sim_ctx *c, char **errmsg)
{
    const cw_sim_opts *o = c->o;
    double last = now_s();
    for (int64_t i = 1; i <= o->accounts; i++) {
        sim_account(c, i);
        if (c->nomem) {
            if (errmsg)
                *errmsg = msgf("out of memory");
            return CW_ERR_NOMEM;
        }
        for (int k = 1; k < OUT__COUNT; k++) {
            if (c->out[k].err) {
                if (errmsg)
                    *errmsg = msgf("cannot write %s: %s", c->out[k].path, strerror(c->out[k].err));
                return CW_ERR_IO;
            }
        }
        if (o->on_progress) {
            double t = now_s();
            if (t - last >= 0.25 || i == o->accounts) {
                o->on_progress(i, o->accounts, c->events, o->ud);
                last = t;
            }
        }
    }
    return CW_OK;
}

/* Rows per kind, churned accounts and bytes on disk (events.csv.gz
 * compressed), manifest included. */
static void sim_stats(const sim_ctx *c, cw_sim_stats *stats)
{
    for (int k = 1; k < CW_KIND__COUNT; k++)
        stats->rows[k] = c->out[k].rows;
    stats->churned = c->churned_ever;
    char *mpath = join_path(c->o->out_dir, "manifest.json");
    for (int k = 1; k <= OUT__COUNT; k++) {
        struct stat st;
        const char *path = k < OUT__COUNT ? c->out[k].path : mpath;
        if (path && stat(path, &st) == 0)
            stats->bytes += (int64_t)st.st_size;
    }
    free(mpath);
}

static cw_status sim_run(const cw_sim_opts *o, cw_sim_stats *stats, char **errmsg);

cw_status cw_sim_run(const cw_sim_opts *o, cw_sim_stats *stats, cw_error *err)
{
    char *msg = NULL;
    cw_status s = sim_run(o, stats, &msg);
    if (s != CW_OK)
        cw_error_set(err, s, "%s", msg && *msg ? msg : cw_strerror(s));
    free(msg);
    return s;
}

static cw_status sim_run(const cw_sim_opts *o, cw_sim_stats *stats, char **errmsg)
{
    cw_sim_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    if (errmsg)
        *errmsg = NULL;
    char *msg = NULL;
    cw_status s = sim_check_opts(o, &msg);
    if (s != CW_OK) {
        if (errmsg)
            *errmsg = msg;
        else
            free(msg);
        return s;
    }
    if ((s = sim_dirs(o, errmsg)) != CW_OK)
        return s;
    sim_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        if (errmsg)
            *errmsg = msgf("out of memory");
        return CW_ERR_NOMEM;
    }
    c->o = o;
    c->start_day = o->start_day;
    c->end_day = add_months(o->start_day, o->months);
    c->start_ts = c->start_day * DAY_S;
    c->end_ts = c->end_day * DAY_S;
    c->n_csm = (o->accounts + 99) / 100;
    if (c->n_csm < 2)
        c->n_csm = 2;
    for (int e = 0; e < EV__COUNT; e++)
        c->ev_len[e] = strlen(evdefs[e].name);

    for (int k = 1; k < OUT__COUNT && s == CW_OK; k++) {
        /* Kinds the simulator does not write (billing periods: it writes the
         * change log itself) have no file. */
        if (k < CW_KIND__COUNT && !kind_files[k])
            continue;
        const char *name = k == OUT_TRUTH                   ? "truth/ground_truth.csv"
                           : k == CW_KIND_EVENTS && o->gzip ? "events.csv.gz"
                                                            : kind_files[k];
        s = out_open(c, k, name, errmsg);
    }
    if (s == CW_OK) {
        write_features(c);
        s = sim_accounts(c, errmsg);
    }
    for (int k = 1; k < OUT__COUNT; k++) {
        int err = out_close(&c->out[k]);
        if (err && s == CW_OK) {
            if (errmsg)
                *errmsg = msgf("cannot write %s: %s", c->out[k].path, strerror(err));
            s = CW_ERR_IO;
        }
    }
    if (s == CW_OK)
        s = write_manifest(c, errmsg);
    if (s == CW_OK)
        sim_stats(c, stats);
    for (int k = 1; k < OUT__COUNT; k++) {
        free(c->out[k].path);
        free(c->out[k].buf);
    }
    free(c->users);
    free(c->scratch);
    free(c);
    return s;
}
