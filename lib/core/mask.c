/*
 * mask.c — the masking of secrets in what churnwatch prints (mask.h). One
 * pass over the text: credentials in a URL's authority and secret query
 * parameters are replaced wherever they appear, so a URL quoted inside an
 * error message is masked as well as a setting's value.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/mask.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int name_is(const char *name, size_t len, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == len && strncasecmp(name, list[i], len) == 0)
            return 1;
    return 0;
}

static int ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

int cw_mask_is_secret_key(const char *key)
{
    static const char *const names[] = {"secret",     "token",       "password",   "passwd",
                                        "api_key",    "apikey",      "access_key", "private_key",
                                        "secret_key", "credentials", NULL};
    if (!key)
        return 0;
    const char *dot = strrchr(key, '.');
    const char *name = dot ? dot + 1 : key;
    size_t len = strlen(name);
    if (ends_with(name, len, "_env"))
        return 0; /* the name of an environment variable, not its value */
    return name_is(name, len, names) || ends_with(name, len, "_secret") ||
           ends_with(name, len, "_token") || ends_with(name, len, "_password");
}

/* A byte that ends a URL or a query value inside free text. */
static int url_end(char c)
{
    return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' || c == '\'' ||
           c == '<' || c == '>' || c == '`';
}

static int param_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

/* At text + i, a libpq key = value password (blanks around '=', the value
 * quoted '…' with \\ escapes or bare up to a blank): its value's span in
 * *vs..*ve (quotes kept outside), 1; else 0. */
static int kv_password(const char *text, size_t i, size_t *vs, size_t *ve)
{
    static const char key[] = "password";
    const size_t kn = sizeof key - 1;
    if (i > 0 && (param_char(text[i - 1]) || text[i - 1] == '?' || text[i - 1] == '&'))
        return 0; /* inside a word, or a URL's query parameter (masked above) */
    if (strncasecmp(text + i, key, kn) != 0)
        return 0;
    size_t e = i + kn;
    while (text[e] == ' ' || text[e] == '\t')
        e++;
    if (text[e] != '=')
        return 0;
    e++;
    while (text[e] == ' ' || text[e] == '\t')
        e++;
    int quoted = text[e] == '\'';
    e += quoted;
    *vs = e;
    while (text[e] && (quoted ? text[e] != '\'' : !url_end(text[e])))
        e += text[e] == '\\' && text[e + 1] ? 2 : 1;
    *ve = e;
    return e > *vs;
}

char *cw_mask_secrets(const char *key, const char *text)
{
    static const char *const params[] = {"token",  "access_token",  "api_key",   "apikey", "key",
                                         "secret", "client_secret", "password",  "pass",   "pwd",
                                         "auth",   "sig",           "signature", NULL};
    if (!text)
        return NULL;
    size_t n = strlen(text);
    if (cw_mask_is_secret_key(key))
        return strdup(n ? CW_MASK : "");
    /* Each masked span of at least one byte becomes 3 bytes. */
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        if (strncmp(text + i, "://", 3) == 0) {
            memcpy(out + w, "://", 3);
            w += 3;
            i += 3;
            /* The authority: up to the path, query, fragment or the URL's end. */
            size_t a = i, e = i, at = (size_t)-1;
            while (!url_end(text[e]) && text[e] != '/' && text[e] != '?' && text[e] != '#') {
                if (text[e] == '@')
                    at = e;
                e++;
            }
            if (at != (size_t)-1 && at > a) {
                const char *colon = memchr(text + a, ':', at - a);
                if (colon && (size_t)(colon - text) + 1 < at) {
                    size_t keep = (size_t)(colon - text) + 1 - a;
                    memcpy(out + w, text + a, keep);
                    w += keep;
                }
                memcpy(out + w, CW_MASK, 3);
                w += 3;
                i = at;
            }
            continue;
        }
        if ((text[i] == '?' || text[i] == '&') && param_char(text[i + 1])) {
            size_t s = i + 1, e = s;
            while (param_char(text[e]))
                e++;
            if (text[e] == '=' && name_is(text + s, e - s, params) && !url_end(text[e + 1]) &&
                text[e + 1] != '&' && text[e + 1] != '#') {
                memcpy(out + w, text + i, e + 1 - i);
                w += e + 1 - i;
                memcpy(out + w, CW_MASK, 3);
                w += 3;
                i = e + 1;
                while (!url_end(text[i]) && text[i] != '&' && text[i] != '#')
                    i++;
                continue;
            }
        }
        size_t vs, ve;
        if (kv_password(text, i, &vs, &ve)) {
            memcpy(out + w, text + i, vs - i);
            w += vs - i;
            memcpy(out + w, CW_MASK, 3);
            w += 3;
            i = ve;
            continue;
        }
        out[w++] = text[i++];
    }
    out[w] = '\0';
    return out;
}
