/*
 * store/sql/store_tokens.c — API tokens for `churnwatch serve` over the
 * statement seam (store/sql.h), for either backend: creation from
 * the kernel's random source, SHA-256 hashing, constant-time verification
 * and revocation. Tokens carry 256 bits of entropy, so a single unsalted
 * SHA-256 is a sound way to store them (there is nothing to brute-force);
 * the public prefix only narrows the lookup, the decision is a
 * CRYPTO_memcmp of full hashes.
 */
#include "core/util.h"
#include "store/sql.h"
#include "store/store.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

static cw_status db_fail(cw_store *st, const char *what)
{
    return cw_store_set_error(st, CW_ERR_DB, "api tokens: %s: %s", what, cw_sql_errmsg(st));
}

cw_status cw_token_create(cw_store *st, cw_token_role role, const char *name, int64_t now,
                          int64_t expires_at, char token[CW_TOKEN_LEN + 1], int64_t *id)
{
    cw_store_enter(st, "token create");
    unsigned char rnd[32];
    if (cw_random_bytes(rnd, sizeof rnd) != 0)
        return cw_store_set_error(st, CW_ERR_IO, "api tokens: no randomness from getrandom");
    memcpy(token, "cw_", 3);
    cw_b64url_encode(rnd, sizeof rnd, token + 3); /* 43 characters + NUL */
    OPENSSL_cleanse(rnd, sizeof rnd);
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, CW_TOKEN_LEN, h);
    cw_stmt *q;
    if (cw_sql_prepare(st,
                       "INSERT INTO api_tokens(name, role, prefix, hash, created_at, expires_at)"
                       " VALUES(?,?,?,?,?,?) RETURNING id",
                       0, &q) != CW_SQL_OK)
        return db_fail(st, "create");
    cw_sql_bind_text(q, 1, name ? name : "", -1);
    cw_sql_bind_i64(q, 2, role == CW_ROLE_WRITE ? 1 : 0);
    cw_sql_bind_text(q, 3, token, CW_TOKEN_PREFIX);
    cw_sql_bind_blob(q, 4, h, sizeof h);
    cw_sql_bind_i64(q, 5, now);
    if (expires_at > 0)
        cw_sql_bind_i64(q, 6, expires_at);
    else
        cw_sql_bind_null(q, 6);
    int64_t new_id = 0;
    cw_status s = cw_sql_step_id(st, q, &new_id, "api tokens: create");
    cw_sql_finalize(q);
    if (s == CW_OK && id)
        *id = new_id;
    return s;
}

cw_status cw_token_verify(cw_store *st, const char *token, size_t len, int64_t now,
                          cw_token_role *role, int64_t *id, char *name, size_t namesz)
{
    cw_store_enter(st, "token verify");
    if (len != CW_TOKEN_LEN || memcmp(token, "cw_", 3) != 0)
        return CW_ERR_NOTFOUND;
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, len, h);
    cw_stmt *q;
    if (cw_sql_prepare(st,
                       "SELECT id, role, hash, name FROM api_tokens"
                       " WHERE prefix=? AND revoked_at IS NULL"
                       " AND (expires_at IS NULL OR expires_at > ?)",
                       0, &q) != CW_SQL_OK)
        return db_fail(st, "verify");
    cw_sql_bind_text(q, 1, token, CW_TOKEN_PREFIX);
    cw_sql_bind_i64(q, 2, now);
    cw_status s = CW_ERR_NOTFOUND;
    int rc;
    while ((rc = cw_sql_step(q)) == CW_SQL_ROW) {
        const void *stored = cw_sql_col_blob(q, 2);
        if (cw_sql_col_bytes(q, 2) == (int)sizeof h && CRYPTO_memcmp(stored, h, sizeof h) == 0 &&
            s != CW_OK) {
            s = CW_OK;
            if (role)
                *role = cw_sql_col_int(q, 1) == 1 ? CW_ROLE_WRITE : CW_ROLE_READ;
            if (id)
                *id = cw_sql_col_i64(q, 0);
            if (name && namesz) {
                const char *n = (const char *)cw_sql_col_text(q, 3);
                snprintf(name, namesz, "%s", n ? n : "");
            }
        }
    }
    if (rc != CW_SQL_DONE)
        s = db_fail(st, "verify");
    cw_sql_finalize(q);
    return s;
}

cw_status cw_token_revoke(cw_store *st, int64_t id, int64_t now)
{
    cw_store_enter(st, "token revoke");
    cw_stmt *q;
    if (cw_sql_prepare(st, "UPDATE api_tokens SET revoked_at=? WHERE id=? AND revoked_at IS NULL",
                       0, &q) != CW_SQL_OK)
        return db_fail(st, "revoke");
    cw_sql_bind_i64(q, 1, now);
    cw_sql_bind_i64(q, 2, id);
    int rc = cw_sql_step(q);
    cw_status s = rc == CW_SQL_DONE ? CW_OK : db_fail(st, "revoke");
    if (s == CW_OK && cw_sql_changes(st) == 0)
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "api tokens: no active token %lld",
                               (long long)id);
    cw_sql_finalize(q);
    return s;
}

cw_status cw_token_list(cw_store *st, cw_status (*fn)(const cw_token_info *t, void *ud), void *ud)
{
    cw_store_enter(st, "tokens");
    cw_stmt *q;
    if (cw_sql_prepare(st,
                       "SELECT id, name, prefix, role, created_at, revoked_at, expires_at"
                       " FROM api_tokens"
                       " ORDER BY id",
                       0, &q) != CW_SQL_OK)
        return db_fail(st, "list");
    cw_status s = CW_OK;
    int rc = CW_SQL_DONE;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        /* revoked_at NULL (active) reads as 0 */
        cw_token_info t = {cw_sql_col_i64(q, 0),
                           (const char *)cw_sql_col_text(q, 1),
                           (const char *)cw_sql_col_text(q, 2),
                           cw_sql_col_int(q, 3) == 1 ? CW_ROLE_WRITE : CW_ROLE_READ,
                           cw_sql_col_i64(q, 4),
                           cw_sql_col_i64(q, 5),
                           cw_sql_col_i64(q, 6)};
        s = fn(&t, ud);
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = db_fail(st, "list");
    cw_sql_finalize(q);
    return s;
}
