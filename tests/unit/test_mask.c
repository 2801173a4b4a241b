/*
 * test_mask.c — secrets never reach an output (issue 18): the masking
 * function on settings, URLs with credentials, secret query parameters and
 * free text quoting them; and `config show` (cw_config_write) masking an
 * action's inline secret and URL credentials while leaving the rest as is.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "churnwatch.h"
#include "core/mask.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void expect(const char *key, const char *in, const char *want)
{
    char *got = cw_mask_secrets(key, in);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("mask(%s, \"%s\") = \"%s\", want \"%s\"", key ? key : "NULL", in, got, want);
    free(got);
}

static void test_keys(void **state)
{
    (void)state;
    expect("secret", "s3cr3t-value", "***");
    expect("action.hook.secret", "abc", "***");
    expect("deliver.smtp_password", "hunter2", "***");
    expect("token", "t", "***");
    expect("API_KEY", "k", "***");
    expect("webhook_token", "x", "***");
    expect("secret", "", "");
    /* the name of an environment variable is not the secret */
    expect("secret_env", "HOOK_SECRET", "HOOK_SECRET");
    expect("deliver.smtp_password_env", "SMTP_PASS", "SMTP_PASS");
    /* ordinary keys pass through */
    expect("store.db", "churnwatch.db", "churnwatch.db");
    expect("tokenizer", "on", "on");
    expect(NULL, "", "");
    assert_int_equal(cw_mask_is_secret_key("passwd"), 1);
    assert_int_equal(cw_mask_is_secret_key("idem"), 0);
    assert_int_equal(cw_mask_is_secret_key(NULL), 0);
    assert_null(cw_mask_secrets("x", NULL));
}

static void test_urls(void **state)
{
    (void)state;
    expect("url", "https://user:pass@hooks.example.com/x", "https://user:***@hooks.example.com/x");
    expect(NULL, "smtps://mailer:p%40ss:w0rd@smtp.example.com:465",
           "smtps://mailer:***@smtp.example.com:465");
    /* a user alone may be a token: masked whole */
    expect(NULL, "https://ghp_abc123@example.com/", "https://***@example.com/");
    /* an empty password: the user part alone is masked */
    expect(NULL, "https://u:@h/", "https://***@h/");
    /* '@' in the path is not userinfo */
    expect(NULL, "https://example.com/a@b", "https://example.com/a@b");
    expect(NULL, "postgres://cw:pw@db:5432/cw?sslmode=require",
           "postgres://cw:***@db:5432/cw?sslmode=require");
    expect(NULL, "http://example.com:8080/hook", "http://example.com:8080/hook");
}

static void test_query(void **state)
{
    (void)state;
    expect(NULL, "https://h/x?token=abc", "https://h/x?token=***");
    expect(NULL, "https://h/x?a=1&key=K&b=2", "https://h/x?a=1&key=***&b=2");
    expect(NULL, "https://h/x?Secret=zz#frag", "https://h/x?Secret=***#frag");
    expect(NULL, "https://h/x?access_token=a&api_key=b&sig=c",
           "https://h/x?access_token=***&api_key=***&sig=***");
    /* not secret, or empty */
    expect(NULL, "https://h/x?tokens=1&keys=2", "https://h/x?tokens=1&keys=2");
    expect(NULL, "https://h/x?token=&a=1", "https://h/x?token=&a=1");
    /* both at once */
    expect(NULL, "https://a:b@h/x?token=t", "https://a:***@h/x?token=***");
}

