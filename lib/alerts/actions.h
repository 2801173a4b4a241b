/*
 * actions.h — action templates and the stock actions (actions.c,
 * deliver.c). The outbox and task SQL the deliverer uses is in
 * store/store_outbox.h.
 */
#ifndef CW_ALERTS_ACTIONS_H
#define CW_ALERTS_ACTIONS_H

#include "churnwatch.h"
#include <stddef.h>
#include <stdint.h>

/* ---- actions.c / deliver.c ---- */

struct json_t;
/* cw_template_render over a parsed payload (borrowed until the call
 * returns); errors in *err as there. */
cw_status cw_template_render_json(const char *text, struct json_t *payload, cw_escape esc,
                                  char **out, cw_error *err);
/* Whether s is an address the e-mail action can send to. */
int cw_email_address_ok(const char *s);
/* "task", "email", … */
const char *cw_action_type_name(cw_action_type t);

#endif /* CW_ALERTS_ACTIONS_H */
