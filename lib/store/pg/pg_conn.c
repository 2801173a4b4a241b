/*
 * store/pg/pg_conn.c — the PostgreSQL connection: connecting through libpq
 * (so PG* environment variables, ~/.pgpass, service files and every
 * connection parameter such as sslmode work as in psql), the session's
 * settings, and the connection's last error.
 *
 * A password never reaches a message: what we echo of the connection string
 * is masked, and so is libpq's own message, which can quote pieces of a
 * malformed connection string.
 */
#include "store/pg/pg_int.h"
#include "core/mask.h"
#include "core/buf.h"
#include "core/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The oldest server we accept: identity columns arrived in 10. */
#define PG_MIN_VERSION 100000

int cw_pg_available(void)
{
    return 1;
}

int cw_pg_conninfo_has_password(const char *conninfo)
{
    int has = 0;
    PQconninfoOption *opts = conninfo ? PQconninfoParse(conninfo, NULL) : NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, "password") && o->val && *o->val)
            has = 1;
    PQconninfoFree(opts);
    return has;
}

int cw_pg_in_txn(const cw_pg_conn *c)
{
    PGTransactionStatusType t = PQtransactionStatus(c->pg);
    return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

int cw_pg_set_error(cw_pg_conn *c, int code, const char *fmt, ...)
{
    va_list ap;
    char buf[512];
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(c->errmsg);
    c->errmsg = strdup(buf); /* NULL when out of memory: errmsg says so */
    c->errcode = code;
    return code;
}

/* The CW_SQL_* code of a SQLSTATE: integrity violations (class 23) are
 * constraints; serialization failures, deadlocks and lock timeouts are
 * what SQLite calls busy (retry later). */
static int sqlstate_code(const char *state)
{
    if (!state || strlen(state) != 5)
        return CW_SQL_ERROR;
    if (strncmp(state, "23", 2) == 0)
        return CW_SQL_CONSTRAINT;
    if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
        return CW_SQL_BUSY;
    return CW_SQL_ERROR;
}

/* libpq's messages end in a newline and may span lines ("…\n\tIs the
 * server running…"): one line, without the trailing space. */
static void one_line(char *s)
{
    size_t w = 0;
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
            if (w > 0 && s[w - 1] != ' ')
                s[w++] = ' ';
        } else {
            s[w++] = s[i];
        }
    }
    while (w > 0 && s[w - 1] == ' ')
        w--;
    s[w] = '\0';
}

int cw_pg_result_error(cw_pg_conn *c, const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *prim = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL) : NULL;
    int code = sqlstate_code(state);
    if (prim)
        return detail ? cw_pg_set_error(c, code, "%s (%s)", prim, detail)
                      : cw_pg_set_error(c, code, "%s", prim);
    /* No server error: the connection failed, or an unexpected status. */
    char msg[512];
    const char *m = r ? PQresultErrorMessage(r) : "";
    if (!*m)
        m = PQerrorMessage(c->pg);
    if (!*m && r)
        m = PQresStatus(PQresultStatus(r));
    snprintf(msg, sizeof msg, "%s", *m ? m : "no result from the server");
    one_line(msg);
    return cw_pg_set_error(c, code, "%s", msg);
}

int cw_pg_quiet(cw_pg_conn *c, const char *sql)
{
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType t = PQresultStatus(r);
    PQclear(r);
    return t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK ? 0 : -1;
}

/* ---- masking ---- */

/* Masks the value of every password=VALUE (libpq's key = value syntax:
 * blanks around '=', the value quoted '…' with \ escapes or bare up to a
 * blank) in text. */
static void mask_kv(cw_buf *b, const char *text)
{
    static const char key[] = "password";
    const size_t kn = sizeof key - 1;
    for (size_t i = 0; text[i];) {
        int word_start = i == 0 || !(isalnum((unsigned char)text[i - 1]) || text[i - 1] == '_');
        if (word_start && strncmp(text + i, key, kn) == 0) {
            size_t e = i + kn;
            while (text[e] == ' ' || text[e] == '\t')
                e++;
            if (text[e] == '=') {
                e++;
                while (text[e] == ' ' || text[e] == '\t')
                    e++;
                cw_buf_add(b, text + i, e - i);
                cw_buf_adds(b, CW_MASK);
                int quoted = text[e] == '\'';
                e += quoted;
                while (text[e] && (quoted ? text[e] != '\'' : !isspace((unsigned char)text[e])))
                    e += text[e] == '\\' && text[e + 1] ? 2 : 1;
                i = e + (quoted && text[e] == '\'');
                continue;
            }
        }
        cw_buf_addc(b, text[i++]);
    }
}

/* Replaces every occurrence of secret in b's text with CW_MASK. Secrets
 * shorter than 4 bytes are left to the syntax rules (masking every "ab"
 * would garble the message without protecting anything). */
static void mask_literal(cw_buf *b, const char *secret, size_t n)
{
    if (!secret || n < 4 || cw_buf_status(b) != CW_OK)
        return;
    char *needle = cw_strndup(secret, n);
    cw_buf out;
    cw_buf_init(&out, b->max);
    if (!needle) {
        cw_buf_adds(&out, CW_MASK); /* out of memory: mask the whole text */
    } else {
        const char *s = cw_buf_str(b), *hit;
        while ((hit = strstr(s, needle)) != NULL) {
            cw_buf_add(&out, s, (size_t)(hit - s));
            cw_buf_adds(&out, CW_MASK);
            s = hit + n;
        }
        cw_buf_adds(&out, s);
    }
    free(needle);
    cw_buf_free(b);
    *b = out;
}

