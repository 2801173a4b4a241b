/*
 * metrics_catalog.c — the built-in metric catalogue: every metric's name,
 * scope, unit, family and one-line definition. The order is the storage
 * order of a snapshot's value vector, so new metrics are appended, never
 * inserted; docs/metrics.md gives each metric's exact definition.
 */
#include "metrics/metrics_int.h"

#include <string.h>

/* clang-format off */
const cw_metric_info cw_metric_catalog[] = {
    /* onboarding */
    {"tenure_days", CW_SCOPE_ACCOUNT, "days", "onboarding", "days since contract_start"},
    {"milestones_due", CW_SCOPE_ACCOUNT, "count", "onboarding", "milestones of the feature catalogue due by now (due day <= tenure), reached or not"},
    {"milestones_done", CW_SCOPE_ACCOUNT, "count", "onboarding", "of the milestones due, those reached"},
    {"milestones_overdue", CW_SCOPE_ACCOUNT, "count", "onboarding", "milestones due but not reached"},
    {"time_to_first_value_days", CW_SCOPE_ACCOUNT, "days", "onboarding", "days from contract_start to the first first-value event; empty until then"},
    {"licence_activation", CW_SCOPE_ACCOUNT, "ratio", "onboarding", "users who were ever active / seats"},
    {"active_licence_ratio", CW_SCOPE_ACCOUNT, "ratio", "onboarding", "users active in the window / seats"},
    {"licence_gap", CW_SCOPE_ACCOUNT, "seats", "onboarding", "seats - users active in the window"},
    {"training_completion", CW_SCOPE_ACCOUNT, "ratio", "onboarding", "distinct users with a completed training / seats"},
    {"onboarding_on_track", CW_SCOPE_ACCOUNT, "flag", "onboarding", "1 when no milestone is overdue and licence_activation meets the tenure's bar"},
    /* engagement */
    {"active_users", CW_SCOPE_ACCOUNT, "users", "engagement", "provisioned users with an event in the window"},
    {"events_window", CW_SCOPE_ACCOUNT, "events", "engagement", "events in the window (all users and account-level)"},
    {"events_change_pct", CW_SCOPE_ACCOUNT, "%", "engagement", "events in the window vs the previous window, percent change"},
    {"active_days_per_user", CW_SCOPE_ACCOUNT, "days", "engagement", "mean active days in the window over provisioned users"},
    {"weekly_consistency", CW_SCOPE_ACCOUNT, "weeks", "engagement", "mean weeks active of the last 8 over provisioned users"},
    {"dropped_off_users", CW_SCOPE_ACCOUNT, "users", "engagement", "provisioned users once active, silent >= 14 days"},
    {"dropped_off_share", CW_SCOPE_ACCOUNT, "ratio", "engagement", "dropped_off_users / users ever active"},
    {"days_since_last_activity", CW_SCOPE_ACCOUNT, "days", "engagement", "days since the account's last event"},
    /* breadth and depth */
    {"active_user_share", CW_SCOPE_ACCOUNT, "ratio", "breadth", "active users / provisioned users"},
    {"top_user_share", CW_SCOPE_ACCOUNT, "ratio", "breadth", "share of the window's user events done by the most active user"},
    {"top10pct_share", CW_SCOPE_ACCOUNT, "ratio", "breadth", "share done by the top 10% of provisioned users (at least one)"},
    {"activity_gini", CW_SCOPE_ACCOUNT, "index", "breadth", "Gini coefficient of window events across provisioned users"},
    {"departments_active", CW_SCOPE_ACCOUNT, "count", "breadth", "distinct departments (else roles) among active users"},
    {"features_used", CW_SCOPE_ACCOUNT, "count", "breadth", "distinct catalogue features used in the window"},
    {"advanced_feature_share", CW_SCOPE_ACCOUNT, "ratio", "breadth", "events on advanced features / events on catalogue features, in the window"},
    {"features_per_active_user", CW_SCOPE_ACCOUNT, "count", "breadth", "mean distinct features used per active user"},
    /* support */
    {"tickets_window", CW_SCOPE_ACCOUNT, "tickets", "support", "tickets opened in the window"},
    {"tickets_per_active_user", CW_SCOPE_ACCOUNT, "ratio", "support", "tickets opened in the window / active users"},
    {"intro_ticket_share", CW_SCOPE_ACCOUNT, "ratio", "support", "introductory / (introductory + advanced) tickets opened in the last 90 days"},
    {"intro_tickets_after_day90", CW_SCOPE_ACCOUNT, "tickets", "support", "introductory tickets opened in the window after tenure day 90"},
    {"open_tickets", CW_SCOPE_ACCOUNT, "tickets", "support", "tickets opened before and not closed by the snapshot"},
    {"median_resolve_hours", CW_SCOPE_ACCOUNT, "hours", "support", "median open-to-close time of tickets closed in the last 90 days"},
    {"ticket_csat", CW_SCOPE_ACCOUNT, "1-5", "support", "mean satisfaction of tickets closed in the last 90 days"},
    /* voice of the customer */
    {"nps_latest", CW_SCOPE_ACCOUNT, "0-10", "voice", "score of the most recent NPS response"},
    {"nps_category", CW_SCOPE_ACCOUNT, "-1/0/1", "voice", "category of nps_latest: 1 promoter (9-10), 0 passive (7-8), -1 detractor (0-6)"},
    {"nps_account", CW_SCOPE_ACCOUNT, "-100..100", "voice", "NPS over each respondent's latest answer in the last 180 days"},
    {"nps_change_90d", CW_SCOPE_ACCOUNT, "points", "voice", "nps_account now minus nps_account 90 days earlier"},
    {"survey_response_rate", CW_SCOPE_ACCOUNT, "ratio", "voice", "NPS/CSAT surveys answered / sent, sent in the last 180 days"},
    /* outcomes */
    {"goals_active", CW_SCOPE_ACCOUNT, "count", "outcomes", "goals started before the snapshot"},
    {"goal_attainment_worst", CW_SCOPE_ACCOUNT, "ratio", "outcomes", "lowest attainment over active goals: (achieved - baseline) / (expected - baseline)"},
    {"goal_attainment_mean", CW_SCOPE_ACCOUNT, "ratio", "outcomes", "mean attainment over active goals"},
    /* commercial */
    {"mrr_minor", CW_SCOPE_ACCOUNT, "minor units", "commercial", "MRR in force (subscription change effective before the snapshot)"},
    {"seats", CW_SCOPE_ACCOUNT, "seats", "commercial", "seats in force"},
    {"days_to_renewal", CW_SCOPE_ACCOUNT, "days", "commercial", "days to the next monthly or yearly (civil) anniversary of the current contract: contract_start, or the return after a cancellation"},
    {"seat_change_90d", CW_SCOPE_ACCOUNT, "seats", "commercial", "seats now minus seats 90 days earlier"},
    {"mrr_change_90d", CW_SCOPE_ACCOUNT, "minor units", "commercial", "MRR now minus MRR 90 days earlier"},
    /* per user */
    {"user_active_days", CW_SCOPE_USER, "days", "user", "days with an event in the window"},
    {"user_weeks_active_8", CW_SCOPE_USER, "weeks", "user", "weeks of the last 8 with an event"},
    {"user_features_used", CW_SCOPE_USER, "count", "user", "distinct features used in the window"},
    {"user_advanced_features_used", CW_SCOPE_USER, "count", "user", "distinct advanced features used in the window"},
    {"user_features_discovered", CW_SCOPE_USER, "count", "user", "features first used in the window"},
    {"user_events_window", CW_SCOPE_USER, "events", "user", "events in the window"},
    {"user_events_change_pct", CW_SCOPE_USER, "%", "user", "events in the window vs the previous window, percent change"},
    {"user_days_since_active", CW_SCOPE_USER, "days", "user", "days since the user's last event; empty if never active"},
    {"user_dropped_off", CW_SCOPE_USER, "flag", "user", "1 when once active and silent >= 14 days"},
    {"user_stop_feature", CW_SCOPE_USER, "feature #", "user", "for dropped-off users: the last feature they discovered (0-based index of its name among the feature names, byte order)"},
    {"user_trained", CW_SCOPE_USER, "flag", "user", "1 when the user completed a training before the snapshot"},
};
/* clang-format on */

const int cw_metric_catalog_count = (int)(sizeof cw_metric_catalog / sizeof cw_metric_catalog[0]);

int cw_metrics_catalog(const cw_metric_info **out)
{
    *out = cw_metric_catalog;
    return cw_metric_catalog_count;
}

int cw_metric_index(const char *name)
{
    for (int i = 0; i < cw_metric_catalog_count; i++)
        if (strcmp(cw_metric_catalog[i].name, name) == 0)
            return i;
    return -1;
}
