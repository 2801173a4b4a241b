/*
 * schema.c — the data model: every kind of input churnwatch accepts and
 * every field of each, with its type, bounds and documentation.
 *
 * Money fields are integer minor units (mrr_minor, alias mrr_cents); a
 * `*_major` alias (mrr_major) is read in major units of the row's currency.
 * The bare names (mrr, cost) stay aliases only so that kind detection
 * recognises such a file: ingest refuses them as money without a unit.
 *
 * This table is the single source of truth. The CSV/JSONL readers map
 * headers and keys to it (canonical names and aliases), validation enforces
 * it, the SQLite store's generated INSERT statements use its column names,
 * and `churnwatch help data-model` prints it. docs/data-model.md describes
 * the same table for people; tests check that the two agree.
 */
#include "churnwatch.h"
#include "core/util.h"
#include "ingest/schema.h"
#include "ingest/mapping.h"

#include <string.h>
#include <strings.h>

#define REQ    CW_FD_REQUIRED
#define KEY    (CW_FD_KEY | CW_FD_REQUIRED)
#define I64MAX INT64_MAX

static const cw_field_def accounts_fields[] = {
    {"account_id", "account|id|customer_id", NULL, CW_F_ID, KEY, 0, 0, NULL,
     "external account id (CRM)"},
    {"name", "account_name|company|company_name", NULL, CW_F_TEXT, REQ, 0, 256, NULL,
     "company name"},
    {"segment", "tier_segment", NULL, CW_F_TEXT, REQ, 0, 64, NULL,
     "segment, e.g. smb, mid, enterprise"},
    {"owner", "csm|csm_owner|owner_email", NULL, CW_F_TEXT, 0, 0, 256, NULL,
     "customer-success manager"},
    {"contract_start", "start_date|contract_start_date", NULL, CW_F_DATE, REQ, 0, 0, NULL,
     "first day of the first contract"},
    {"seats", "seats_licensed|licenses|licences", NULL, CW_F_INT, REQ, 0, 10000000, NULL,
     "seats licensed now"},
    {"mrr_minor", "mrr_cents|mrr_major|mrr", NULL, CW_F_MONEY, REQ, 0, I64MAX / 4, NULL,
     "monthly recurring revenue now, minor units"},
    {"currency", "mrr_currency", NULL, CW_F_CURRENCY, REQ, 0, 0, NULL,
     "ISO-4217 currency of mrr_minor"},
    {"renewal_date", "renewal|renews_at", NULL, CW_F_DATE, 0, 0, 0, NULL, "next renewal date"},
    {"status", "account_status", NULL, CW_F_ENUM, REQ, 0, 0, "active|churned|trial|paused",
     "lifecycle status"},
    {"churn_date", "churned_at|cancel_date", NULL, CW_F_DATE, 0, 0, 0, NULL,
     "date the account churned (required when status=churned)"},
    {"churn_reason", "cancel_reason", NULL, CW_F_TEXT, 0, 0, 256, NULL, "recorded churn reason"},
};

static const cw_field_def subscriptions_fields[] = {
    {"account_id", "account", "account", CW_F_REF_ACCOUNT, KEY, 0, 0, NULL,
     "account the change applies to"},
    {"effective_at", "effective_date|date|changed_at", NULL, CW_F_TS, KEY, 0, 0, NULL,
     "when the change takes effect"},
    {"mrr_minor", "mrr_cents|mrr_major|mrr", NULL, CW_F_MONEY, REQ, 0, I64MAX / 4, NULL,
     "MRR from then on, minor units (0 = cancelled)"},
    {"currency", "mrr_currency", NULL, CW_F_CURRENCY, REQ, 0, 0, NULL, "ISO-4217 currency"},
    {"seats", "seats_licensed|quantity", NULL, CW_F_INT, REQ, 0, 10000000, NULL,
     "seats from then on"},
    {"plan", "plan_name|product", NULL, CW_F_TEXT, 0, 0, 128, NULL, "plan name"},
    {"billing_period", "interval|billing_interval", NULL, CW_F_ENUM, 0, 0, 0,
     "monthly|annual|quarterly|semiannual|other", "contract term (MRR is always monthly)"},
};

