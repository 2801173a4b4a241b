/*
 * api_int.h — what the read models of lib/api/ share among themselves.
 */
#ifndef CW_API_INT_H
#define CW_API_INT_H

#include "api/api.h"

/* A day (days since the epoch) as a "YYYY-MM-DD" JSON string (caller
 * frees). In api_accounts.c. */
json_t *cw_api_day_json(int64_t day);

#endif