static void test_free_text(void **state)
{
    (void)state;
    /* an error message quoting a setting's value */
    expect(NULL, "deliver.smtp_url: 'ftp://me:pw@h' is not an smtp:// or smtps:// URL",
           "deliver.smtp_url: 'ftp://me:***@h' is not an smtp:// or smtps:// URL");
    expect(NULL, "POST https://x:y@h/p?token=abc (signed) and https://u:v@k",
           "POST https://x:***@h/p?token=*** (signed) and https://u:***@k");
    expect(NULL,
           "plain text, nothing: to hide @ all ? & =", "plain text, nothing: to hide @ all ? & =");
    /* a libpq key = value connection string */
    expect(NULL, "host=/run/pg dbname=cw password=s3cret user=cw",
           "host=/run/pg dbname=cw password=*** user=cw");
    expect(NULL, "dbname=cw PASSWORD = 'a b\\' c' port=5432", "dbname=cw PASSWORD = *** port=5432");
    expect(NULL, "no_password=x mypassword=y password=", "no_password=x mypassword=y password=");
    expect(NULL, "ends with ://", "ends with ://");
    expect(NULL, "://@", "://@");
}

/* libpq key=value connection strings (store.db = host=… password=…). */
static void test_libpq_kv(void **state)
{
    (void)state;
    expect(NULL, "host=/tmp dbname=cw password=hunter2", "host=/tmp dbname=cw password=***");
    expect("store.db", "host=db password = 'a b\\' c' user=cw", "host=db password = *** user=cw");
    expect(NULL, "cannot connect (dbname=x PASSWORD=s3cr3t): refused",
           "cannot connect (dbname=x PASSWORD=*** refused");
    /* masking twice changes nothing (cli_error masks a masked message) */
    expect(NULL, "cannot connect (dbname=x password=***): refused",
           "cannot connect (dbname=x password=***): refused");
    /* not the keyword: part of a longer word */
    expect(NULL, "smtp_password=x mypassword=y", "smtp_password=x mypassword=y");
    /* libpq skips blanks after '=': its password here is "host=h" */
    expect(NULL, "password= host=h", "password= ***");
    expect(NULL, "password=", "password=");
    expect(NULL, "the password is wrong", "the password is wrong");
    /* the query parameter of a URI keeps its own rule */
    expect(NULL, "postgresql:///cw?host=/s&password=pw&sslmode=require",
           "postgresql:///cw?host=/s&password=***&sslmode=require");
}

static void test_config_show(void **state)
{
    (void)state;
    char path[] = "/tmp/cw_mask_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(
        "[deliver]\nsmtp_url = smtps://mailer:topsecret@smtp.example.com:465\n"
        "[action.hook]\ntype = webhook\nurl = https://bot:hookpass@hooks.example.com/in?token=tk1\n"
        "secret = inline-signing-key\n"
        "[action.hook2]\ntype = webhook\nurl = https://hooks.example.com/plain\n"
        "secret_env = HOOK_SECRET\n",
        f);
    fclose(f);
    cw_config *c = NULL;
    cw_error err = {CW_OK, ""};
    cw_status s = cw_config_load(path, &c, &err);
    if (s != CW_OK)
        fail_msg("load: %s", cw_error_why(&err));
    unlink(path);
    char *out = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&out, &n);
    cw_config_write(c, m);
    fclose(m);
    cw_config_free(c);
    /* none of the secrets appears */
    assert_null(strstr(out, "topsecret"));
    assert_null(strstr(out, "hookpass"));
    assert_null(strstr(out, "tk1"));
    assert_null(strstr(out, "inline-signing-key"));
    /* masked where they were; the rest as given */
    assert_non_null(strstr(out, "\nsmtp_url = smtps://mailer:***@smtp.example.com:465\n"));
    assert_non_null(strstr(out, "\nurl = https://bot:***@hooks.example.com/in?token=***\n"));
    assert_non_null(strstr(out, "\nsecret = ***\n"));
    assert_non_null(strstr(out, "\nurl = https://hooks.example.com/plain\n"));
    assert_non_null(strstr(out, "\nsecret_env = HOOK_SECRET\n"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_query),       cmocka_unit_test(test_free_text),
        cmocka_unit_test(test_config_show), cmocka_unit_test(test_libpq_kv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
