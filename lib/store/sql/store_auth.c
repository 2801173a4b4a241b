/*
 * store/sql/store_auth.c — the dashboard's named users and their sessions
 * (churnwatch.h, docs/api.md "Users and sessions") over the statement seam
 * (store/sql.h), for either backend.
 *
 * Passwords: scrypt (libcrypto's EVP_PBE_scrypt) with a 16-byte random
 * salt and a 32-byte output, stored as "scrypt$LOG2N$R$P$SALT$HASH"
 * (base64url, no padding), so the cost can be raised later and old hashes
 * still verify. The cost for new hashes is N = 2^15, r = 8, p = 3: 32 MiB
 * and three passes over it (about 0.3 s of one core on the test machine;
 * docs/api.md has the measurement), the strength OWASP's password storage
 * guidance gives for scrypt (N = 2^17, r = 8, p = 1 or its equivalents at
 * lower memory): a server with 4 threads signing users in at once needs
 * 128 MiB, and guessing costs an attacker with the database the same per
 * try. Comparison is CRYPTO_memcmp.
 *
 * Sessions: the id is 32 bytes from getrandom, given to the browser once
 * (cookie) and kept as the hex of its SHA-256, like API tokens: 256 bits
 * leave nothing to brute-force, so an unsalted hash is sound, and a copy of
 * the database opens no session. Each session has a CSRF token of its own.
 */
#include "core/util.h"
#include "store/sql.h"
#include "store/store.h"
#include "store/sql/store_int.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRYPT_LOG2N   15
#define SCRYPT_R       8
#define SCRYPT_P       3
#define SCRYPT_SALT    16
#define SCRYPT_OUT     32
#define SCRYPT_MAXMEM  (512u << 20) /* the most a stored cost may ask for */
#define SCRYPT_MAXLOGN 22

static const char *const role_names[] = {"viewer", "csm", "admin"};

const char *cw_user_role_name(int role)
{
    return role >= 0 && role <= 2 ? role_names[role] : NULL;
}

int cw_user_role_from_name(const char *s)
{
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, role_names[i]) == 0)
            return i;
    return -1;
}

static cw_status db_fail(cw_store *st, const char *what)
{
    return cw_store_set_error(st, CW_ERR_DB, "users: %s: %s", what, cw_sql_errmsg(st));
}

static int scrypt(const char *pw, const unsigned char *salt, size_t saltlen, int logn, int r, int p,
                  unsigned char *out, size_t outlen)
{
    return EVP_PBE_scrypt(pw, strlen(pw), salt, saltlen, (uint64_t)1 << logn, (uint64_t)r,
                          (uint64_t)p, SCRYPT_MAXMEM, out, outlen) == 1
               ? 0
               : -1;
}

cw_status cw_password_hash(const char *password, char out[CW_PASSWORD_HASH_MAX])
{
    unsigned char salt[SCRYPT_SALT], h[SCRYPT_OUT];
    if (cw_random_bytes(salt, sizeof salt) != 0)
        return CW_ERR_IO;
    if (scrypt(password, salt, sizeof salt, SCRYPT_LOG2N, SCRYPT_R, SCRYPT_P, h, sizeof h) != 0)
        return CW_ERR_NOMEM;
    char s64[32], h64[48];
    cw_b64url_encode(salt, sizeof salt, s64);
    cw_b64url_encode(h, sizeof h, h64);
    OPENSSL_cleanse(h, sizeof h);
    snprintf(out, CW_PASSWORD_HASH_MAX, "scrypt$%d$%d$%d$%s$%s", SCRYPT_LOG2N, SCRYPT_R, SCRYPT_P,
             s64, h64);
    return CW_OK;
}

int cw_password_verify(const char *password, const char *stored)
{
    int logn, r, p, n1 = 0;
    if (!stored || sscanf(stored, "scrypt$%d$%d$%d$%n", &logn, &r, &p, &n1) != 3 || n1 == 0 ||
        logn < 1 || logn > SCRYPT_MAXLOGN || r < 1 || r > 32 || p < 1 || p > 16)
        return 0;
    const char *salt64 = stored + n1, *dollar = strchr(salt64, '$');
    if (!dollar)
        return 0;
    unsigned char salt[64], want[64], got[64];
    int sl = cw_b64url_decode(salt64, (size_t)(dollar - salt64), salt, sizeof salt);
    int hl = cw_b64url_decode(dollar + 1, strlen(dollar + 1), want, sizeof want);
    if (sl < 4 || hl < 16)
        return 0;
    if (scrypt(password, salt, (size_t)sl, logn, r, p, got, (size_t)hl) != 0)
        return 0;
    int ok = CRYPTO_memcmp(got, want, (size_t)hl) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}

