/*
 * chain.c — the user → seat → revenue churn chain: per account, the users
 * there at the start of a month range who left in it, and what the next
 * subscription change did to seats and MRR (kept, lost seats, cancelled).
 *
 * MRR follows lib/revenue/revenue.c's definition (docs/revenue.md), read
 * through the ledger (ledger.h). docs/revenue-reasons.md defines every
 * figure.
 */
#include "churnwatch.h"
#include "core/util.h"
#include "store/store.h"
#include "revenue/ledger.h"

#include <stdlib.h>
#include <string.h>

static const char *const outcome_names[] = {"no_change", "seats_kept", "seats_lost", "cancelled",
                                            "not_paying"};

const char *cw_chain_outcome_name(cw_chain_outcome o)
{
    return (int)o >= 0 && o <= CW_CHAIN_NOT_PAYING ? outcome_names[o] : NULL;
}

void cw_chain_opts_init(cw_chain_opts *o)
{
    memset(o, 0, sizeof *o);
    o->from_month = o->to_month = -1;
}

typedef struct user_row {
    int64_t account, provisioned, deactivated; /* deactivated INT64_MAX = still active */
} user_row;

typedef struct chain_ctx {
    const cw_ledger *L;
    user_row *u;
    int64_t n, cap;
} chain_ctx;

static cw_status on_user(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    chain_ctx *c = ud;
    /* users: 1 account, 5 provisioned_at, 6 deactivated_at */
    int64_t acc = v[1].i;
    if (acc < 1 || acc >= c->L->nids || !c->L->acc[acc].present || !c->L->acc[acc].included)
        return CW_OK;
    if (c->n == c->cap) {
        int64_t n = c->cap ? c->cap * 2 : 256;
        user_row *g = realloc(c->u, (size_t)n * sizeof *g);
        if (!g)
            return CW_ERR_NOMEM;
        c->u = g;
        c->cap = n;
    }
    c->u[c->n++] = (user_row){acc, v[5].i, v[6].present ? v[6].i : INT64_MAX};
    return CW_OK;
}

static int cmp_user(const void *a, const void *b)
{
    const user_row *x = a, *y = b;
    return x->account < y->account ? -1 : x->account > y->account;
}

static int cmp_chain(const void *a, const void *b)
{
    return strcmp(((const cw_chain_account *)a)->account_id,
                  ((const cw_chain_account *)b)->account_id);
}

/* What followed account acc's first user loss (a->first_loss_ts_unix): the
 * next subscription change, its outcome and the seats and MRR lost, added
 * to r's totals; mark[acc] set when a change is reported. Returns non-zero
 * when the lost MRR total overflows. */
static int chain_outcome(const cw_ledger *L, int64_t acc, cw_chain_account *a, cw_chain_report *r,
                         unsigned char *mark)
{
    const cw_ledger_account *ai = &L->acc[acc];
    const int64_t first_loss = a->first_loss_ts_unix;
    /* The next subscription change at or after the first loss. */
    int64_t k = -1;
    for (int64_t q = ai->lo; q < ai->hi; q++)
        if (L->subs[q].ts_unix >= first_loss) {
            k = q;
            break;
        }
    int64_t b = cw_ledger_in_force(L, acc, first_loss);
    a->seats_before = b >= 0 && L->subs[b].mrr_minor > 0 ? L->subs[b].seats : 0;
    a->mrr_before_minor = b >= 0 ? L->subs[b].mrr_minor : 0;
    if (a->mrr_before_minor == 0) {
        /* Users removed while the account did not pay (e.g. after it
         * left): no renewal of theirs can follow. */
        a->outcome = CW_CHAIN_NOT_PAYING;
        r->accounts_not_paying++;
        return 0;
    }
    if (k < 0) {
        a->outcome = CW_CHAIN_NO_CHANGE;
        a->seats_after = a->seats_before;
        a->mrr_after_minor = a->mrr_before_minor;
        return 0;
    }
    mark[acc] = 1;
    a->change_ts_unix = L->subs[k].ts_unix;
    a->mrr_after_minor = L->subs[k].mrr_minor;
    a->seats_after = L->subs[k].mrr_minor > 0 ? L->subs[k].seats : 0;
    if (a->mrr_before_minor > 0 && a->mrr_after_minor == 0)
        a->outcome = CW_CHAIN_CANCELLED;
    else if (a->seats_after < a->seats_before)
        a->outcome = CW_CHAIN_SEATS_LOST;
    else
        a->outcome = CW_CHAIN_SEATS_KEPT;
    if (a->outcome == CW_CHAIN_SEATS_KEPT)
        return 0;
    a->seats_lost = a->seats_before - a->seats_after;
    a->mrr_lost_minor =
        a->mrr_before_minor > a->mrr_after_minor ? a->mrr_before_minor - a->mrr_after_minor : 0;
    if (a->outcome == CW_CHAIN_CANCELLED)
        r->accounts_cancelled++;
    else
        r->accounts_seat_loss++;
    r->seats_lost += a->seats_lost;
    return __builtin_add_overflow(r->mrr_lost_minor, a->mrr_lost_minor, &r->mrr_lost_minor);
}

