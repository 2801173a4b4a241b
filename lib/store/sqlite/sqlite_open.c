/*
 * store/sqlite/sqlite_open.c — what only the SQLite store has: the database
 * file (created 0600), its pragmas (WAL, synchronous, page cache, busy
 * timeout), the read-only fallback to an immutable open, the schema version
 * in PRAGMA user_version, and the error classes of a full disk or an I/O
 * error. The rest of the store (lib/store/sql/) is the same for every
 * backend.
 *
 * The database runs in WAL mode so that readers (reports, the API) never
 * block the single writer (ingest, the daily run) for long.
 */
#include "core/util.h"
#include "store/sql/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DB(st) ((sqlite3 *)(st)->conn)

struct sqlite3 *cw_store_sqlite(cw_store *st)
{
    return st->drv == &cw_sqlite_driver ? DB(st) : NULL;
}

const char *cw_sqlite_error_class(cw_store *st, char *why, size_t n)
{
    *why = '\0';
    if (!DB(st))
        return "";
    int ec = sqlite3_extended_errcode(DB(st));
    int en = sqlite3_system_errno(DB(st));
    if ((ec & 0xff) == SQLITE_FULL || ((ec & 0xff) == SQLITE_IOERR && en == ENOSPC))
        return "disk full: ";
    if ((ec & 0xff) == SQLITE_IOERR) {
        if (en)
            snprintf(why, n, " (%s)", strerror(en));
        return "I/O error: ";
    }
    return "";
}

int cw_sqlite_user_version(cw_store *st)
{
    sqlite3_stmt *q;
    int v = -1;
    if (sqlite3_prepare_v2(DB(st), "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    return v;
}

cw_status cw_sqlite_set_user_version(cw_store *st, int v)
{
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", v);
    return cw_store_exec(st, pragma);
}

int cw_sqlite_in_txn(cw_store *st)
{
    return DB(st) && !sqlite3_get_autocommit(DB(st));
}

const char *cw_sqlite_filename(cw_store *st)
{
    return DB(st) ? sqlite3_db_filename(DB(st), "main") : NULL;
}

/* The file: URI of path (%, ? and #escaped) that opens it immutable. */
static char *immutable_uri(const char *path)
{
    size_t n = strlen(path);
    char *uri = malloc(n * 3 + 32);
    if (!uri)
        return NULL;
    size_t w = (size_t)snprintf(uri, 8, "file:");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '%' || c == '?' || c == '#')
            w += (size_t)snprintf(uri + w, 4, "%%%02X", c);
        else
            uri[w++] = (char)c;
    }
    memcpy(uri + w, "?immutable=1", sizeof "?immutable=1");
    return uri;
}

/* A read-only open of a WAL database needs its -shm file, which SQLite
 * creates beside it: on a database in a folder this process may not write
 * (a backup on read-only media, another user's file), reading fails with
 * "attempt to write a readonly database". When no -wal file holds commits
 * that the main file lacks, the main file is the whole database: it is
 * then reopened immutable (no -shm, no locks). */
static cw_status open_readonly_fallback(cw_store *st, const char *path)
{
    if (sqlite3_exec(DB(st), "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) == SQLITE_OK)
        return CW_OK;
    int ec = sqlite3_errcode(DB(st)) & 0xff;
    if (ec != SQLITE_READONLY && ec != SQLITE_CANTOPEN)
        return cw_store_set_error(st, CW_ERR_DB, "%s: cannot read database: %s", path,
                                  sqlite3_errmsg(DB(st)));
    char *wal = cw_strdupf("%s-wal", path);
    struct stat sb;
    int wal_has_commits = !wal || (stat(wal, &sb) == 0 && sb.st_size > 0);
    free(wal);
    if (wal_has_commits)
        return cw_store_set_error(st, CW_ERR_DB,
                                  "%s: cannot read database: %s (its -wal file holds commits:"
                                  " open it once where it may be written)",
                                  path, sqlite3_errmsg(DB(st)));
    char *uri = immutable_uri(path);
    if (!uri)
        return cw_store_set_error(st, CW_ERR_NOMEM,
                                  "%s: out of memory opening the database read-only", path);
    sqlite3_close(DB(st));
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                             NULL);
    st->conn = db;
    free(uri);
    if (rc != SQLITE_OK ||
        sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK)
        return cw_store_set_error(st, CW_ERR_DB, "%s: cannot open database: %s", path,
                                  db ? sqlite3_errmsg(db) : "out of memory");
    return CW_OK;
}

/* The handle's pragmas: page cache always; WAL + synchronous=NORMAL when
 * writing, so that a killed process never corrupts the database or loses a
 * committed transaction (only an OS crash or power loss can drop the last
 * commits). */
static cw_status pragmas(cw_store *st, const cw_store_opts *o, int ro)
{
    sqlite3_busy_timeout(DB(st), o && o->busy_timeout_ms ? o->busy_timeout_ms : 5000);
    char pragma[128];
    st->cache_kib = o && o->cache_kib ? o->cache_kib : 262144;
    snprintf(pragma, sizeof pragma, "PRAGMA cache_size=-%lld", (long long)st->cache_kib);
    cw_status s = cw_store_exec(st, pragma);
    if (s == CW_OK && !ro)
        s = cw_store_exec(st, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    return s;
}

cw_status cw_sqlite_open(cw_store *st, const char *path, const cw_store_opts *o)
{
    int ro = o && o->readonly;
    int flags = ro ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    /* The database holds e-mail addresses and token hashes: create it 0600
     * whatever the umask (SQLite would use 0644), before SQLite opens it;
     * SQLite gives its -wal and -shm files the database file's mode. */
    if (!ro && strcmp(path, ":memory:") != 0 && path[0]) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    st->conn = db;
    if (rc != SQLITE_OK)
        return cw_store_set_error(st, CW_ERR_DB, "%s: cannot open database: %s", path,
                                  db ? sqlite3_errmsg(db) : "out of memory");
    cw_status s = ro ? open_readonly_fallback(st, path) : CW_OK;
    return s == CW_OK ? pragmas(st, o, ro) : s;
}

void cw_sqlite_close(cw_store *st)
{
    sqlite3_close(DB(st));
    st->conn = NULL;
}
