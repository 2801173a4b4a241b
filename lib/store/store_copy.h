/*
 * store/store_copy.h — copying a whole database from one store to another
 * (`churnwatch db copy`) and a content digest of a store (`churnwatch db
 * digest`), both written against the statement seam (store/sql.h), so they
 * work between any two backends (docs/operations.md, "Moving a database").
 */
#ifndef CW_STORE_STORE_COPY_H
#define CW_STORE_STORE_COPY_H

#include "churnwatch.h"

#include <stdint.h>

/* One table of the schema as copy and digest see it. The list of them
 * (cw_copy_tables) is the one place that names the tables to copy; a unit
 * test (tests/unit/test_store_copy.c) checks that it covers every table
 * and column of a freshly migrated database, so a new table cannot be
 * forgotten. */
typedef struct cw_copy_table {
    const char *name;
    const char *cols;   /* every column, comma-separated, in schema order */
    const char *key;    /* the primary key, comma-separated: the read order */
    unsigned text_keys; /* bit i set: key column i is text (compared as bytes) */
    int identity;       /* 1: column id is an identity key (a sequence on PG) */
} cw_copy_table;

/* The tables in foreign-key-safe order: a table comes after the tables its
 * rows refer to (accounts before users before their events...). */
extern const cw_copy_table cw_copy_tables[];
extern const int cw_copy_ntables;

#define CW_DIGEST_TABLES_MAX 64
#define CW_DIGEST_LEN        32 /* SHA-256 */

/* A store's content digest: per table (in cw_copy_tables order) its row
 * count and the SHA-256 of its rows' canonical encoding, and the SHA-256
 * over all tables. The same content on two backends gives the same
 * digest. */
typedef struct cw_db_digest {
    int ntables;
    const char *table[CW_DIGEST_TABLES_MAX]; /* static names */
    int64_t rows[CW_DIGEST_TABLES_MAX];
    unsigned char sha[CW_DIGEST_TABLES_MAX][CW_DIGEST_LEN];
    int64_t total_rows;
    unsigned char all[CW_DIGEST_LEN];
} cw_db_digest;

/* Progress per table: phase names it ("copy accounts", "digest users");
 * the signature of cli_progress_line. */
typedef void (*cw_copy_progress_fn)(const char *phase, int64_t done, int64_t total,
                                    double elapsed_s, void *ud);

typedef struct cw_copy_opts {
    int replace; /* empty a non-empty destination first (same transaction) */
    cw_copy_progress_fn on_progress;
    void *ud;
} cw_copy_opts;

/* Digests every row of every table of st in key order, inside one read
 * transaction. The message of a failure is kept on st. */
cw_status cw_db_digest_compute(cw_store *st, cw_db_digest *out, cw_copy_progress_fn on_progress,
                               void *ud);

/* Copies every table of src into dst in one transaction on dst, reading
 * src in key order inside one read transaction. dst must be at src's
 * schema version (CW_ERR_SCHEMA) and empty unless o->replace (CW_ERR_USAGE).
 * *src_digest is the digest of what was read (as cw_db_digest_compute on
 * src), so that a digest of dst afterwards checks the copy. The message of
 * a failure is kept on dst. o may be NULL. */
cw_status cw_db_copy(cw_store *src, cw_store *dst, const cw_copy_opts *o, cw_db_digest *src_digest);

/* What the database behind st is, for "the same database?": on SQLite
 * "sqlite:DEV:INODE" of its file, on PostgreSQL "pg:SYSTEM_ID:DBNAME" as
 * the server says; "" when it has none (an in-memory database). Equal
 * strings are the same database however each was named. cw_db_copy
 * refuses to copy a database onto itself (CW_ERR_USAGE). */
cw_status cw_db_identity(cw_store *st, char *out, size_t n);

/* The lowercase hex of a digest into out (2 * CW_DIGEST_LEN + 1 bytes). */
void cw_db_digest_hex(const unsigned char *sha, char *out);

#endif /* CW_STORE_STORE_COPY_H */
