/*
 * store/sql/store_periods.c — billing periods (docs/importers.md): where an
 * account's change log came from, and the rows derived from its periods
 * (origin 'periods'), replaced as a whole and only when they differ.
 */
#include "core/util.h"
#include "ingest/periods.h"
#include "store/sql/store_int.h"

#include <string.h>

cw_status cw_op_sub_origins(cw_store *st, int64_t account, int64_t *native, int64_t *derived,
                            int64_t *periods)
{
    cw_stmt **q = &st->q[CW_Q_ORIGINS];
    cw_status s = cw_sql_lazy(st, q,
                              "SELECT (SELECT count(*) FROM subscriptions WHERE account=?1 AND"
                              " origin<>'periods'), (SELECT count(*) FROM subscriptions WHERE"
                              " account=?1 AND origin='periods'), CASE WHEN EXISTS(SELECT 1 FROM"
                              " subscription_periods WHERE account=?1) THEN 1 ELSE 0 END",
                              "subscription origins");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(*q, 1, account);
    int rc = cw_sql_step(*q);
    if (rc == CW_SQL_ROW) {
        *native = cw_sql_col_i64(*q, 0);
        *derived = cw_sql_col_i64(*q, 1);
        *periods = cw_sql_col_i64(*q, 2);
    }
    s = rc == CW_SQL_ROW ? CW_OK : cw_sql_fail(st, "subscription origins");
    cw_sql_reset(*q);
    return s;
}

/* The billing_period field of subscriptions: the spelling of r's, or NULL. */
static const char *bp_name(const cw_sub_row *r, char *buf, size_t n)
{
    const cw_field_def *bpf = &cw_kind_get(CW_KIND_SUBSCRIPTIONS)->fields[6];
    return r->billing_period >= 0 ? cw_store_enum_name(bpf, r->billing_period, buf, n) : NULL;
}

/* Whether the current row of q (effective_at, mrr_minor, currency, seats,
 * plan, billing_period) is r. */
static int same_row(cw_stmt *q, const cw_sub_row *r)
{
    char buf[64];
    const char *cur = (const char *)cw_sql_col_text(q, 2);
    const char *plan = (const char *)cw_sql_col_text(q, 4);
    const char *bp = (const char *)cw_sql_col_text(q, 5);
    const char *want_bp = bp_name(r, buf, sizeof buf);
    return cw_sql_col_i64(q, 0) == r->effective_at && cw_sql_col_i64(q, 1) == r->mrr_minor &&
           cw_sql_col_i64(q, 3) == r->seats && cur && strcmp(cur, r->currency) == 0 &&
           (plan ? r->plan && strcmp(plan, r->plan) == 0 : !r->plan) &&
           (bp ? want_bp && strcmp(bp, want_bp) == 0 : !want_bp);
}

/* Whether account's stored derived rows are rows[0..n). */
static cw_status derived_same(cw_store *st, int64_t account, const cw_sub_row *rows, size_t n,
                              int *same)
{
    cw_stmt **q = &st->q[CW_Q_DER_GET];
    cw_status s = cw_sql_lazy(st, q,
                              "SELECT effective_at, mrr_minor, currency, seats, plan,"
                              " billing_period FROM subscriptions WHERE account=? AND"
                              " origin='periods' ORDER BY effective_at",
                              "derived subscriptions");
    if (s != CW_OK)
        return s;
    cw_sql_bind_i64(*q, 1, account);
    size_t i = 0;
    int rc = CW_SQL_DONE;
    *same = 1;
    while (*same && (rc = cw_sql_step(*q)) == CW_SQL_ROW)
        *same = i < n && same_row(*q, &rows[i++]);
    if (*same && rc != CW_SQL_DONE)
        s = cw_sql_fail(st, "derived subscriptions");
    cw_sql_reset(*q);
    *same = *same && i == n;
    return s;
}

cw_status cw_op_replace_derived(cw_store *st, int64_t account, const cw_sub_row *rows, size_t n,
                                int *changed)
{
    cw_status s;
    int same;
    /* Compare first, so that re-deriving the same log writes nothing. */
    if ((s = derived_same(st, account, rows, n, &same)) != CW_OK)
        return s;
    *changed = !same;
    if (same)
        return CW_OK;
    cw_stmt **del = &st->q[CW_Q_DER_DEL], **ins = &st->q[CW_Q_DER_INS];
    if ((s = cw_sql_lazy(st, del, "DELETE FROM subscriptions WHERE account=? AND origin='periods'",
                         "derived subscriptions")) != CW_OK)
        return s;
    cw_sql_bind_i64(*del, 1, account);
    if ((s = cw_sql_step_done(st, *del, "derived subscriptions")) != CW_OK)
        return s;
    for (size_t i = 0; i < n; i++) {
        const cw_sub_row *r = &rows[i];
        char buf[64];
        if ((s = cw_sql_lazy(st, ins,
                             "INSERT INTO subscriptions(account,effective_at,mrr_minor,currency,"
                             "seats,plan,billing_period,origin) VALUES(?,?,?,?,?,?,?,'periods')",
                             "derived subscriptions")) != CW_OK)
            return s;
        cw_sql_bind_i64(*ins, 1, account);
        cw_sql_bind_i64(*ins, 2, r->effective_at);
        cw_sql_bind_i64(*ins, 3, r->mrr_minor);
        cw_sql_bind_text(*ins, 4, r->currency, -1);
        cw_sql_bind_i64(*ins, 5, r->seats);
        if (r->plan)
            cw_sql_bind_text(*ins, 6, r->plan, -1);
        else
            cw_sql_bind_null(*ins, 6);
        const char *bp = bp_name(r, buf, sizeof buf);
        if (bp)
            cw_sql_bind_text_copy(*ins, 7, bp, -1);
        else
            cw_sql_bind_null(*ins, 7);
        if ((s = cw_sql_step_done(st, *ins, "derived subscriptions")) != CW_OK)
            return s;
    }
    return CW_OK;
}