static const cw_field_def users_fields[] = {
    {"user_id", "user|id", NULL, CW_F_ID, KEY, 0, 0, NULL, "external user id"},
    {"account_id", "account", "account", CW_F_REF_ACCOUNT, REQ, 0, 0, NULL,
     "account the user belongs to"},
    {"email", "email_address", NULL, CW_F_EMAIL, 0, 0, 254, NULL, "e-mail address"},
    {"role", "title|job_role", NULL, CW_F_TEXT, 0, 0, 128, NULL, "role, e.g. admin, analyst"},
    {"department", "team|dept", NULL, CW_F_TEXT, 0, 0, 128, NULL, "department"},
    {"provisioned_at", "created_at|invited_at", NULL, CW_F_TS, REQ, 0, 0, NULL,
     "when the seat was given to the user"},
    {"deactivated_at", "removed_at|deleted_at", NULL, CW_F_TS, 0, 0, 0, NULL,
     "when the user was removed"},
};

static const cw_field_def features_fields[] = {
    {"event", "event_name", NULL, CW_F_ID, KEY, 0, 0, NULL, "product event name"},
    {"feature", "feature_name", NULL, CW_F_TEXT, REQ, 0, 128, NULL, "feature the event belongs to"},
    {"tier", "level", NULL, CW_F_ENUM, REQ, 0, 0, "basic|advanced", "feature tier"},
    {"milestone", "onboarding_milestone", NULL, CW_F_TEXT, 0, 0, 128, NULL,
     "onboarding milestone this event completes"},
    {"milestone_due_day", "due_day", NULL, CW_F_INT, 0, 0, 3650, NULL,
     "day of tenure the milestone is due"},
    {"first_value", "is_first_value", NULL, CW_F_BOOL, 0, 0, 0, NULL,
     "doing this event means first value delivered"},
};

static const cw_field_def events_fields[] = {
    {"ts", "timestamp|time|occurred_at", NULL, CW_F_TS, REQ, 0, 0, NULL, "when it happened"},
    {"account_id", "account", "account", CW_F_REF_ACCOUNT, REQ, 0, 0, NULL, "account"},
    {"user_id", "user", "user", CW_F_REF_USER, 0, 0, 0, NULL,
     "user (empty for account-level events)"},
    {"event", "event_name|name", NULL, CW_F_TEXT, REQ, 1, 128, NULL, "event name"},
    {"value", "amount|quantity", NULL, CW_F_REAL, 0, 0, 0, NULL, "optional numeric value"},
    {"event_id", "id|message_id|insert_id", NULL, CW_F_TEXT, 0, 1, 128, NULL,
     "optional unique id (dedup key)"},
};

static const cw_field_def trainings_fields[] = {
    {"user_id", "user", "user", CW_F_REF_USER, KEY, 0, 0, NULL, "user who completed it"},
    {"account_id", "account", "account", CW_F_REF_ACCOUNT, REQ, 0, 0, NULL, "the user's account"},
    {"course", "training|course_name", NULL, CW_F_TEXT, KEY, 1, 128, NULL,
     "course or certification"},
    {"completed_at", "completed|date", NULL, CW_F_TS, KEY, 0, 0, NULL, "completion time"},
};

