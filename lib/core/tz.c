/*
 * tz.c — UTC offsets of IANA time zones, read from the system's tz database
 * (/usr/share/zoneinfo TZif files, RFC 8536). Only what mappings need: the
 * offset in force at an instant, and the UTC instant of a local wall-clock
 * time. The 64-bit (version 2+) data block is read; instants after its last
 * transition follow the file's footer, a POSIX TZ rule such as
 * "CET-1CEST,M3.5.0,M10.5.0/3" (modern "slim" files stop their transitions
 * early and rely on it). libc's tz code is not used: it depends on the
 * process environment (TZ) and keeps global state.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tz_rule_date {
    int kind; /* 'M' (month.week.day), 'J' (Julian 1..365, no Feb 29), 'n' (0..365) */
    int m, w, d, n;
    int32_t secs; /* local time of the change, seconds after midnight */
} tz_rule_date;

struct cw_tz {
    int64_t *trans; /* transition instants, ascending */
    unsigned char *idx;
    int32_t *utoff;
    unsigned char *isdst;
    int ntrans, ntypes;
    /* footer rule */
    int has_rule, rule_dst;
    int32_t std_off, dst_off;
    tz_rule_date start, end;
};

static int64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    if (n == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

/* Parses "[+-]hh[:mm[:ss]]" at *p; returns seconds or sets *ok = 0. */
static int32_t rule_time(const char **p, int *ok)
{
    const char *s = *p;
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (*s < '0' || *s > '9') {
        *ok = 0;
        return 0;
    }
    int32_t v = 0, part = 0;
    while (*s >= '0' && *s <= '9')
        part = part * 10 + (*s++ - '0');
    v = part * 3600;
    for (int k = 0; k < 2 && *s == ':'; k++) {
        s++;
        part = 0;
        while (*s >= '0' && *s <= '9')
            part = part * 10 + (*s++ - '0');
        v += k == 0 ? part * 60 : part;
    }
    *p = s;
    return sign * v;
}

static int rule_name(const char **p)
{
    const char *s = *p;
    if (*s == '<') {
        while (*s && *s != '>')
            s++;
        if (*s != '>')
            return 0;
        s++;
    } else {
        const char *b = s;
        while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
            s++;
        if (s - b < 3)
            return 0;
    }
    *p = s;
    return 1;
}

static int rule_date(const char **p, tz_rule_date *d)
{
    const char *s = *p;
    int ok = 1;
    memset(d, 0, sizeof *d);
    if (*s == 'M') {
        d->kind = 'M';
        s++;
        d->m = (int)strtol(s, (char **)&s, 10);
        if (*s++ != '.')
            return 0;
        d->w = (int)strtol(s, (char **)&s, 10);
        if (*s++ != '.')
            return 0;
        d->d = (int)strtol(s, (char **)&s, 10);
        if (d->m < 1 || d->m > 12 || d->w < 1 || d->w > 5 || d->d < 0 || d->d > 6)
            return 0;
    } else if (*s == 'J') {
        d->kind = 'J';
        s++;
        d->n = (int)strtol(s, (char **)&s, 10);
    } else if (*s >= '0' && *s <= '9') {
        d->kind = 'n';
        d->n = (int)strtol(s, (char **)&s, 10);
    } else {
        return 0;
    }
    d->secs = 7200;
    if (*s == '/') {
        s++;
        d->secs = rule_time(&s, &ok);
    }
    *p = s;
    return ok;
}

/* Parses a POSIX TZ rule; returns 0 when it is not understood. */
static int parse_rule(cw_tz *z, const char *s)
{
    int ok = 1;
    if (!rule_name(&s))
        return 0;
    z->std_off = -rule_time(&s, &ok);
    if (!ok)
        return 0;
    z->dst_off = z->std_off;
    z->has_rule = 1;
    if (!*s)
        return 1;
    if (!rule_name(&s))
        return 0;
    z->dst_off = z->std_off + 3600;
    if (*s && *s != ',') {
        z->dst_off = -rule_time(&s, &ok);
        if (!ok)
            return 0;
    }
    if (*s++ != ',' || !rule_date(&s, &z->start) || *s++ != ',' || !rule_date(&s, &z->end))
        return 0;
    z->rule_dst = 1;
    return *s == '\0';
}

cw_status cw_tz_load(const char *name, cw_tz **out, char *why, size_t whysz)
{
    *out = NULL;
    /* Names are paths below the database: refuse anything that could
     * leave it. */
    if (!*name || name[0] == '/' || strstr(name, "..") || strlen(name) > 200) {
        snprintf(why, whysz, "'%s' is not a time zone name", name);
        return CW_ERR_CONFIG;
    }
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whysz, "unknown time zone '%s' (not in the tz database %s)", name,
                 dir && *dir ? dir : "/usr/share/zoneinfo");
        return CW_ERR_CONFIG;
    }
    unsigned char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    cw_tz *z = calloc(1, sizeof *z);
    if (!buf || !z) {
        free(buf);
        free(z);
        return CW_ERR_NOMEM;
    }
    const char *bad = NULL;
    if (n < 44 || memcmp(buf, "TZif", 4) != 0 || buf[4] < '2') {
        bad = "is not a TZif version 2+ file";
        goto fail;
    }
    /* Skip the 32-bit block: its counts are in the first header. */
    size_t cnt[6];
    for (int i = 0; i < 6; i++)
        cnt[i] = (size_t)be(buf + 20 + 4 * i, 4);
    size_t off = 44 + cnt[3] * 5 + cnt[4] * 6 + cnt[5] + cnt[2] * 8 + cnt[1] + cnt[0];
    if (off + 44 > n || memcmp(buf + off, "TZif", 4) != 0) {
        bad = "is truncated";
        goto fail;
    }
    for (int i = 0; i < 6; i++)
        cnt[i] = (size_t)be(buf + off + 20 + 4 * i, 4);
    size_t isut = cnt[0], isstd = cnt[1], leap = cnt[2], timecnt = cnt[3], typecnt = cnt[4],
           charcnt = cnt[5];
    const unsigned char *p = buf + off + 44;
    size_t need = timecnt * 9 + typecnt * 6 + charcnt + leap * 12 + isstd + isut;
    if (typecnt == 0 || (size_t)(p - buf) + need > n) {
        bad = "is truncated";
        goto fail;
    }
    z->ntrans = (int)timecnt;
    z->ntypes = (int)typecnt;
    z->trans = malloc((timecnt ? timecnt : 1) * sizeof *z->trans);
    z->idx = malloc(timecnt ? timecnt : 1);
    z->utoff = malloc(typecnt * sizeof *z->utoff);
    z->isdst = malloc(typecnt);
    if (!z->trans || !z->idx || !z->utoff || !z->isdst) {
        cw_tz_free(z);
        free(buf);
        return CW_ERR_NOMEM;
    }
    for (size_t i = 0; i < timecnt; i++)
        z->trans[i] = be(p + 8 * i, 8);
    p += 8 * timecnt;
    for (size_t i = 0; i < timecnt; i++) {
        z->idx[i] = p[i];
        if (p[i] >= typecnt) {
            bad = "has a bad type index";
            goto fail;
        }
    }
    p += timecnt;
    for (size_t i = 0; i < typecnt; i++) {
        z->utoff[i] = (int32_t)be(p + 6 * i, 4);
        z->isdst[i] = p[6 * i + 4];
    }
    p += typecnt * 6 + charcnt + leap * 12 + isstd + isut;
    /* Footer: "\n<rule>\n". */
    if ((size_t)(p - buf) < n && *p == '\n') {
        const unsigned char *e = memchr(p + 1, '\n', n - (size_t)(p - buf) - 1);
        if (e && e > p + 1) {
            char rule[128];
            size_t rl = (size_t)(e - p - 1);
            if (rl < sizeof rule) {
                memcpy(rule, p + 1, rl);
                rule[rl] = '\0';
                if (!parse_rule(z, rule))
                    z->has_rule = 0;
            }
        }
    }
    free(buf);
    *out = z;
    return CW_OK;
