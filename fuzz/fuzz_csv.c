/*
 * fuzz_csv.c — libFuzzer target for the CSV reader and field validation.
 *
 * The input is read twice as a CSV export: once with a tiny record limit so
 * the over-long paths run all the time, once with a limit no input reaches. Every
 * field of every record is validated as each field type, and the first
 * record is treated as a header, so when it names a kind the following
 * records are also validated as rows of that kind (cw_validate_row), the
 * way ingest does. Besides the sanitizers, the reader's own contract is
 * checked: record and field sizes within the limit, line numbers strictly
 * increasing, every input byte accounted for at the end.
 */
#include "churnwatch.h"
#include "core/util.h"
#include "ingest/reader.h"
#include "ingest/schema.h"
#include "ingest/validate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

/* One definition per field type, with small bounds so the limits are reached. */
static const cw_field_def defs[] = {
    {"id", NULL, NULL, CW_F_ID, CW_FD_REQUIRED, 0, 0, NULL, ""},
    {"account", NULL, NULL, CW_F_REF_ACCOUNT, 0, 0, 0, NULL, ""},
    {"user", NULL, NULL, CW_F_REF_USER, 0, 0, 0, NULL, ""},
    {"text", NULL, NULL, CW_F_TEXT, 0, 0, 16, NULL, ""},
    {"int", NULL, NULL, CW_F_INT, 0, -5, 100, NULL, ""},
    {"money", NULL, NULL, CW_F_MONEY, CW_FD_REQUIRED, 0, INT64_MAX / 4, NULL, ""},
    {"currency", NULL, NULL, CW_F_CURRENCY, 0, 0, 0, NULL, ""},
    {"date", NULL, NULL, CW_F_DATE, 0, 0, 0, NULL, ""},
    {"ts", NULL, NULL, CW_F_TS, 0, 0, 0, NULL, ""},
    {"real", NULL, NULL, CW_F_REAL, 0, 0, 0, NULL, ""},
    {"enum", NULL, NULL, CW_F_ENUM, 0, 0, 0, "a|bb|CCC", ""},
    {"bool", NULL, NULL, CW_F_BOOL, 0, 0, 0, NULL, ""},
    {"email", NULL, NULL, CW_F_EMAIL, 0, 0, 32, NULL, ""},
};
#define NDEFS ((int)(sizeof defs / sizeof defs[0]))

static void check_field(const cw_field_def *f, const cw_strref *s, int naive_utc, cw_value *v)
{
    char why[128];
    why[0] = '\0';
    int ok = cw_validate_field(f, s->s, s->len, naive_utc, v, why, sizeof why);
    CHECK(ok == 0 || ok == 1);
    if (!ok) {
        CHECK(why[0] != '\0');
        return;
    }
    if (v->present) {
        CHECK(v->len > 0 && v->len <= s->len);
        CHECK(v->s >= s->s && v->s + v->len <= s->s + s->len);
    }
    if (f->type == CW_F_INT || f->type == CW_F_MONEY)
        CHECK(!v->present || (v->i >= f->min && v->i <= f->max));
    if (f->type == CW_F_DATE || f->type == CW_F_TS)
        CHECK(!v->present || (v->i >= 0 && v->i < 4102444800LL));
}

static void read_all(const uint8_t *data, size_t size, size_t max_record)
{
    cw_reader *r = NULL;
    if (cw_reader_open_mem((const char *)data, size, max_record, &r) != CW_OK)
        return;
    (void)cw_reader_peek(r);
    const size_t limit = max_record ? max_record : (1u << 20);
    int64_t prev_line = 0;
    const cw_kind_def *kd = NULL;
    int col_of[CW_MAX_FIELDS];
    int rc;
    for (int n = 0;; n++) {
        cw_strref *f = NULL, raw = {0};
        int nf = 0;
        int64_t line = 0;
        const char *why = NULL;
        rc = cw_csv_next(r, &f, &nf, &line, &raw, &why);
        if (rc == CW_READ_EOF)
            break;
        CHECK(line > prev_line);
        prev_line = line;
        if (rc == CW_READ_FATAL)
            __builtin_trap(); /* memory input cannot fail */
        if (rc == CW_READ_BAD) {
            CHECK(why && why[0]);
            continue;
        }
        CHECK(rc == CW_READ_OK);
        CHECK(nf >= 1 && nf <= 1024);
        CHECK(raw.len <= limit);
        for (int i = 0; i < nf; i++)
            CHECK(f[i].len <= raw.len);

        cw_value v;
        for (int t = 0; t < NDEFS; t++)
            check_field(&defs[t], &f[t % nf], t & 1, &v);
        for (int i = 0; i < nf; i++)
            check_field(&defs[i % NDEFS], &f[i], 1, &v);

        if (n == 0) {
            int amb = 0;
            cw_kind k = cw_schema_detect(f, nf, &amb);
            CHECK(k == CW_KIND_NONE || !amb);
            kd = cw_kind_get(k);
            if (kd)
                for (int i = 0; i < kd->nfields; i++) {
                    col_of[i] = -1;
                    for (int c = 0; c < nf && col_of[i] < 0; c++)
                        if (cw_schema_field_index(kd, f[c].s, f[c].len) == i)
                            col_of[i] = c;
                }
            continue;
        }
        if (!kd)
            continue;
        /* A row of the detected kind, as ingest sees it. */
        cw_value vals[CW_MAX_FIELDS];
        int all_ok = 1;
        for (int i = 0; i < kd->nfields; i++) {
            cw_strref empty = {"", 0};
            const cw_strref *cell = col_of[i] >= 0 && col_of[i] < nf ? &f[col_of[i]] : &empty;
            char why2[128];
            all_ok &= cw_validate_field(&kd->fields[i], cell->s, cell->len, 1, &vals[i], why2,
                                        sizeof why2);
        }
        if (all_ok) {
            int field = -1;
            char why2[128];
            if (!cw_validate_row(kd, vals, &field, why2, sizeof why2))
                CHECK(field >= 0 && field < kd->nfields && why2[0]);
        }
    }
    CHECK(cw_reader_bytes(r) == (int64_t)size);
    cw_reader_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_all(data, size, 40);
    /* Larger than libFuzzer's default -max_len: no record is too long. (The
     * default 1 MiB limit would only make every run slower.) */
    read_all(data, size, 8192);
    return 0;
}