/* The password of a URI as written (still %-encoded): between the ':'
 * after the user and the '@'. */
static void uri_password(const char *conninfo, const char **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    const char *a = strstr(conninfo, "://");
    if (!a)
        return;
    a += 3;
    size_t end = strcspn(a, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < end; i++)
        if (a[i] == '@')
            at = a + i;
    const char *colon = at ? memchr(a, ':', (size_t)(at - a)) : NULL;
    if (colon) {
        *p = colon + 1;
        *n = (size_t)(at - colon - 1);
    }
}

/* text with every password we know of masked: password=… pairs, URL
 * credentials and ?password= (cw_mask_secrets), and the literal passwords
 * of the argument and of conninfo (raw and decoded). malloc'd; NULL when
 * out of memory. */
static char *mask_text(const char *text, const char *conninfo, const char *password)
{
    cw_buf b;
    cw_buf_init(&b, CW_BUF_MAX_LINE);
    char *urls = cw_mask_secrets(NULL, text);
    if (!urls)
        return NULL;
    mask_kv(&b, urls);
    free(urls);
    if (password)
        mask_literal(&b, password, strlen(password));
    const char *raw;
    size_t rawn;
    uri_password(conninfo, &raw, &rawn);
    mask_literal(&b, raw, rawn);
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (!strcmp(o->keyword, "password") && o->val)
            mask_literal(&b, o->val, strlen(o->val));
    PQconninfoFree(opts);
    return cw_buf_steal(&b, NULL);
}

/* "cannot connect to PostgreSQL (<where>): <why>", both masked. */
static char *connect_error(const char *conninfo, const char *password, const char *why)
{
    char *w = mask_text(*conninfo ? conninfo : "from the environment", conninfo, password);
    char *y = mask_text(why, conninfo, password);
    char *msg = NULL;
    if (w && y) {
        one_line(y);
        msg = cw_strdupf("cannot connect to PostgreSQL (%s): %s", w, y);
    }
    free(w);
    free(y);
    return msg;
}

/* ---- connecting ---- */

/* Notices (e.g. "relation already exists, skipping") are not errors: libpq
 * would print them on stderr. */
static void no_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* The session: UTF-8, UTC, no statement time limit; read-only when asked. */
static int session_setup(PGconn *pg, int readonly)
{
    const char *sql = readonly ? "SET client_encoding TO 'UTF8'; SET TimeZone TO 'UTC';"
                                 " SET statement_timeout TO 0;"
                                 " SET default_transaction_read_only TO on"
                               : "SET client_encoding TO 'UTF8'; SET TimeZone TO 'UTC';"
                                 " SET statement_timeout TO 0";
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

cw_status cw_pg_connect(const char *conninfo, const char *password, int readonly, void **conn,
                        char **errmsg)
{
    *conn = NULL;
    *errmsg = NULL;
    if (!conninfo)
        conninfo = "";
    /* dbname with expand_dbname: a URI or key=value string in it is parsed
     * as the whole connection string; later keywords override it. The
     * application name is a fallback so PGAPPNAME or the string wins. */
    const char *kw[4], *val[4];
    int n = 0;
    kw[n] = "dbname", val[n++] = conninfo;
    if (password)
        kw[n] = "password", val[n++] = password;
    kw[n] = "fallback_application_name", val[n++] = "churnwatch";
    kw[n] = NULL, val[n] = NULL;
    PGconn *pg = PQconnectdbParams(kw, val, 1);
    if (!pg) {
        *errmsg = cw_strdupf("cannot connect to PostgreSQL: out of memory");
        return CW_ERR_NOMEM;
    }
    cw_status s = CW_OK;
    if (PQstatus(pg) != CONNECTION_OK) {
        *errmsg = connect_error(conninfo, password, PQerrorMessage(pg));
        s = CW_ERR_DB;
    } else if (PQserverVersion(pg) < PG_MIN_VERSION) {
        char why[96];
        snprintf(why, sizeof why, "server version %d is too old (churnwatch needs 10 or later)",
                 PQserverVersion(pg));
        *errmsg = connect_error(conninfo, password, why);
        s = CW_ERR_DB;
    } else {
        PQsetNoticeProcessor(pg, no_notice, NULL);
        if (!session_setup(pg, readonly)) {
            *errmsg = connect_error(conninfo, password, PQerrorMessage(pg));
            s = CW_ERR_DB;
        }
    }
    cw_pg_conn *c = s == CW_OK ? calloc(1, sizeof *c) : NULL;
    if (s == CW_OK && !c) {
        *errmsg = cw_strdupf("cannot connect to PostgreSQL: out of memory");
        s = CW_ERR_NOMEM;
    }
    if (s != CW_OK) {
        if (!*errmsg)
            s = CW_ERR_NOMEM;
        PQfinish(pg);
        return s;
    }
    c->pg = pg;
    c->server_vernum = PQserverVersion(pg);
    *conn = c;
    return CW_OK;
}

void cw_pg_disconnect(void *conn)
{
    cw_pg_conn *c = conn;
    if (!c)
        return;
    cw_pg_bulk_detach(c);
    PQfinish(c->pg);
    free(c->errmsg);
    free(c);
}