static const cw_field_def tickets_fields[] = {
    {"ticket_id", "id|ticket", NULL, CW_F_ID, KEY, 0, 0, NULL, "external ticket id"},
    {"account_id", "account", "account", CW_F_REF_ACCOUNT, REQ, 0, 0, NULL, "account"},
    {"user_id", "user|requester", "user", CW_F_REF_USER, 0, 0, 0, NULL, "requester"},
    {"opened_at", "created_at|opened", NULL, CW_F_TS, REQ, 0, 0, NULL, "when opened"},
    {"closed_at", "solved_at|resolved_at|closed", NULL, CW_F_TS, 0, 0, 0, NULL,
     "when closed (empty while open)"},
    {"category", "type", NULL, CW_F_ENUM, REQ, 0, 0, "introductory|advanced|bug|billing|other",
     "introductory = how-to on basic features"},
    {"priority", "severity", NULL, CW_F_ENUM, 0, 0, 0, "low|normal|high|urgent", "priority"},
    {"satisfaction", "csat|rating", NULL, CW_F_INT, 0, 1, 5, NULL, "requester's satisfaction 1–5"},
};

static const cw_field_def surveys_fields[] = {
    {"survey_id", "response_id|id", NULL, CW_F_ID, KEY, 0, 0, NULL, "external survey/response id"},
    {"account_id", "account", "account", CW_F_REF_ACCOUNT, REQ, 0, 0, NULL, "account"},
    {"user_id", "user|respondent", "user", CW_F_REF_USER, 0, 0, 0, NULL, "respondent"},
    {"type", "survey_type|kind", NULL, CW_F_ENUM, REQ, 0, 0, "nps|csat|exit", "survey type"},
    {"sent_at", "sent", NULL, CW_F_TS, 0, 0, 0, NULL, "when sent"},
    {"responded_at", "answered_at|submitted_at", NULL, CW_F_TS, 0, 0, 0, NULL,
     "when answered (empty = no response)"},
    {"score", "rating", NULL, CW_F_INT, 0, 0, 10, NULL, "NPS 0–10, CSAT 1–5; empty for exit"},
    {"reason", "exit_reason|churn_reason", NULL, CW_F_TEXT, 0, 0, 128, NULL,
     "exit reason (exit surveys)"},
    {"comment", "text|verbatim|feedback", NULL, CW_F_TEXT, 0, 0, 4000, NULL, "free text"},
};

static const cw_field_def goals_fields[] = {
    {"goal_id", "id|outcome_id", NULL, CW_F_ID, KEY, 0, 0, NULL, "external goal id"},
    {"account_id", "account", "account", CW_F_REF_ACCOUNT, REQ, 0, 0, NULL, "account"},
    {"metric", "goal|outcome", NULL, CW_F_TEXT, REQ, 1, 256, NULL,
     "what is measured, e.g. logistics cost savings"},
    {"unit", "units", NULL, CW_F_TEXT, 0, 0, 32, NULL, "unit, e.g. %"},
    {"baseline", "baseline_value", NULL, CW_F_REAL, REQ, 0, 0, NULL, "value at start_date"},
    {"target", "target_value", NULL, CW_F_REAL, REQ, 0, 0, NULL, "value agreed for target_date"},
    {"start_date", "start|agreed_at", NULL, CW_F_DATE, REQ, 0, 0, NULL, "when the goal starts"},
    {"target_date", "due_date|target_at", NULL, CW_F_DATE, REQ, 0, 0, NULL,
     "when the target is due"},
};

static const cw_field_def goal_measurements_fields[] = {
    {"goal_id", "goal|outcome_id", NULL, CW_F_TEXT, KEY, 1, 128, NULL, "goal measured"},
    {"measured_at", "date|at", NULL, CW_F_TS, KEY, 0, 0, NULL, "when measured"},
    {"kind", "measurement_kind", NULL, CW_F_ENUM, CW_FD_KEY | CW_FD_DEFAULT, 0, 0,
     "actual|expected", "actual value, or an agreed checkpoint of the trajectory"},
    {"value", "measured_value", NULL, CW_F_REAL, REQ, 0, 0, NULL, "value"},
};

