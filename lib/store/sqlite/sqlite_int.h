/*
 * sqlite_int.h — what the SQLite backend's files share; nothing above
 * lib/store/ includes it.
 */
#ifndef CW_STORE_SQLITE_INT_H
#define CW_STORE_SQLITE_INT_H

#include "store/store.h"
#include "store/sql.h"
#include "store/backend.h"

/* The SQLite handle behind st (the backend's own files only). */
struct sqlite3;
struct sqlite3 *cw_store_sqlite(cw_store *st);

#endif /* CW_STORE_SQLITE_INT_H */
