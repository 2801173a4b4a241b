/*
 * store/store_alerts.h — the SQL side of alerts (store/sql/store_alerts.c) as
 * the lifecycle code (alerts/alerts.c) uses it: entity look-ups, scores,
 * episodes, and the writes of one evaluation. It lives in the store so that
 * the store includes nothing from the engines above it. Every function
 * returns CW_OK or an error with the message on the store.
 */
#ifndef CW_STORE_STORE_ALERTS_H
#define CW_STORE_STORE_ALERTS_H

#include "churnwatch.h"

/* Accounts and users by internal id (index = id; absent ids have NULL ext). */
typedef struct cw_alert_db_accounts {
    int64_t n; /* max id + 1 */
    char **ext, **name, **segment, **owner;
} cw_alert_db_accounts;

typedef struct cw_alert_db_users {
    int64_t n;
    char **ext, **email;
    int64_t *account, *prov_day;
} cw_alert_db_users;

/* Reads every account into *a (caller frees with
 * cw_alert_db_accounts_free). */
cw_status cw_alert_db_load_accounts(cw_store *st, cw_alert_db_accounts *a);
/* Frees what *a holds. */
void cw_alert_db_accounts_free(cw_alert_db_accounts *a);
/* Reads every user into *u (caller frees with cw_alert_db_users_free). */
cw_status cw_alert_db_load_users(cw_store *st, cw_alert_db_users *u);
/* Frees what *u holds. */
void cw_alert_db_users_free(cw_alert_db_users *u);

/* The catalogue's feature names in byte (strcmp) order, the numbering of the
 * user_stop_feature metric (docs/metrics.md). *names is freed with
 * cw_alert_db_names_free. */
cw_status cw_alert_db_load_feature_names(cw_store *st, char ***names, int64_t *n);
/* Frees the n names; accepts NULL. */
void cw_alert_db_names_free(char **names, int64_t n);

/* Fills, for accounts with id < n, score/colour/change of day (left NaN
 * when absent) and the active model's probability and its change over 28
 * days. */
cw_status cw_alert_db_load_scores(cw_store *st, int64_t day, int64_t n, double *score,
                                  double *colour, double *change, double *prob,
                                  double *prob_change);

/* The last evaluated day, or -1. */
cw_status cw_alert_db_last_day(cw_store *st, int64_t *day);

/* Calls fn for every open episode (status 1-3) and, per (rule, account,
 * user), for the latest closed one (open = 0). */
cw_status cw_alert_db_scan_episodes(cw_store *st,
                                    cw_status (*fn)(const char *rule, int64_t account, int64_t user,
                                                    int open, int64_t id, int status,
                                                    int64_t snoozed_until, int64_t closed_day,
                                                    void *ud),
                                    void *ud);

typedef struct cw_alert_db_writer cw_alert_db_writer;
/* Prepares the alert-writing statements on st into *out (caller closes
 * with cw_alert_db_writer_close). */
cw_status cw_alert_db_writer_open(cw_store *st, cw_alert_db_writer **out);
/* Finalizes w's statements and frees it; accepts NULL. */
void cw_alert_db_writer_close(cw_alert_db_writer *w);
/* Inserts a new open alert; *id gets its id. */
cw_status cw_alert_db_insert(cw_alert_db_writer *w, const char *rule, int scope, int64_t account,
                             int64_t user, int severity, int64_t day, const char *vals_json,
                             const char *playbook, int64_t now, int64_t *id);
/* Sets status (and closed_day when >= 0, snoozed_until NULL unless
 * status is snoozed). */
cw_status cw_alert_db_set_status(cw_alert_db_writer *w, int64_t id, int status, int64_t closed_day,
                                 int64_t snoozed_until, const char *acked_by);
/* Records day as the alert's last firing day. */
cw_status cw_alert_db_touch(cw_alert_db_writer *w, int64_t id, int64_t day);
/* Appends an event of kind to the alert's history (actor and note may be
 * NULL). */
cw_status cw_alert_db_event(cw_alert_db_writer *w, int64_t id, int kind, int64_t day, int64_t at,
                            const char *actor, const char *note);
/* Records the alert's playbook assignment: treated or control (held out)
 * with the control share drawn against. */
cw_status cw_alert_db_assign(cw_alert_db_writer *w, int64_t id, const char *playbook, int control,
                             double share, int64_t day);
/* Records day as evaluated at at, with the alerts opened and closed; a day
 * already recorded is left as it is. */
cw_status cw_alert_db_mark_day(cw_store *st, int64_t day, int64_t at, int64_t opened,
                               int64_t closed);

/* One alert's status, for manual actions; *found = 0 when none. */
cw_status cw_alert_db_get_status(cw_store *st, int64_t id, int *status, int *found);

/* Alerts with a play assignment opened in [from, to] (-1 = open) and at
 * least horizon days before the last evaluated day: fn(playbook, control,
 * recovered = auto-resolved, churned within horizon days of opening). The
 * rows of one playbook come one after another; the order of the playbooks
 * is the database's collation (PostgreSQL's need not be byte order). */
cw_status cw_alert_db_scan_plays(cw_store *st, int64_t from, int64_t to, int horizon,
                                 cw_status (*fn)(const char *playbook, int control, int recovered,
                                                 int churned, void *ud),
                                 void *ud);

#endif /* CW_STORE_STORE_ALERTS_H */