static const cw_field_def journey_fields[] = {
    {"visitor_id", "visitor|lead_id|contact_id", NULL, CW_F_TEXT, KEY, 1, 128, NULL,
     "anonymous visitor or lead id"},
    {"stage", "step|funnel_stage", NULL, CW_F_ENUM, KEY, 0, 0,
     "visit|lead|registration|paid|upgrade",
     "See (visit) → Think (lead, registration) → Do (paid) → Care (upgrade)"},
    {"at", "ts|timestamp|date", NULL, CW_F_TS, KEY, 0, 0, NULL, "when the stage was reached"},
    {"source", "channel|utm_source", NULL, CW_F_TEXT, 0, 0, 128, NULL, "acquisition source"},
    {"campaign", "utm_campaign", NULL, CW_F_TEXT, 0, 0, 128, NULL, "campaign"},
    {"cost_minor", "cost_cents|cost_major|cost", NULL, CW_F_MONEY, 0, 0, I64MAX / 4, NULL,
     "marketing cost attributed to this step, minor units"},
    {"currency", "cost_currency", NULL, CW_F_CURRENCY, 0, 0, 0, NULL,
     "currency of cost_minor (required with cost)"},
    {"account_id", "account", NULL, CW_F_TEXT, 0, 1, 128, NULL,
     "account once the visitor became a customer"},
};

/* Billing periods (docs/importers.md). The natural key is (account, line,
 * period_start) where line = line_id, else product: the store keys on that
 * derived line column, and ingest checks repeated keys the same way. Money
 * fields carry their unit in the name (bare "mrr"/"amount" columns are not
 * accepted here). Field indices are used by lib/ingest/periods.c and lib/ingest.c. */
static const cw_field_def subscription_periods_fields[] = {
    {"account_id", "account", "account", CW_F_REF_ACCOUNT, KEY, 0, 0, NULL, "account billed"},
    {"product", "plan|plan_name|product_name|sku", NULL, CW_F_TEXT, 0, 0, 128, NULL,
     "product line (add-ons are lines of their own); empty = one line"},
    {"line_id", "subscription_id|subscription_item_id", NULL, CW_F_TEXT, 0, 0, 128, NULL,
     "id of the line when an account has two lines of one product"},
    {"period_start", "current_period_start|service_period_start|period_start_date", NULL, CW_F_TS,
     KEY, 0, 0, NULL, "first instant of the period"},
    {"period_end", "current_period_end|service_period_end|period_end_date", NULL, CW_F_TS, 0, 0, 0,
     NULL, "end of the period (exclusive or inclusive, detected); empty = running"},
    {"mrr_minor", "mrr_cents", NULL, CW_F_MONEY, 0, 0, I64MAX / 4, NULL,
     "MRR of the line in the period after discounts, minor units (or give amount_minor)"},
    {"amount_minor", "amount_cents|unit_amount_minor|unit_amount_cents|price_minor", NULL,
     CW_F_MONEY, 0, 0, I64MAX / 4, NULL,
     "price per unit per interval before discounts, minor units"},
    {"quantity", "seats", NULL, CW_F_INT, 0, 0, 10000000, NULL, "units (seats); default 1"},
    {"interval", "billing_interval|interval_unit", "interval_unit", CW_F_ENUM, CW_FD_DEFAULT, 0, 0,
     "month|year|week|day", "unit of the billing interval; default month"},
    {"interval_count", "billing_interval_count", NULL, CW_F_INT, 0, 1, 1200, NULL,
     "intervals per period (6 = a 6-month term); default 1"},
    {"discount_percent", "percent_off|discount_pct", NULL, CW_F_REAL, 0, 0, 0, NULL,
     "percent off (0-100)"},
    {"discount_minor", "amount_off_minor|discount_cents", NULL, CW_F_MONEY, 0, 0, I64MAX / 4, NULL,
     "amount off per period, minor units"},
    {"currency", "billing_currency", NULL, CW_F_CURRENCY, REQ, 0, 0, NULL, "ISO-4217 currency"},
};

#define KD(k, n, f, d)                                                                             \
    {                                                                                              \
        k, n, n, f, (int)(sizeof f / sizeof f[0]), d                                               \
    }
