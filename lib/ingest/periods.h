/*
 * periods.h — billing periods turned into the subscription change log (periods.c).
 */
#ifndef CW_INGEST_PERIODS_H
#define CW_INGEST_PERIODS_H

#include "ingest/validate.h"

/* ---- periods.c: billing periods → the subscription change log -------- */

/* Field indices of kind subscription_periods (lib/ingest/schema.c). */
enum {
    CW_SP_ACCOUNT,
    CW_SP_PRODUCT,
    CW_SP_LINE_ID,
    CW_SP_START,
    CW_SP_END,
    CW_SP_MRR,
    CW_SP_AMOUNT,
    CW_SP_QUANTITY,
    CW_SP_INTERVAL,
    CW_SP_INTERVAL_COUNT,
    CW_SP_DISCOUNT_PCT,
    CW_SP_DISCOUNT,
    CW_SP_CURRENCY
};

/* The MRR of one billing period from its validated values v: mrr_minor when
 * given, else (amount × quantity − discount_minor) × (1 − percent/100)
 * normalised to a month and rounded half away from zero. Returns 1, or 0
 * with *field (an index above) and a reason in why. */
int cw_period_mrr(const cw_value *v, int64_t *mrr, int *field, char *why, size_t whysz);
/* Subscriptions' billing_period enum index for an interval (index of the
 * interval enum) × count: monthly, annual, quarterly, semiannual or other. */
int cw_period_term(int interval, int64_t count);

/* One stored billing period of one account, as derivation needs it. */
typedef struct cw_period {
    char *line;         /* line key: line_id, else product ("" = the one line); malloc'd */
    char *product;      /* "" when none; malloc'd */
    int64_t start, end; /* Unix s; end 0 = running */
    int64_t mrr_minor, quantity;
    int interval; /* interval enum index */
    int64_t interval_count;
    char currency[4];
} cw_period;
/* Frees the strings of p[0..n) and p. */
void cw_periods_free(cw_period *p, size_t n);

/* One change-log row (kind subscriptions) derived from billing periods. */
typedef struct cw_sub_row {
    int64_t effective_at, mrr_minor, seats;
    char currency[4];
    const char *plan;   /* NULL = none; borrowed from the periods */
    int billing_period; /* billing_period enum index, -1 = none */
} cw_sub_row;

/* Derives one account's change log from all its periods p[0..n) (sorted in
 * place) given the data end (Unix s): rows at each instant where the
 * account's MRR, seats or plan changes (docs/importers.md). *rows: caller
 * frees with free(); its plan strings point into p. Returns CW_OK,
 * CW_ERR_NOMEM, or CW_ERR_INPUT with a reason in why. */
cw_status cw_periods_derive(cw_period *p, size_t n, int64_t data_end, cw_sub_row **rows,
                            size_t *nrows, char *why, size_t whysz);

#endif /* CW_INGEST_PERIODS_H */
