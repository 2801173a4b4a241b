/*
 * rules_int.h — the rule set's private layout, shared by rules.c (which
 * loads and compiles it) and alerts.c (which evaluates it): the compiled
 * expressions beside each rule and the slot layout the evaluator fills.
 */
#ifndef CW_RULES_INT_H
#define CW_RULES_INT_H

#include "alerts/expr.h"

#define RS_NSCORES                                                                                 \
    5 /* health_score, health_colour, health_change, churn_probability, ..._change                 \
       */

/* Slot layout: [0, na) account metric values, [na, 2na) their trends,
 * [2na, 3na) their peer percentiles, then the scores, then the user metrics
 * and user_tenure_days. */
#define RS_SCORE(r, k) (3 * (r)->na + (k))
#define RS_USER(r, j)  (3 * (r)->na + RS_NSCORES + (j))

struct cw_rules {
    cw_rule *rules; /* by name */
    cw_expr **when, **clear;
    int nrules;
    cw_playbook *pbs; /* by name */
    int npb;
    const char **anames; /* account metric names: built-ins then custom (borrowed) */
    int na, nbuiltin;
    const char **unames; /* user metric names, catalogue order */
    int nu;
    int nslots;
    char **owned; /* strings the set owns */
    int nowned, capowned;
};

/* Whether name is an item of the comma-separated list. */
int cw_ruleset_list_has(const char *list, const char *name);
/* Display name of a slot ("licence_activation", "trend(x)", …); buf may be used. */
const char *cw_ruleset_slot_name(const cw_rules *r, int slot, char *buf, size_t n);

#endif