static const cw_kind_def kinds[CW_KIND__COUNT] = {
    {CW_KIND_NONE, "none", "", NULL, 0, ""},
    KD(CW_KIND_ACCOUNTS, "accounts", accounts_fields,
       "customer accounts from the CRM or billing system (current state)"),
    KD(CW_KIND_SUBSCRIPTIONS, "subscriptions", subscriptions_fields,
       "subscription changes: MRR, seats and plan from a date on"),
    KD(CW_KIND_USERS, "users", users_fields, "users provisioned on accounts"),
    KD(CW_KIND_FEATURES, "features", features_fields,
       "feature catalogue: event name to feature, tier, milestone"),
    KD(CW_KIND_EVENTS, "events", events_fields,
       "product usage events (rolled up per user, event and day)"),
    KD(CW_KIND_TRAININGS, "trainings", trainings_fields, "training / education completions"),
    KD(CW_KIND_TICKETS, "tickets", tickets_fields, "support tickets"),
    KD(CW_KIND_SURVEYS, "surveys", surveys_fields, "NPS, CSAT and exit surveys"),
    KD(CW_KIND_GOALS, "goals", goals_fields, "agreed customer outcomes (success goals)"),
    KD(CW_KIND_GOAL_MEASUREMENTS, "goal_measurements", goal_measurements_fields,
       "measurements of goals (and agreed checkpoints)"),
    KD(CW_KIND_JOURNEY, "journey", journey_fields, "marketing-journey records (See-Think-Do-Care)"),
    KD(CW_KIND_SUBSCRIPTION_PERIODS, "subscription_periods", subscription_periods_fields,
       "billing periods, one row per period per product line; subscriptions are derived"),
};

const cw_kind_def *cw_kind_get(cw_kind k)
{
    if (k <= CW_KIND_NONE || k >= CW_KIND__COUNT)
        return NULL;
    return &kinds[k];
}

cw_kind cw_kind_from_name(const char *name)
{
    if (!name)
        return CW_KIND_NONE;
    for (int k = 1; k < CW_KIND__COUNT; k++)
        if (strcasecmp(kinds[k].name, name) == 0)
            return (cw_kind)k;
    return CW_KIND_NONE;
}

/* Case-insensitive comparison of a header cell (s, len) with a name. */
static int name_eq(const char *s, size_t len, const char *name, size_t nlen)
{
    return len == nlen && strncasecmp(s, name, len) == 0;
}

int cw_schema_field_index(const cw_kind_def *kd, const char *s, size_t len)
{
    /* Headers are compared normalised (mapping.h): "Account Name",
     * "account-name" and "ACCOUNT_NAME" all name account_name. */
    /* Fast path: native names as they are (JSON Lines keys, once per row). */
    for (int i = 0; i < kd->nfields; i++)
        if (name_eq(s, len, kd->fields[i].name, strlen(kd->fields[i].name)))
            return i;
    char norm[128];
    len = cw_name_normalise(s, len, norm, sizeof norm);
    if (!len)
        return -1;
    for (int i = 0; i < kd->nfields; i++) {
        const cw_field_def *f = &kd->fields[i];
        if (name_eq(norm, len, f->name, strlen(f->name)))
            return i;
    }
    for (int i = 0; i < kd->nfields; i++) {
        const char *a = kd->fields[i].aliases;
        while (a && *a) {
            const char *bar = strchr(a, '|');
            size_t alen = bar ? (size_t)(bar - a) : strlen(a);
            if (name_eq(norm, len, a, alen))
                return i;
            a = bar ? bar + 1 : NULL;
        }
    }
    return -1;
}

