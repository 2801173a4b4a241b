/*
 * store/sql/store_lock.c — the run lock where the database itself keeps it.
 *
 * On SQLite the lock is a flock(2) on a file beside the database (the CLI's
 * run_lock), because the database is a file on this machine. A PostgreSQL
 * store is shared by many hosts, so there the lock lives in the server: a
 * session-level advisory lock on the store's own connection. The server
 * drops it when the session ends, however the process ends (kill -9
 * included), so a lock is never stale. Advisory locks are per database, so
 * two churnwatch databases on one cluster never block each other.
 */
#include "store/sql.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The lock's key: "cwrun" in ASCII, fixed forever (other tools that share
 * the database must not reuse it). */
#define RUN_LOCK_KEY "427205752174"

const char *cw_store_backend(cw_store *st)
{
    return cw_sql_driver_of(st)->name;
}

/* Who holds the run lock, from pg_stat_activity (readable for sessions of
 * the same role without extra rights): the application_name a run sets
 * ("churnwatch run pid N host H") and when its session started. */
static void holder_of(cw_store *st, char *buf, size_t n)
{
    cw_stmt *q;
    snprintf(buf, n, "another session");
    if (cw_sql_prepare(
            st,
            "SELECT a.application_name,"
            " to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
            " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.database = (SELECT oid FROM pg_database"
            "                   WHERE datname = current_database())"
            " AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = " RUN_LOCK_KEY
            " LIMIT 1",
            0, &q) != CW_SQL_OK)
        return;
    if (cw_sql_step(q) == CW_SQL_ROW) {
        const unsigned char *app = cw_sql_col_text(q, 0), *since = cw_sql_col_text(q, 1);
        snprintf(buf, n, "%s since %s UTC", app && *app ? (const char *)app : "a session",
                 since ? (const char *)since : "?");
    }
    cw_sql_finalize(q);
}

cw_status cw_store_run_lock(cw_store *st, double wait_s, int *held, char *holder, size_t n)
{
    cw_store_enter(st, "run lock");
    *held = -1;
    if (holder && n)
        holder[0] = '\0';
    if (cw_sql_dialect(st) != CW_DIALECT_PG)
        return CW_OK; /* the caller's file lock serves */
    char host[64] = "?", app[160];
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(app, sizeof app, "SET application_name = 'churnwatch run pid %lld host %.40s'",
             (long long)getpid(), strchr(host, '\'') ? "?" : host);
    cw_sql_exec(st, app); /* informative only */
    cw_stmt *q;
    cw_status s =
        cw_sql_prep(st, "SELECT pg_try_advisory_lock(" RUN_LOCK_KEY ")", 0, &q, "run lock");
    if (s != CW_OK)
        return s;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (cw_sql_step(q) != CW_SQL_ROW) {
            s = cw_sql_fail(st, "run lock");
            break;
        }
        if (cw_sql_col_i64(q, 0)) {
            *held = 1;
            break;
        }
        cw_sql_reset(q);
        clock_gettime(CLOCK_MONOTONIC, &now);
        double waited = (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9;
        if (waited >= wait_s) {
            *held = 0;
            if (holder && n)
                holder_of(st, holder, n);
            break;
        }
        struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    cw_sql_finalize(q);
    return s;
}
