/*
 * api_alerts.c — alerts in the JSON API (api.h): the list, with statuses
 * named and the values that raised each alert in words, and the changes
 * (acknowledge, snooze, resolve), which go through cw_alert_update so the
 * API and `churnwatch alerts` keep the same history (docs/alerts.md). The
 * rows come from the store's read queries (store/store_api.h); no SQL here.
 */
#include "api/api.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

static const char *const alert_status_names[] = {"",         "open",     "acknowledged", "snoozed",
                                                 "resolved", "resolved", "resolved"};
static const char *const alert_resolutions[] = {"", "", "", "", "auto", "by hand", "gone"};

/* Status number to name; vals text to "values" and a readable message. */
static void alert_finish(json_t *it)
{
    json_t *v = json_object_get(it, "status");
    json_int_t code = json_is_integer(v) ? json_integer_value(v) : 0;
    if (code >= 1 && code <= 6) {
        json_object_set_new(it, "status", json_string(alert_status_names[code]));
        json_object_set_new(it, "resolution",
                            code >= 4 ? json_string(alert_resolutions[code]) : json_null());
    }
    json_t *vals = json_object_get(it, "vals");
    json_t *obj = json_is_string(vals) ? json_loads(json_string_value(vals), 0, NULL) : NULL;
    char msg[512];
    size_t len = 0;
    msg[0] = '\0';
    if (json_is_object(obj)) {
        const char *k;
        json_t *x;
        json_object_foreach (obj, k, x) {
            if (len >= sizeof msg - 1)
                break;
            if (json_is_number(x))
                len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s %.4g", len ? ", " : "",
                                        k, json_number_value(x));
            else
                len +=
                    (size_t)snprintf(msg + len, sizeof msg - len, "%s%s n/a", len ? ", " : "", k);
        }
        json_object_set_new(it, "values", obj);
    } else {
        json_decref(obj);
        json_object_set_new(it, "values", json_object());
    }
    json_object_del(it, "vals");
    json_object_set_new(it, "message", json_string(msg));
}

cw_status cw_api_alerts_list(cw_store *st, const char *status, const char *account, int64_t limit,
                             int64_t offset, int64_t now, json_t **out)
{
    cw_store_enter(st, "alerts");
    *out = NULL;
    int code = -2; /* open */
    if (status && strcmp(status, "all") == 0)
        code = -1;
    else if (status && strcmp(status, "acknowledged") == 0)
        code = 2;
    else if (status && strcmp(status, "snoozed") == 0)
        code = 3;
    else if (status && strcmp(status, "resolved") == 0)
        code = -4;
    else if (status && strcmp(status, "open") != 0)
        return cw_store_set_error(st, CW_ERR_USAGE,
                                  "status: expected open, all, acknowledged, snoozed or "
                                  "resolved");
    if (limit < 1 || limit > 500 || offset < 0)
        return cw_store_set_error(st, CW_ERR_USAGE, "limit must be 1..500 and offset >= 0");
    int64_t today, total = 0;
    cw_status s = cw_store_api_alerts_today(st, now, &today);
    if (s != CW_OK)
        return s;
    json_t *items = json_array();
    if ((s = cw_store_api_alerts(st, code, account, today, limit, offset, items, &total)) !=
        CW_OK) {
        json_decref(items);
        return s;
    }
    size_t i;
    json_t *it;
    json_array_foreach (items, i, it)
        alert_finish(it);
    *out = json_pack("{s:I, s:o}", "total", (json_int_t)total, "items", items);
    return CW_OK;
}

cw_status cw_api_alert_update(cw_store *st, int64_t id, cw_api_alert_op op, int64_t until_unix,
                              int64_t days, int64_t now, const char *actor, json_t **out)
{
    cw_store_enter(st, "alert update");
    *out = NULL;
    static const cw_alert_action what[] = {0, CW_ALERT_DO_ACK, CW_ALERT_DO_SNOOZE,
                                           CW_ALERT_DO_RESOLVE};
    if (op < CW_ALERT_ACK || op > CW_ALERT_RESOLVE)
        return cw_store_set_error(st, CW_ERR_USAGE, "unknown alert operation");
    int64_t until_day = -1;
    if (op == CW_ALERT_SNOOZE) {
        int64_t today;
        cw_status s = cw_store_api_alerts_today(st, now, &today);
        if (s != CW_OK)
            return s;
        until_day = days > 0 ? today + days : until_unix / 86400;
    }
    cw_status s = cw_alert_update(st, id, what[op], until_day, actor ? actor : "api", NULL, now);
    if (s != CW_OK || (s = cw_store_api_alert(st, id, out)) != CW_OK)
        return s;
    alert_finish(*out);
    return CW_OK;
}