cw_kind cw_schema_detect(const cw_strref *names, int n, int *ambiguous)
{
    /* The kind whose required fields are all present and which matches the
     * most columns wins; a tie between two complete kinds is ambiguous. */
    int best = CW_KIND_NONE, best_score = -1, tie = 0;
    for (int k = 1; k < CW_KIND__COUNT; k++) {
        const cw_kind_def *kd = &kinds[k];
        unsigned have = 0;
        int score = 0;
        for (int c = 0; c < n; c++) {
            int fi = cw_schema_field_index(kd, names[c].s, names[c].len);
            if (fi >= 0 && !(have & (1u << fi))) {
                have |= 1u << fi;
                /* Canonical names count more than aliases. */
                score += name_eq(names[c].s, names[c].len, kd->fields[fi].name,
                                 strlen(kd->fields[fi].name))
                             ? 3
                             : 2;
            }
        }
        int complete = 1;
        for (int i = 0; i < kd->nfields; i++)
            if ((kd->fields[i].flags & CW_FD_REQUIRED) && !(have & (1u << i)))
                complete = 0;
        if (!complete)
            continue;
        /* Unmatched columns count against a kind. */
        score -= n - __builtin_popcount(have);
        if (score > best_score) {
            best = k, best_score = score, tie = 0;
        } else if (score == best_score) {
            tie = 1;
        }
    }
    if (ambiguous)
        *ambiguous = tie;
    return tie ? CW_KIND_NONE : (cw_kind)best;
}

/* Lower-cases a header cell into out, every run of other characters than
 * a-z, 0-9 becoming one '_', leading and trailing '_' dropped ("Account ID"
 * → account_id), as docs/importers.md normalises names. Returns its length. */
static size_t norm_name(const char *s, size_t len, char *out, size_t outsz)
{
    size_t n = 0;
    int gap = 0;
    for (size_t i = 0; i < len && n + 2 < outsz; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (gap && n)
                out[n++] = '_';
            out[n++] = c;
            gap = 0;
        } else {
            gap = 1;
        }
    }
    out[n] = '\0';
    return n;
}

/* The field of kd a header cell names, as written or normalised. */
static int field_of(const cw_kind_def *kd, const char *s, size_t len)
{
    int fi = cw_schema_field_index(kd, s, len);
    if (fi < 0) {
        char buf[128];
        size_t n = norm_name(s, len, buf, sizeof buf);
        if (n)
            fi = cw_schema_field_index(kd, buf, n);
    }
    return fi;
}

/* How strongly names suggest each kind, for a header no kind fits
 * completely. A kind's score is the share of its required fields present,
 * plus one per column that names a field of this kind only (distinctive:
 * `email` is only users', `account_id` is everyone's), plus a hundredth per
 * column it reads (a tie goes to the kind that reads more of the file).
 * Columns are read as written or normalised ("Account Name" →
 * account_name). Fills score[k], dist[k] (distinctive columns), share[k],
 * own_id[k] (its own id column is there by its canonical name; in an events
 * file user_id is a reference, so this only makes a kind eligible) and
 * have[k] (bit i = field i present). */
static void kind_scores(const cw_strref *names, int n, double *score, int *dist, double *share,
                        int *own_id, unsigned *have)
{
    for (int k = 0; k < CW_KIND__COUNT; k++)
        score[k] = 0, dist[k] = 0, share[k] = 0, own_id[k] = 0, have[k] = 0;
    for (int c = 0; c < n; c++) {
        char nb[128];
        size_t nl = norm_name(names[c].s, names[c].len, nb, sizeof nb);
        int only = -1, nk = 0;
        for (int k = 1; k < CW_KIND__COUNT; k++) {
            int fi = field_of(&kinds[k], names[c].s, names[c].len);
            if (fi < 0)
                continue;
            have[k] |= 1u << fi;
            only = k;
            nk++;
            score[k] += 0.01;
            const cw_field_def *f = &kinds[k].fields[fi];
            if (f->type == CW_F_ID && (f->flags & CW_FD_KEY) &&
                name_eq(nb, nl, f->name, strlen(f->name)))
                own_id[k] = 1;
        }
        if (nk == 1)
            dist[only]++;
    }
    for (int k = 1; k < CW_KIND__COUNT; k++) {
        int req = 0, got = 0;
        for (int i = 0; i < kinds[k].nfields; i++)
            if (kinds[k].fields[i].flags & CW_FD_REQUIRED) {
                req++;
                got += (have[k] >> i) & 1;
            }
        share[k] = req ? (double)got / req : 0;
        score[k] = have[k] ? score[k] + dist[k] + share[k] : 0;
    }
}