fail:
    snprintf(why, whysz, "time zone file %s %s", path, bad);
    free(buf);
    cw_tz_free(z);
    return CW_ERR_CONFIG;
}

void cw_tz_free(cw_tz *z)
{
    if (!z)
        return;
    free(z->trans);
    free(z->idx);
    free(z->utoff);
    free(z->isdst);
    free(z);
}

/* The UTC instant of a rule date in year y, given the offset in force
 * before the change. */
static int64_t rule_instant(const tz_rule_date *d, int64_t y, int32_t off_before)
{
    int64_t day;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d->kind == 'M') {
        static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        int dim = dm[d->m - 1] + (d->m == 2 && leap);
        int64_t first = cw_days_from_civil(y, (unsigned)d->m, 1);
        int wd1 = (int)(((first % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
        int md = 1 + (d->d - wd1 + 7) % 7 + (d->w - 1) * 7;
        while (md > dim)
            md -= 7;
        day = first + md - 1;
    } else if (d->kind == 'J') {
        int n = d->n;
        day = cw_days_from_civil(y, 1, 1) + n - 1 + (leap && n >= 60);
    } else {
        day = cw_days_from_civil(y, 1, 1) + d->n;
    }
    return day * 86400 + d->secs - off_before;
}

int32_t cw_tz_offset(const cw_tz *z, int64_t t)
{
    if (z->ntrans == 0 || t >= z->trans[z->ntrans - 1]) {
        if (z->has_rule) {
            if (!z->rule_dst)
                return z->std_off;
            int64_t days = t / 86400 - (t % 86400 < 0);
            /* Civil year of t in standard time. */
            int64_t y = 1970 + days / 365;
            while (cw_days_from_civil(y, 1, 1) * 86400 > t + z->std_off)
                y--;
            while (cw_days_from_civil(y + 1, 1, 1) * 86400 <= t + z->std_off)
                y++;
            int64_t s = rule_instant(&z->start, y, z->std_off);
            int64_t e = rule_instant(&z->end, y, z->dst_off);
            int in = s < e ? (t >= s && t < e) : !(t >= e && t < s);
            return in ? z->dst_off : z->std_off;
        }
        if (z->ntrans)
            return z->utoff[z->idx[z->ntrans - 1]];
    }
    if (z->ntrans == 0 || t < z->trans[0]) {
        for (int i = 0; i < z->ntypes; i++)
            if (!z->isdst[i])
                return z->utoff[i];
        return z->utoff[0];
    }
    int lo = 0, hi = z->ntrans - 1; /* trans[lo] <= t */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return z->utoff[z->idx[lo]];
}

int64_t cw_tz_local_to_utc(const cw_tz *z, int64_t local)
{
    /* The offsets in force a day before and a day after; the first that
     * is consistent wins, so a repeated wall-clock hour (DST ends) takes
     * its first occurrence and a skipped one (DST starts) the offset
     * before the change. */
    int32_t before = cw_tz_offset(z, local - 86400), after = cw_tz_offset(z, local + 86400);
    if (cw_tz_offset(z, local - before) == before)
        return local - before;
    if (cw_tz_offset(z, local - after) == after)
        return local - after;
    return local - before;
}