/* ---- users ------------------------------------------------------------ */

static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > CW_USER_NAME_MAX)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._@-", *p))
            return 0;
    return 1;
}

static int email_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    const char *at = s ? strchr(s, '@') : NULL;
    if (n < 3 || n > CW_USER_EMAIL_MAX || !at || at == s || !at[1] || strchr(at + 1, '@'))
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr("<>\"(),;:\\[]", *p))
            return 0;
    return 1;
}

static cw_status password_ok(cw_store *st, const char *pw)
{
    size_t n = pw ? strlen(pw) : 0, chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)pw[i] & 0xC0) != 0x80;
    if (chars < CW_PASSWORD_MIN)
        return cw_store_set_error(st, CW_ERR_USAGE, "password: at least %d characters",
                                  CW_PASSWORD_MIN);
    if (n > CW_PASSWORD_MAX)
        return cw_store_set_error(st, CW_ERR_USAGE, "password: at most %d bytes", CW_PASSWORD_MAX);
    return CW_OK;
}

static void lower(char *dst, const char *src, size_t cap)
{
    size_t i = 0;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

/* Whether name or email is taken (by another user than except_id). */
static cw_status taken(cw_store *st, const char *name, const char *email, int *is_taken)
{
    cw_stmt *q;
    if (cw_sql_prepare(st, "SELECT count(*) FROM app_users WHERE name = ? OR email = ?", 0, &q) !=
        CW_SQL_OK)
        return db_fail(st, "add");
    cw_sql_bind_text(q, 1, name, -1);
    cw_sql_bind_text(q, 2, email, -1);
    int rc = cw_sql_step(q);
    *is_taken = rc == CW_SQL_ROW && cw_sql_col_i64(q, 0) > 0;
    cw_sql_finalize(q);
    return rc == CW_SQL_ROW ? CW_OK : db_fail(st, "add");
}

cw_status cw_user_add(cw_store *st, const char *name, const char *email, int role,
                      const char *password, int64_t now, int64_t *id)
{
    cw_store_enter(st, "user add");
    if (!name_ok(name))
        return cw_store_set_error(st, CW_ERR_USAGE,
                                  "name: 1 to %d letters, digits or . _ @ - expected",
                                  CW_USER_NAME_MAX);
    if (!email_ok(email))
        return cw_store_set_error(st, CW_ERR_USAGE, "email: '%s' is not an e-mail address",
                                  email ? email : "");
    if (!cw_user_role_name(role))
        return cw_store_set_error(st, CW_ERR_USAGE, "role: expected viewer, csm or admin");
    cw_status s = password_ok(st, password);
    if (s != CW_OK)
        return s;
    char em[CW_USER_EMAIL_MAX + 1];
    lower(em, email, sizeof em);
    int t = 0;
    if ((s = taken(st, name, em, &t)) != CW_OK)
        return s;
    if (t)
        return cw_store_set_error(st, CW_ERR_USAGE, "user: the name '%s' or e-mail '%s' is taken",
                                  name, em);
    char hash[CW_PASSWORD_HASH_MAX];
    if ((s = cw_password_hash(password, hash)) != CW_OK)
        return cw_store_set_error(st, s, "password: cannot hash (%s)",
                                  s == CW_ERR_IO ? "no randomness" : "out of memory");
    cw_stmt *q;
    if (cw_sql_prepare(st,
                       "INSERT INTO app_users(name, email, role, password, created_at,"
                       " password_at) VALUES(?,?,?,?,?,?) RETURNING id",
                       0, &q) != CW_SQL_OK)
        return db_fail(st, "add");
    cw_sql_bind_text(q, 1, name, -1);
    cw_sql_bind_text(q, 2, em, -1);
    cw_sql_bind_i64(q, 3, role);
    cw_sql_bind_text(q, 4, hash, -1);
    cw_sql_bind_i64(q, 5, now);
    cw_sql_bind_i64(q, 6, now);
    int64_t new_id = 0;
    s = cw_sql_step_id(st, q, &new_id, "users: add");
    cw_sql_finalize(q);
    if (s == CW_OK && id)
        *id = new_id;
    return s;
}

/* Runs sql (one text parameter ?1 = name, then the others) and fails with
 * CW_ERR_NOTFOUND when no row changed. */
static cw_status update_user(cw_store *st, const char *what, const char *sql, const char *name,
                             int nint, const int64_t *ints, const char *text2)
{
    cw_stmt *q;
    if (cw_sql_prepare(st, sql, 0, &q) != CW_SQL_OK)
        return db_fail(st, what);
    int i = 1;
    if (text2)
        cw_sql_bind_text(q, i++, text2, -1);
    for (int k = 0; k < nint; k++) {
        if (ints[k] == INT64_MIN)
            cw_sql_bind_null(q, i++);
        else
            cw_sql_bind_i64(q, i++, ints[k]);
    }
    cw_sql_bind_text(q, i, name, -1);
    int rc = cw_sql_step(q);
    cw_status s = rc == CW_SQL_DONE ? CW_OK : db_fail(st, what);
    if (s == CW_OK && cw_sql_changes(st) == 0)
        s = cw_store_set_error(st, CW_ERR_NOTFOUND, "users: no user '%s'", name ? name : "");
    cw_sql_finalize(q);
    return s;
}

static cw_status end_sessions(cw_store *st, const char *name)
{
    cw_stmt *q;
    if (cw_sql_prepare(st,
                       "DELETE FROM app_sessions WHERE app_user IN"
                       " (SELECT id FROM app_users WHERE name = ?)",
                       0, &q) != CW_SQL_OK)
        return db_fail(st, "end sessions");
    cw_sql_bind_text(q, 1, name, -1);
    int rc = cw_sql_step(q);
    cw_sql_finalize(q);
    return rc == CW_SQL_DONE ? CW_OK : db_fail(st, "end sessions");
}

/* Runs fn's change and the end of the user's sessions in one transaction. */
static cw_status in_tx(cw_store *st, cw_status s)
{
    if (s == CW_OK)
        return cw_store_exec(st, "COMMIT");
    cw_sql_exec(st, "ROLLBACK");
    return s;
}

cw_status cw_user_passwd(cw_store *st, const char *name, const char *password, int64_t now)
{
    cw_store_enter(st, "user passwd");
    cw_status s = password_ok(st, password);
    if (s != CW_OK)
        return s;
    char hash[CW_PASSWORD_HASH_MAX];
    if ((s = cw_password_hash(password, hash)) != CW_OK)
        return cw_store_set_error(st, s, "password: cannot hash");
    if ((s = cw_store_exec(st, "BEGIN")) != CW_OK)
        return s;
    int64_t t = now;
    s = update_user(st, "passwd",
                    "UPDATE app_users SET password = ?, password_at = ? WHERE name = ?", name, 1,
                    &t, hash);
    if (s == CW_OK)
        s = end_sessions(st, name);
    return in_tx(st, s);
}

cw_status cw_user_disable(cw_store *st, const char *name, int enable, int64_t now)
{
    cw_store_enter(st, "user disable");
    cw_status s = cw_store_exec(st, "BEGIN");
    if (s != CW_OK)
        return s;
    int64_t t = enable ? INT64_MIN : now;
    s = update_user(st, "disable", "UPDATE app_users SET disabled_at = ? WHERE name = ?", name, 1,
                    &t, NULL);
    if (s == CW_OK)
        s = end_sessions(st, name);
    return in_tx(st, s);
}

cw_status cw_user_set_role(cw_store *st, const char *name, int role)
{
    cw_store_enter(st, "user role");
    if (!cw_user_role_name(role))
        return cw_store_set_error(st, CW_ERR_USAGE, "role: expected viewer, csm or admin");
    cw_status s = cw_store_exec(st, "BEGIN");
    if (s != CW_OK)
        return s;
    int64_t r = role;
    s = update_user(st, "role", "UPDATE app_users SET role = ? WHERE name = ?", name, 1, &r, NULL);
    if (s == CW_OK)
        s = end_sessions(st, name);
    return in_tx(st, s);
}

cw_status cw_user_remove(cw_store *st, const char *name)
{
    cw_store_enter(st, "user remove");
    cw_status s = cw_store_exec(st, "BEGIN");
    if (s != CW_OK)
        return s;
    s = end_sessions(st, name);
    if (s == CW_OK)
        s = update_user(st, "remove", "DELETE FROM app_users WHERE name = ?", name, 0, NULL, NULL);
    return in_tx(st, s);
}

static void user_row(cw_stmt *q, cw_app_user *u)
{
    const char *n = (const char *)cw_sql_col_text(q, 1), *e = (const char *)cw_sql_col_text(q, 2);
    u->id = cw_sql_col_i64(q, 0);
    snprintf(u->name, sizeof u->name, "%s", n ? n : "");
    snprintf(u->email, sizeof u->email, "%s", e ? e : "");
    u->role = cw_sql_col_int(q, 3);
    u->created_at = cw_sql_col_i64(q, 4);
    u->password_at = cw_sql_col_i64(q, 5);
    u->disabled_at = cw_sql_col_i64(q, 6);
}

#define USER_COLS "u.id, u.name, u.email, u.role, u.created_at, u.password_at, u.disabled_at"

cw_status cw_user_list(cw_store *st, cw_status (*fn)(const cw_app_user *u, void *ud), void *ud)
{
    cw_store_enter(st, "users");
    cw_stmt *q;
    if (cw_sql_prepare(st, "SELECT " USER_COLS " FROM app_users u ORDER BY u.name", 0, &q) !=
        CW_SQL_OK)
        return db_fail(st, "list");
    cw_status s = CW_OK;
    int rc = CW_SQL_DONE;
    while (s == CW_OK && (rc = cw_sql_step(q)) == CW_SQL_ROW) {
        cw_app_user u;
        user_row(q, &u);
        s = fn(&u, ud);
    }
    if (s == CW_OK && rc != CW_SQL_DONE)
        s = db_fail(st, "list");
    cw_sql_finalize(q);
    return s;
}

cw_status cw_user_find(cw_store *st, const char *ident, cw_app_user *u,
                       char stored[CW_PASSWORD_HASH_MAX])
{
    cw_store_enter(st, "user find");
    if (!ident || !*ident || strlen(ident) > CW_USER_EMAIL_MAX)
        return CW_ERR_NOTFOUND;
    char em[CW_USER_EMAIL_MAX + 1];
    lower(em, ident, sizeof em);
    cw_stmt *q;
    if (cw_sql_prepare(st,
                       "SELECT " USER_COLS ", u.password FROM app_users u"
                       " WHERE (u.name = ? OR u.email = ?) AND u.disabled_at IS NULL"
                       " ORDER BY CASE WHEN u.name = ? THEN 0 ELSE 1 END LIMIT 1",
                       0, &q) != CW_SQL_OK)
        return db_fail(st, "find");
    cw_sql_bind_text(q, 1, ident, -1);
    cw_sql_bind_text(q, 2, em, -1);
    cw_sql_bind_text(q, 3, ident, -1);
    int rc = cw_sql_step(q);
    cw_status s = CW_ERR_NOTFOUND;
    if (rc == CW_SQL_ROW) {
        user_row(q, u);
        const char *pw = (const char *)cw_sql_col_text(q, 7);
        snprintf(stored, CW_PASSWORD_HASH_MAX, "%s", pw ? pw : "");
        s = CW_OK;
    } else if (rc != CW_SQL_DONE) {
        s = db_fail(st, "find");
    }
    cw_sql_finalize(q);
    return s;
}

/* ---- sessions --------------------------------------------------------- */

static void sid_hash(const char *sid, size_t len, char hex[2 * SHA256_DIGEST_LENGTH + 1])
{
    unsigned char h[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)sid, len, h);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(hex + 2 * i, 3, "%02x", h[i]);
}

