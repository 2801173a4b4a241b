/*
 * store/backend.h — how the common store (lib/store/sql/) opens and closes
 * a backend connection. Only lib/store/ includes it.
 */
#ifndef CW_STORE_BACKEND_H
#define CW_STORE_BACKEND_H

#include "store/sql.h"

/* The backend handle behind st: a sqlite3 * or the PG driver's connection. */
void *cw_store_conn(cw_store *st);

/* ---- SQLite (lib/store/sqlite/) ---- */
extern const cw_sql_driver cw_sqlite_driver;

/* ---- PostgreSQL (lib/store/pg/) ---- */
extern const cw_sql_driver cw_pg_driver;
/* Connects with a libpq connection string or URI (postgres://,
 * postgresql://); PG* environment variables and ~/.pgpass apply as in psql.
 * password, when not NULL, is used (it comes from the environment, never
 * from the command line). readonly starts every transaction read-only.
 * On failure *errmsg (malloc'd) says why without any password. */
cw_status cw_pg_connect(const char *conninfo, const char *password, int readonly, void **conn,
                        char **errmsg);
void cw_pg_disconnect(void *conn);
/* Translates one migration written in SQLite's DDL (the schema's one
 * description) into PostgreSQL's: types, identity keys, WITHOUT ROWID,
 * quoted reserved words, and hash partitioning of the big tables by
 * account. malloc'd; NULL when out of memory. */
char *cw_pg_ddl(const char *sqlite_ddl);
/* The PostgreSQL-only objects of the API's change counter (one migration,
 * as it is: triggers and functions in PostgreSQL's own SQL). */
extern const char cw_pg_api_counter[];
/* 1 when this build has the PostgreSQL backend. */
int cw_pg_available(void);
/* Whether the libpq connection string conninfo holds a password. */
int cw_pg_conninfo_has_password(const char *conninfo);

#endif /* CW_STORE_BACKEND_H */
