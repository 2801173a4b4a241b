/*
 * ledger.h — the accounts and their subscription histories, loaded once into
 * flat arrays for the revenue modules (revenue.c, cohorts.c, ltv.c,
 * reasons.c, chain.c, survival.c). Private to the library and its tests.
 *
 * Accounts are indexed by their dense internal id; each account's
 * subscription changes are the rows [lo, hi) of one array, in effective_at
 * order (the order scan_rows gives). Strings live in one arena, addressed by
 * offset, so loading allocates per growth, not per row. The single-currency
 * rule of docs/revenue.md is checked here, with its one error message.
 */
#ifndef CW_LEDGER_H
#define CW_LEDGER_H

#include "core/buf.h"
#include "core/util.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One subscription change: the account's MRR and seats from ts_unix on. */
typedef struct cw_ledger_sub {
    int64_t ts_unix, mrr_minor, seats;
    int32_t account;  /* internal id */
    int32_t currency; /* index into cw_ledger.currencies */
    int8_t billing;   /* billing_period enum index (0 monthly, 1 annual, 2 quarterly,
                       * 3 semiannual, 4 other); -1 unknown */
} cw_ledger_sub;

typedef struct cw_ledger_account {
    size_t ext;          /* offset of the external id in text */
    size_t churn_reason; /* offset of accounts.churn_reason; 0 = none */
    int64_t contract_start_unix;
    int64_t churn_unix; /* accounts.churn_date; meaningful when churned */
    int64_t lo, hi;     /* its subscription rows [lo, hi) */
    int32_t segment;    /* index into seg_name */
    unsigned char present, included, churned;
} cw_ledger_account;

typedef struct cw_ledger {
    cw_store *st;
    const char *segment;    /* the filter (borrowed), NULL = all */
    cw_ledger_account *acc; /* by internal id, [0, nids) */
    int64_t nids;
    cw_ledger_sub *subs; /* rows of every present account */
    int64_t nsubs, capsubs;
    int64_t nsubs_included; /* rows of included accounts */
    int first_month,
        last_month;   /* months (cw_month_of) of included rows; INT32_MAX/INT32_MIN if none */
    cw_buf text;      /* string arena, NUL-separated; offset 0 is "" */
    size_t *seg_name; /* offset of each segment's name, in first-seen order */
    int nsegs, capsegs;
    cw_intern *segs;
    char (*currencies)[4];
    int ncurrencies, capcurrencies;
} cw_ledger;

/* Loads every account (included = in segment, or all when segment is NULL)
 * and every subscription row into *L. Returns CW_OK, or an error with the
 * message on the store handle ("<what>: …"). L must be freed with
 * cw_ledger_free() either way. */
cw_status cw_ledger_load(cw_store *st, const char *what, const char *segment, cw_ledger *L);
/* Frees what L owns (safe on a zeroed or partly loaded ledger). */
void cw_ledger_free(cw_ledger *L);

/* A string of the arena; borrowed until the next call on this handle
 * (cw_ledger_free). */
static inline const char *cw_ledger_str(const cw_ledger *L, size_t off)
{
    return L->text.p + off;
}

/* A malloc'd copy of a string of the arena (caller frees); NULL on no memory. */
static inline char *cw_ledger_strdup(const cw_ledger *L, size_t off)
{
    const char *t = cw_ledger_str(L, off);
    return cw_strndup(t, strlen(t));
}

/* Checks that the subscription rows of the accounts with mark[id] set (of the
 * included accounts when mark is NULL) share one currency, copied into cur
 * (4 bytes, "" when there are no such rows). On two currencies returns
 * CW_ERR_INPUT with a message naming the first two conflicting rows. */
cw_status cw_ledger_one_currency(const cw_ledger *L, const unsigned char *mark, const char *what,
                                 char cur[4]);

/* The row of account in force just before instant t, or -1. */
int64_t cw_ledger_in_force(const cw_ledger *L, int64_t account, int64_t t);

/* ---- month-end MRR series (cohorts.c, ltv.c) ---------------------------
 * The ledger with the month range of its included rows, which must share
 * one currency. */
typedef struct cw_ledger_months {
    cw_ledger L;
    char currency[4];
    int first, last; /* months (year*12 + month-1) holding a change */
} cw_ledger_months;

/* Loads the ledger into *c and checks the included accounts' currency.
 * Returns CW_OK, CW_ERR_NOTFOUND when no included account has a
 * subscription row, CW_ERR_INPUT (two currencies, over 200 years), message
 * on the store ("<what>: …"). Free c->L with cw_ledger_free() either way. */
cw_status cw_ledger_months_load(cw_store *st, const char *what, const char *segment,
                                cw_ledger_months *c);

/* Calls fn for every included account holding a subscription row, in id
 * order, with its MRR at each month end of [first, last] (mrr[0..last-first],
 * borrowed for the call). Stops at and returns fn's first non-CW_OK. */
cw_status cw_ledger_months_each(cw_ledger_months *c,
                                cw_status (*fn)(cw_ledger_months *c, int64_t account,
                                                const int64_t *mrr, void *ud),
                                void *ud);

/* Kaplan–Meier over tallies at n distinct ascending times: d[i] events and
 * c[i] censorings at time i (a censoring at a time counts as at risk at
 * it), starting from n0 at risk. Writes, for each i, the number at risk
 * at_risk[i], the survival just after the time surv[i] = Π (1 - d/n) and,
 * when gw is not NULL, Greenwood's sum gw[i] = Σ d / (n (n - d)) (infinite
 * once S reaches 0). Times with nobody at risk leave S unchanged. */
void cw_km_curve(int64_t n, const int64_t *d, const int64_t *c, int64_t n0, int64_t *at_risk,
                 double *surv, double *gw);

#endif
