/*
 * metrics_int.h — what the metrics engine's modules share: the catalogue's
 * index constants (the storage order of snapshot vectors) and the engine's
 * internal entry points.
 */
#ifndef CW_METRICS_INT_H
#define CW_METRICS_INT_H

#include "core/util.h"

extern const cw_metric_info cw_metric_catalog[];
extern const int cw_metric_catalog_count;

/* Account metric indexes: positions in cw_metric_catalog and in an
 * account snapshot vector. Keep in step with metrics_catalog.c. */
enum {
    M_TENURE_DAYS = 0,
    M_MILESTONES_DUE = 1,
    M_MILESTONES_DONE = 2,
    M_MILESTONES_OVERDUE = 3,
    M_TIME_TO_FIRST_VALUE_DAYS = 4,
    M_LICENCE_ACTIVATION = 5,
    M_ACTIVE_LICENCE_RATIO = 6,
    M_LICENCE_GAP = 7,
    M_TRAINING_COMPLETION = 8,
    M_ONBOARDING_ON_TRACK = 9,
    M_ACTIVE_USERS = 10,
    M_EVENTS_WINDOW = 11,
    M_EVENTS_CHANGE_PCT = 12,
    M_ACTIVE_DAYS_PER_USER = 13,
    M_WEEKLY_CONSISTENCY = 14,
    M_DROPPED_OFF_USERS = 15,
    M_DROPPED_OFF_SHARE = 16,
    M_DAYS_SINCE_LAST_ACTIVITY = 17,
    M_ACTIVE_USER_SHARE = 18,
    M_TOP_USER_SHARE = 19,
    M_TOP10PCT_SHARE = 20,
    M_ACTIVITY_GINI = 21,
    M_DEPARTMENTS_ACTIVE = 22,
    M_FEATURES_USED = 23,
    M_ADVANCED_FEATURE_SHARE = 24,
    M_FEATURES_PER_ACTIVE_USER = 25,
    M_TICKETS_WINDOW = 26,
    M_TICKETS_PER_ACTIVE_USER = 27,
    M_INTRO_TICKET_SHARE = 28,
    M_INTRO_TICKETS_AFTER_DAY90 = 29,
    M_OPEN_TICKETS = 30,
    M_MEDIAN_RESOLVE_HOURS = 31,
    M_TICKET_CSAT = 32,
    M_NPS_LATEST = 33,
    M_NPS_CATEGORY = 34,
    M_NPS_ACCOUNT = 35,
    M_NPS_CHANGE_90D = 36,
    M_SURVEY_RESPONSE_RATE = 37,
    M_GOALS_ACTIVE = 38,
    M_GOAL_ATTAINMENT_WORST = 39,
    M_GOAL_ATTAINMENT_MEAN = 40,
    M_MRR_MINOR = 41,
    M_SEATS = 42,
    M_DAYS_TO_RENEWAL = 43,
    M_SEAT_CHANGE_90D = 44,
    M_MRR_CHANGE_90D = 45,
    M__COUNT = 46
};

/* User metric indexes: position in a user snapshot vector (catalogue index
 * minus M__COUNT). */
enum {
    U_ACTIVE_DAYS = 0,
    U_WEEKS_ACTIVE_8 = 1,
    U_FEATURES_USED = 2,
    U_ADVANCED_FEATURES_USED = 3,
    U_FEATURES_DISCOVERED = 4,
    U_EVENTS_WINDOW = 5,
    U_EVENTS_CHANGE_PCT = 6,
    U_DAYS_SINCE_ACTIVE = 7,
    U_DROPPED_OFF = 8,
    U_STOP_FEATURE = 9,
    U_TRAINED = 10,
    U__COUNT = 11
};

/* Custom metrics (metrics_custom.c): values follow the built-in account
 * metrics in a snapshot vector, at M__COUNT + i. */
#define CW_MAX_CUSTOM 256 /* custom metrics per configuration (config.c agrees) */
typedef struct cw_cm_state cw_cm_state;
/* Compiles the n custom metric definitions against the event ids into *out
 * (caller frees with cw_cm_free). */
cw_status cw_cm_init(cw_cm_state **out, const cw_custom_metric *defs, int n, cw_intern *event_ids,
                     int64_t nev, int default_window);
/* Frees cs; accepts NULL. */
void cw_cm_free(cw_cm_state *cs);
/* Forgets the previous account's events. */
void cw_cm_account_reset(cw_cm_state *cs);
/* Adds one rollup cell of the current account (cells arrive in day order);
 * user is the account-local user index, -1 for account-level events. */
cw_status cw_cm_add_cell(cw_cm_state *cs, int64_t day, int64_t user, int64_t event, int64_t n,
                         double vsum);
/* Fills vals[M__COUNT ..] for snapshot day D; the built-ins in vals[0 ..
 * M__COUNT) must be computed already. */
cw_status cw_cm_compute(cw_cm_state *cs, int64_t D, int64_t nusers, double *vals);

#endif
