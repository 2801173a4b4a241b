/*
 * mask.h — secrets never reach an output: the one masking function every
 * printer of settings, URLs, log lines and error messages goes through
 * (`config show`, `deliver --dry-run`, the delivery log, cli_error, the
 * JSON log stream).
 */
#ifndef CW_CORE_MASK_H
#define CW_CORE_MASK_H

#include <stddef.h>

/* What replaces a secret. */
#define CW_MASK "***"

/* Returns a copy of text with its secrets replaced by CW_MASK (caller
 * frees; NULL when out of memory, or when text is NULL):
 *   - when key (a setting or section key such as "secret" or
 *     "deliver.smtp_password"; NULL for free text) names a secret, the whole
 *     value (when non-empty). A secret's name is, case-insensitively, secret,
 *     token, password, passwd, api_key, apikey, access_key, private_key,
 *     secret_key, credentials, or ends in _secret, _token, _password; a name
 *     ending in _env names an environment variable and is not a secret;
 *   - anywhere in the text, the password of credentials embedded in a URL
 *     (scheme://user:password@host → scheme://user:***@host; a user alone,
 *     scheme://token@host, is masked whole);
 *   - the value of a query parameter (after '?' or '&') named token,
 *     access_token, api_key, apikey, key, secret, client_secret, password,
 *     pass, pwd, auth, sig or signature;
 *   - the value of a libpq key = value password (password=VALUE or
 *     password = 'a quoted value', the key not inside a word).
 * Text without secrets comes back unchanged. */
char *cw_mask_secrets(const char *key, const char *text);

/* Whether key (as above) names a secret. */
int cw_mask_is_secret_key(const char *key);

#endif /* CW_CORE_MASK_H */
