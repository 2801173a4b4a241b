/*
 * store/pg/pg_driver.c — placeholder of the PostgreSQL backend until the
 * libpq driver lands: every entry point says the backend is missing.
 */
#include "store/backend.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

const cw_sql_driver cw_pg_driver = {.name = "postgresql", .dialect = CW_DIALECT_PG};

cw_status cw_pg_connect(const char *conninfo, const char *password, int readonly, void **conn,
                        char **errmsg)
{
    (void)password;
    (void)readonly;
    *conn = NULL;
    *errmsg = cw_strdupf("%s: this build has only the SQLite store", conninfo);
    return CW_ERR_USAGE;
}

void cw_pg_disconnect(void *conn)
{
    (void)conn;
}

char *cw_pg_ddl(const char *sqlite_ddl)
{
    return cw_strndup(sqlite_ddl, strlen(sqlite_ddl));
}

int cw_pg_available(void)
{
    return 0;
}