cw_status cw_session_create(cw_store *st, int64_t user_id, int64_t now, int64_t expires_at,
                            int64_t idle_s, char sid[CW_SESSION_LEN + 1],
                            char csrf[CW_CSRF_LEN + 1])
{
    cw_store_enter(st, "session create");
    unsigned char rnd[64];
    if (cw_random_bytes(rnd, sizeof rnd) != 0)
        return cw_store_set_error(st, CW_ERR_IO, "sessions: no randomness from getrandom");
    cw_b64url_encode(rnd, 32, sid);
    cw_b64url_encode(rnd + 32, 32, csrf);
    OPENSSL_cleanse(rnd, sizeof rnd);
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    sid_hash(sid, CW_SESSION_LEN, hex);
    cw_stmt *q;
    if (cw_sql_prepare(st, "DELETE FROM app_sessions WHERE expires_at <= ? OR last_seen <= ?", 0,
                       &q) != CW_SQL_OK)
        return db_fail(st, "session expiry");
    cw_sql_bind_i64(q, 1, now);
    cw_sql_bind_i64(q, 2, now - idle_s);
    int rc = cw_sql_step(q);
    cw_sql_finalize(q);
    if (rc != CW_SQL_DONE)
        return db_fail(st, "session expiry");
    if (cw_sql_prepare(st,
                       "INSERT INTO app_sessions(hash, app_user, csrf, created_at, last_seen,"
                       " expires_at) VALUES(?,?,?,?,?,?) RETURNING id",
                       0, &q) != CW_SQL_OK)
        return db_fail(st, "session create");
    cw_sql_bind_text(q, 1, hex, -1);
    cw_sql_bind_i64(q, 2, user_id);
    cw_sql_bind_text(q, 3, csrf, -1);
    cw_sql_bind_i64(q, 4, now);
    cw_sql_bind_i64(q, 5, now);
    cw_sql_bind_i64(q, 6, expires_at);
    int64_t id;
    cw_status s = cw_sql_step_id(st, q, &id, "sessions: create");
    cw_sql_finalize(q);
    return s;
}