/* The candidate kinds of names, best first, into out[] (at most max);
 * returns how many. A kind is a candidate when it has every required
 * column, or a distinctive column, or (when no kind has either) its own id
 * column or half its required columns; and, unless complete, scores at
 * least half the best. */
static int rank_kinds(const cw_strref *names, int n, cw_kind *out, int max, unsigned *have)
{
    double score[CW_KIND__COUNT], share[CW_KIND__COUNT];
    int dist[CW_KIND__COUNT], own_id[CW_KIND__COUNT], strong = 0, m = 0;
    kind_scores(names, n, score, dist, share, own_id, have);
    for (int k = 1; k < CW_KIND__COUNT; k++)
        strong |= have[k] && (dist[k] > 0 || share[k] >= 1);
    for (int k = 1; k < CW_KIND__COUNT; k++) {
        int ok = have[k] &&
                 (share[k] >= 1 || dist[k] > 0 || (!strong && (own_id[k] || share[k] >= 0.5)));
        if (!ok)
            continue;
        int j = m++; /* insertion by score; ties keep kind order */
        while (j > 0 && score[out[j - 1]] < score[k]) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = (cw_kind)k;
    }
    int keep = 0;
    for (int j = 0; j < m && keep < max; j++)
        if (share[out[j]] >= 1 || score[out[j]] * 2 >= score[out[0]])
            out[keep++] = out[j];
    return keep;
}

int cw_schema_candidates(const cw_strref *names, int n, char *out, size_t outsz)
{
    cw_kind c[CW_KIND__COUNT];
    unsigned have[CW_KIND__COUNT];
    int m = rank_kinds(names, n, c, 3, have);
    size_t used = 0;
    if (outsz)
        out[0] = '\0';
#define PUT(...)                                                                                   \
    do {                                                                                           \
        if (used < outsz) {                                                                        \
            int w_ = snprintf(out + used, outsz - used, __VA_ARGS__);                              \
            used += w_ > 0 ? (size_t)w_ : 0;                                                       \
            if (used >= outsz)                                                                     \
                used = outsz - 1;                                                                  \
        }                                                                                          \
    } while (0)
    for (int j = 0; j < m; j++) {
        const cw_kind_def *kd = &kinds[c[j]];
        PUT("%s%s (", j ? ", " : "", kd->name);
        int first = 1;
        for (int i = 0; i < kd->nfields; i++)
            if ((kd->fields[i].flags & CW_FD_REQUIRED) && !((have[c[j]] >> i) & 1)) {
                PUT("%s%s", first ? "needs " : ", ", kd->fields[i].name);
                first = 0;
            }
        PUT("%s)", first ? "has every required column" : "");
    }
#undef PUT
    return m;
}

cw_kind cw_schema_closest(const cw_strref *names, int n, char *missing, size_t missing_size)
{
    /* The best candidate (rank_kinds), and the required columns it lacks. */
    cw_kind c[CW_KIND__COUNT];
    unsigned have[CW_KIND__COUNT];
    int best = rank_kinds(names, n, c, 1, have) ? (int)c[0] : CW_KIND_NONE;
    if (missing_size)
        missing[0] = '\0';
    if (best == CW_KIND_NONE)
        return CW_KIND_NONE;
    size_t used = 0;
    const cw_kind_def *kd = &kinds[best];
    for (int i = 0; i < kd->nfields; i++) {
        if (!(kd->fields[i].flags & CW_FD_REQUIRED))
            continue;
        int found = (have[best] >> i) & 1;
        if (!found && used < missing_size) {
            int w = snprintf(missing + used, missing_size - used, "%s'%s'", used ? ", " : "",
                             kd->fields[i].name);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    return (cw_kind)best;
}
