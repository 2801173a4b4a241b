/*
 * tz.h — IANA time zones read from the system tz database (tz.c).
 */
#ifndef CW_CORE_TZ_H
#define CW_CORE_TZ_H

#include "churnwatch.h"
#include <stdint.h>

/* ---- tz.c: IANA time zones from the system's tz database ------------ */

typedef struct cw_tz cw_tz;
/* Loads zone name (e.g. "Europe/Berlin") from $TZDIR or /usr/share/zoneinfo.
 * Returns CW_ERR_CONFIG with a reason in why when unknown or unreadable. */
cw_status cw_tz_load(const char *name, cw_tz **out, char *why, size_t whysz);
void cw_tz_free(cw_tz *z); /* accepts NULL */
/* The UTC offset (seconds east) in force at Unix time t. */
int32_t cw_tz_offset(const cw_tz *z, int64_t t);
/* The Unix time of a local wall-clock time (given as if it were UTC). */
int64_t cw_tz_local_to_utc(const cw_tz *z, int64_t local);

#endif /* CW_CORE_TZ_H */