cw_status cw_session_check(cw_store *st, const char *sid, size_t len, int64_t now, int64_t idle_s,
                           cw_app_user *u, char csrf[CW_CSRF_LEN + 1], int64_t *last_seen)
{
    cw_store_enter(st, "session check");
    if (len != CW_SESSION_LEN)
        return CW_ERR_NOTFOUND;
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    sid_hash(sid, len, hex);
    cw_stmt *q;
    if (cw_sql_prepare(st,
                       "SELECT " USER_COLS ", s.csrf, s.last_seen FROM app_sessions s"
                       " JOIN app_users u ON u.id = s.app_user"
                       " WHERE s.hash = ? AND s.expires_at > ? AND s.last_seen > ?"
                       " AND u.disabled_at IS NULL",
                       0, &q) != CW_SQL_OK)
        return db_fail(st, "session check");
    cw_sql_bind_text(q, 1, hex, -1);
    cw_sql_bind_i64(q, 2, now);
    cw_sql_bind_i64(q, 3, now - idle_s);
    int rc = cw_sql_step(q);
    cw_status s = CW_ERR_NOTFOUND;
    if (rc == CW_SQL_ROW) {
        user_row(q, u);
        const char *c = (const char *)cw_sql_col_text(q, 7);
        snprintf(csrf, CW_CSRF_LEN + 1, "%s", c ? c : "");
        if (last_seen)
            *last_seen = cw_sql_col_i64(q, 8);
        s = CW_OK;
    } else if (rc != CW_SQL_DONE) {
        s = db_fail(st, "session check");
    }
    cw_sql_finalize(q);
    return s;
}

static cw_status session_exec(cw_store *st, const char *sql, const char *sid, size_t len,
                              int64_t now, int with_now)
{
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    sid_hash(sid, len, hex);
    cw_stmt *q;
    if (cw_sql_prepare(st, sql, 0, &q) != CW_SQL_OK)
        return db_fail(st, "session");
    int i = 1;
    if (with_now)
        cw_sql_bind_i64(q, i++, now);
    cw_sql_bind_text(q, i, hex, -1);
    int rc = cw_sql_step(q);
    cw_sql_finalize(q);
    return rc == CW_SQL_DONE ? CW_OK : db_fail(st, "session");
}

cw_status cw_session_touch(cw_store *st, const char *sid, size_t len, int64_t now)
{
    cw_store_enter(st, "session touch");
    return session_exec(st, "UPDATE app_sessions SET last_seen = ? WHERE hash = ?", sid, len, now,
                        1);
}

cw_status cw_session_end(cw_store *st, const char *sid, size_t len)
{
    cw_store_enter(st, "session end");
    return session_exec(st, "DELETE FROM app_sessions WHERE hash = ?", sid, len, 0, 0);
}