cw_status cw_chain_compute(cw_store *st, const cw_chain_opts *o, cw_chain_report **out)
{
    cw_store_enter(st, "chain");
    *out = NULL;
    cw_chain_opts def;
    if (!o) {
        cw_chain_opts_init(&def);
        o = &def;
    }
    cw_ledger L;
    chain_ctx c = {&L, NULL, 0, 0};
    cw_chain_report *r = NULL;
    unsigned char *mark = NULL;
    cw_status s = cw_ledger_load(st, "chain", o->segment, &L);
    if (s == CW_OK)
        s = cw_store_get_ops(st)->scan_rows(st, CW_KIND_USERS, on_user, &c);
    if (s != CW_OK)
        goto done;
    if (c.n == 0) {
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "chain: no users%s%s%s",
                               o->segment ? " in segment '" : "", o->segment ? o->segment : "",
                               o->segment ? "'" : "");
        goto done;
    }
    /* Default range: the last month holding a deactivation. A range that
     * began at the first month with users would have no users at its start. */
    int last = INT32_MIN;
    for (int64_t i = 0; i < c.n; i++) {
        int64_t t = c.u[i].deactivated != INT64_MAX ? c.u[i].deactivated : c.u[i].provisioned;
        int m = cw_month_of(t);
        last = m > last ? m : last;
    }
    int m1 = o->to_month >= 0 ? o->to_month : last;
    if (o->to_month < 0 && o->from_month > m1)
        m1 = o->from_month;
    int m0 = o->from_month >= 0 ? o->from_month : m1;
    if (m1 < m0) {
        s = cw_store_set_error(st, CW_ERR_USAGE, "chain: the range ends before it starts");
        goto done;
    }
    int64_t t0 = cw_month_start_unix(m0), t1 = cw_month_start_unix(m1 + 1);
    qsort(c.u, (size_t)c.n, sizeof *c.u, cmp_user);
    r = calloc(1, sizeof *r);
    mark = calloc((size_t)L.nids, 1);
    if (!r || !mark) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "chain: out of memory");
        goto done;
    }
    r->from_month = m0;
    r->to_month = m1;
    int64_t nacc = 0;
    for (int64_t i = 0; i < c.n; i++)
        nacc += i == 0 || c.u[i].account != c.u[i - 1].account;
    r->accounts = calloc((size_t)nacc, sizeof *r->accounts);
    if (!r->accounts) {
        s = cw_store_set_error(st, CW_ERR_NOMEM, "chain: out of memory");
        goto done;
    }
    int ovf = 0;
    for (int64_t i = 0; i < c.n;) {
        int64_t acc = c.u[i].account, j = i;
        int64_t start = 0, lost = 0, first_loss = INT64_MAX;
        for (; j < c.n && c.u[j].account == acc; j++) {
            const user_row *u = &c.u[j];
            if (u->provisioned < t0 && u->deactivated >= t0)
                start++;
            /* Only users there at the start count as lost, so the rate is at most 100 %. */
            if (u->provisioned < t0 && u->deactivated >= t0 && u->deactivated < t1) {
                lost++;
                first_loss = u->deactivated < first_loss ? u->deactivated : first_loss;
            }
        }
        i = j;
        r->users_start += start;
        r->users_lost += lost;
        if (!lost)
            continue;
        cw_chain_account *a = &r->accounts[r->naccounts++];
        const cw_ledger_account *ai = &L.acc[acc];
        a->account_id = cw_ledger_strdup(&L, ai->ext);
        a->segment = cw_ledger_strdup(&L, L.seg_name[ai->segment]);
        if (!a->account_id || !a->segment) {
            s = cw_store_set_error(st, CW_ERR_NOMEM, "chain: out of memory");
            goto done;
        }
        a->users_start = start;
        a->users_lost = lost;
        a->first_loss_ts_unix = first_loss;
        r->accounts_with_user_loss++;
        ovf |= chain_outcome(&L, acc, a, r, mark);
    }
    if (ovf) {
        s = cw_store_set_error(st, CW_ERR_TOOBIG, "chain: MRR overflows 64 bits");
        goto done;
    }
    /* Only the accounts whose change is reported must agree on a currency. */
    s = cw_ledger_one_currency(&L, mark, "chain", r->currency);
    if (s != CW_OK)
        goto done;
    r->user_churn_pct = cw_pct(r->users_lost, r->users_start);
    if (r->naccounts)
        qsort(r->accounts, (size_t)r->naccounts, sizeof *r->accounts, cmp_chain);
done:
    if (s != CW_OK) {
        cw_chain_free(r);
        r = NULL;
    }
    *out = r;
    free(mark);
    free(c.u);
    cw_ledger_free(&L);
    return s;
}

void cw_chain_free(cw_chain_report *r)
{
    if (!r)
        return;
    for (int64_t i = 0; i < r->naccounts; i++) {
        free(r->accounts[i].account_id);
        free(r->accounts[i].segment);
    }
    free(r->accounts);
    free(r);
}
