/*
 * api_reports.c — the report endpoints of the JSON API and the HTML report
 * (api.h): the revenue bridge, cohorts and churn reasons, computed by
 * lib/revenue and shaped as JSON here, and the stored backtests and models
 * (rows from store/store_api.h). No SQL here. Shapes: docs/api.md.
 */
#include "api/api.h"
#include "store/store.h"

#include <math.h>
#include <stdio.h>

/* {"items": [rows]} from one of the store's list queries. */
static cw_status items(cw_status (*query)(cw_store *st, json_t *items), cw_store *st, json_t **out)
{
    *out = NULL;
    json_t *a = json_array();
    cw_status s = query(st, a);
    if (s != CW_OK) {
        json_decref(a);
        return s;
    }
    *out = json_pack("{s:o}", "items", a);
    return CW_OK;
}

cw_status cw_api_backtests(cw_store *st, json_t **out)
{
    cw_store_enter(st, "backtests");
    return items(cw_store_api_backtests, st, out);
}

/* The stored models, newest first: what a model is (kind, window, horizon,
 * rounds), what it learnt from (feature_set, labels), how it tested and
 * what it looks at; the per-column feature list, the ROC points and the
 * body stay out (`churnwatch train`, docs/model.md). */
cw_status cw_api_models(cw_store *st, json_t **out)
{
    cw_store_enter(st, "models");
    return items(cw_store_api_models, st, out);
}

static json_t *num(double d)
{
    return isfinite(d) ? json_real(d) : json_null();
}

cw_status cw_api_report_revenue(cw_store *st, int by_quarter, const char *segment, json_t **out)
{
    cw_store_enter(st, "revenue");
    *out = NULL;
    cw_revenue_opts o;
    cw_revenue_opts_init(&o);
    o.by_quarter = by_quarter;
    o.segment = segment;
    cw_revenue_report *r = NULL;
    cw_status s = cw_revenue_compute(st, &o, &r);
    if (s != CW_OK)
        return s;
    json_t *ps = json_array();
    for (int i = 0; i < r->nperiods; i++) {
        const cw_revenue_period *p = &r->periods[i];
        char per[16];
        snprintf(per, sizeof per, "%04d-%02d", p->year, p->month);
        json_t *o2 = json_object();
        json_object_set_new(o2, "period", json_string(per));
        json_object_set_new(o2, "mrr_start_minor", json_integer(p->mrr_start_minor));
        json_object_set_new(o2, "new_minor", json_integer(p->new_minor));
        json_object_set_new(o2, "expansion_minor", json_integer(p->expansion_minor));
        json_object_set_new(o2, "contraction_minor", json_integer(p->contraction_minor));
        json_object_set_new(o2, "churn_minor", json_integer(p->churn_minor));
        json_object_set_new(o2, "reactivation_minor", json_integer(p->reactivation_minor));
        json_object_set_new(o2, "mrr_end_minor", json_integer(p->mrr_end_minor));
        json_object_set_new(o2, "customers_start", json_integer(p->customers_start));
        json_object_set_new(o2, "customers_end", json_integer(p->customers_end));
        json_object_set_new(o2, "customers_new", json_integer(p->customers_new));
        json_object_set_new(o2, "customers_churned", json_integer(p->customers_churned));
        json_object_set_new(o2, "logo_churn_pct", num(p->logo_churn_pct));
        json_object_set_new(o2, "grr_pct", num(p->grr_pct));
        json_object_set_new(o2, "nrr_pct", num(p->nrr_pct));
        json_object_set_new(o2, "quick_ratio", num(p->quick_ratio));
        json_array_append_new(ps, o2);
    }
    *out = json_pack("{s:s, s:s, s:o}", "currency", r->currency, "by",
                     by_quarter ? "quarter" : "month", "periods", ps);
    cw_revenue_free(r);
    return CW_OK;
}

cw_status cw_api_report_cohorts(cw_store *st, const char *segment, int months, json_t **out)
{
    cw_store_enter(st, "cohorts");
    *out = NULL;
    cw_cohorts_opts o;
    cw_cohorts_opts_init(&o);
    o.segment = segment;
    if (months > 0)
        o.months = months;
    cw_cohorts_report *r = NULL;
    cw_status s = cw_cohorts_compute(st, &o, &r);
    if (s != CW_OK)
        return s;
    json_t *cs = json_array();
    for (int i = 0; i < r->ncohorts; i++) {
        const cw_cohort *c = &r->cohorts[i];
        char per[16];
        snprintf(per, sizeof per, "%04d-%02d", c->year, c->month);
        json_t *lr = json_array(), *rr = json_array();
        for (int k = 0; k <= r->months; k++) {
            json_array_append_new(lr, num(c->logo_retention_pct[k]));
            json_array_append_new(rr, num(c->revenue_retention_pct[k]));
        }
        json_array_append_new(cs, json_pack("{s:s, s:I, s:I, s:o, s:o}", "cohort", per, "accounts",
                                            (json_int_t)c->accounts, "mrr0_minor",
                                            (json_int_t)c->mrr0_minor, "logo_retention_pct", lr,
                                            "revenue_retention_pct", rr));
    }
    *out =
        json_pack("{s:s, s:i, s:o}", "currency", r->currency, "months", r->months, "cohorts", cs);
    cw_cohorts_free(r);
    return CW_OK;
}

cw_status cw_api_report_reasons(cw_store *st, const char *segment, json_t **out)
{
    cw_store_enter(st, "reasons");
    *out = NULL;
    cw_reasons_opts o;
    cw_reasons_opts_init(&o);
    o.segment = segment;
    cw_reasons_report *r = NULL;
    cw_status s = cw_reasons_compute(st, &o, &r);
    if (s != CW_OK)
        return s;
    json_t *causes = json_array();
    for (int c = 0; c < CW_CAUSE__COUNT; c++)
        json_array_append_new(
            causes, json_pack("{s:s, s:I, s:I}", "cause", cw_churn_cause_name((cw_churn_cause)c),
                              "accounts", (json_int_t)r->by_cause[c].accounts, "lost_mrr_minor",
                              (json_int_t)r->by_cause[c].lost_mrr_minor));
    *out =
        json_pack("{s:s, s:o, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}}", "currency", r->currency,
                  "causes", causes, "total", "accounts", (json_int_t)r->total.accounts,
                  "lost_mrr_minor", (json_int_t)r->total.lost_mrr_minor, "avoidable", "accounts",
                  (json_int_t)r->avoidable.accounts, "lost_mrr_minor",
                  (json_int_t)r->avoidable.lost_mrr_minor, "unavoidable", "accounts",
                  (json_int_t)r->unavoidable.accounts, "lost_mrr_minor",
                  (json_int_t)r->unavoidable.lost_mrr_minor);
    cw_reasons_free(r);
    return CW_OK;
}
