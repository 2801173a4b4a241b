/*
 * validate.h — field and row validation, money in major units (validate.c).
 */
#ifndef CW_INGEST_VALIDATE_H
#define CW_INGEST_VALIDATE_H

#include "churnwatch.h"
#include <stddef.h>
#include <stdint.h>

/* ---- validate.c ----------------------------------------------------- */

/* A validated field. Text values point into the record (borrowed). */
typedef struct cw_value {
    const char *s;
    size_t len;
    int64_t i; /* ints, money, timestamps, dates, bools, enum index */
    double d;  /* reals */
    int present;
} cw_value;

/* Validates the text of one field. Empty text is "absent" (an error when
 * required). Returns 1 when valid; else 0 with a reason in why. */
int cw_validate_field(const cw_field_def *f, const char *s, size_t len, int naive_utc,
                      cw_value *out, char *why, size_t whysz);
/* Cross-field rules of a kind (e.g. churn_date required when churned).
 * Returns 1 when valid; else 0 with *field the offending field index. */
int cw_validate_row(const cw_kind_def *kd, const cw_value *v, int *field, char *why, size_t whysz);
/* Parses an amount in major units ("120000", "120,000.00", "$1,200.5",
 * "-3.20", "(3.20)", "120 USD") into minor units of currency (NUL-terminated
 * ISO code, may be NULL for 2 decimals; cw_currency_exponent). Thousands separators must group by
 * three; more decimals than the currency has are an error unless zeros.
 * Returns 1 on success, else 0 with a reason in why. */
int cw_money_parse_major(const char *s, size_t len, const char *currency, int64_t *out, char *why,
                         size_t whysz);
/* cw_validate_field for a money field given in major units of currency
 * (NULL = 2 decimals): out->i is the amount in minor units. */
int cw_validate_money_major(const cw_field_def *f, const char *s, size_t len, const char *currency,
                            cw_value *out, char *why, size_t whysz);

#endif /* CW_INGEST_VALIDATE_H */
