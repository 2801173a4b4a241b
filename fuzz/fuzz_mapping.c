/*
 * fuzz_mapping.c — libFuzzer target for mappings (lib/ingest/mapping.c): the input
 * is either mapping text (first byte '[': [source.X] sections, compiled as
 * a preset is, then applied to a fixed JSON record and CSV row), or a JSON
 * record applied through a fixed mapping that uses every kind of
 * expression and conversion (alternatives, paths with indexes, constants,
 * maps, money in major units with a scale, timestamps with a format, a
 * unit and an IANA zone, where and each). Lookups answer from a fixed
 * table. Checks that apply either succeeds with texts inside their record
 * or scratch, or fails with a reason and a field, and that paths resolved
 * in one pass read what walked paths read, besides the sanitizers.
 */
#include "churnwatch.h"
#include "ingest/mapping.h"
#include "core/util.h"
#include "ingest/validate.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static const char fixed_text[] =
    "[source.f.accounts]\n"
    "kind = accounts\n"
    "where = type not in skip, ignore\n"
    "account_id = id | ids[1] | 'A0'\n"
    "name = company.name | user_account(uid)\n"
    "segment = plan\n"
    "segment.map = a=smb, b=mid, ''=smb, *=enterprise\n"
    "seats = n\n"
    "mrr_minor = mrr\n"
    "mrr_minor.unit = major\n"
    "mrr_minor.scale = 1/12\n"
    "currency = cur | 'usd'\n"
    "contract_start = created\n"
    "contract_start.format = %d/%m/%Y %H:%M:%S\n"
    "contract_start.zone = Europe/Berlin\n"
    "renewal_date = renews\n"
    "renewal_date.unit = ms\n"
    "status = 'active'\n"
    "[source.f.events]\n"
    "kind = events\n"
    "each = items.data\n"
    "ts = each.t | t\n"
    "ts.zone = America/New_York\n"
    "account_id = account_by_domain(email) | account_by_name(company.name)\n"
    "event = each.e\n"
    "value = each.v\n";

static cw_source fixed;
static int have_fixed;

static int lookup(void *ud, int kind, const char *s, size_t len, cw_strref *out, char *why,
                  size_t whysz)
{
    (void)ud;
    (void)kind;
    if (len && s[0] == 'x') {
        out->s = "A1";
        out->len = 2;
        return 1;
    }
    snprintf(why, whysz, "no match");
    return 0;
}

/* The paths a mapping resolves in one pass over the scanner's member
 * lists must read what walking them reads: the same record as a copy of
 * its bytes (not the scanner's parsed line) is walked path by path. */
static void same_walked(const cw_mapping *m, const cw_map_record *rec, int ok,
                        const cw_strref *texts, int bad)
{
    static cw_map_scratch sc2;
    static char held[CW_MAX_FIELDS][256];
    const cw_kind_def *kd = cw_kind_get(m->kind);
    for (int i = 0; i < kd->nfields; i++)
        if (texts[i].s && texts[i].len < sizeof held[i])
            memcpy(held[i], texts[i].s, texts[i].len);
    char *copy = malloc(rec->obj.len ? rec->obj.len : 1);
    if (!copy)
        return;
    memcpy(copy, rec->obj.s, rec->obj.len);
    cw_map_record r2 = *rec;
    r2.obj.s = copy;
    CHECK(cw_mapping_where(m, rec) == cw_mapping_where(m, &r2));
    cw_map_ctx ctx = {lookup, NULL};
    cw_strref t2[CW_MAX_FIELDS];
    const char *origin[CW_MAX_FIELDS];
    memset(t2, 0, sizeof t2);
    unsigned set = 0;
    int bad2 = -1;
    char why[256] = "";
    int ok2 = cw_mapping_apply(m, &r2, NULL, &ctx, &sc2, t2, origin, &set, &bad2, why, sizeof why);
    CHECK(ok == ok2);
    if (!ok)
        CHECK(bad == bad2);
    for (int i = 0; ok && i < kd->nfields; i++) {
        CHECK(!texts[i].s == !t2[i].s && texts[i].len == t2[i].len);
        if (texts[i].s && texts[i].len < sizeof held[i])
            CHECK(memcmp(held[i], t2[i].s, t2[i].len) == 0);
    }
    free(copy);
}

static void apply_all(const cw_source *src, cw_jscan *js, cw_jval obj, const cw_strref *cells,
                      int ncells)
{
    static cw_map_scratch sc;
    cw_map_ctx ctx = {lookup, NULL};
    for (int k = 0; k < src->nmaps; k++) {
        cw_mapping *m = src->maps[k];
        const cw_kind_def *kd = cw_kind_get(m->kind);
        if (cells) {
            const char *missing = NULL;
            cw_mapping_bind_header(m, cells, ncells, &missing);
        }
        cw_map_record rec = {.cells = cells, .ncells = ncells, .js = js};
        if (!cells)
            rec.obj = obj;
        cw_jval arr = obj.type && m->neach ? cw_json_path(js, obj, m->each, m->neach) : rec.elem;
        const char *pos = NULL;
        for (size_t e = 0; e < 16; e++) {
            /* Once, or once per element of an array (none when empty). */
            if (arr.type == CW_JSON_ARRAY ? !cw_json_next(arr, &pos, &rec.elem) : e > 0)
                break;
            (void)cw_mapping_where(m, &rec);
            cw_strref texts[CW_MAX_FIELDS];
            const char *origin[CW_MAX_FIELDS];
            memset(texts, 0, sizeof texts);
            unsigned set = 0;
            int bad = -1;
            char why[256] = "";
            int ok = cw_mapping_apply(m, &rec, NULL, &ctx, &sc, texts, origin, &set, &bad, why,
                                      sizeof why);
            if (!cells)
                same_walked(m, &rec, ok, texts, bad);
            if (!ok) {
                CHECK(bad >= 0 && bad < kd->nfields && why[0]);
                continue;
            }
            for (int i = 0; i < kd->nfields; i++) {
                if (!texts[i].s)
                    continue;
                /* Touch every byte: the sanitizers catch a stale pointer. */
                volatile char sum = 0;
                for (size_t b = 0; b < texts[i].len; b++)
                    sum ^= texts[i].s[b];
                (void)sum;
                cw_value v;
                char vw[256];
                (void)cw_validate_field(&kd->fields[i], texts[i].s, texts[i].len, 1, &v, vw,
                                        sizeof vw);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!have_fixed) {
        char *err = NULL;
        CHECK(cw_source_compile_text("fixed", fixed_text, &fixed, &err) == CW_OK);
        have_fixed = 1;
    }
    if (size > 1 << 16)
        return 0;
    static cw_jscan *js;
    if (!js && !(js = cw_jscan_new()))
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (size && text[0] == '[') {
        cw_source src;
        char *err = NULL;
        if (cw_source_compile_text("fuzz", text, &src, &err) == CW_OK) {
            static const char rec[] =
                "{\"id\":\"A1\",\"a\":{\"b\":[1,2.5,\"x\"]},\"t\":1712052000}";
            cw_jval obj, none = {NULL, 0, CW_JSON_ABSENT, 0};
            int col;
            const char *jwhy;
            CHECK(cw_jscan_parse(js, rec, sizeof rec - 1, &obj, &col, &jwhy) == CW_OK);
            apply_all(&src, js, obj, NULL, 0);
            cw_strref cells[] = {{"A1", 2}, {"10", 2}, {"2024-01-01", 10}, {"x@y.z", 5}};
            apply_all(&src, js, none, cells, 4);
            cw_source_clear(&src);
        } else {
            CHECK(err && err[0]);
        }
        free(err);
    } else {
        cw_jval obj;
        int col;
        const char *jwhy;
        if (cw_jscan_parse(js, text, size, &obj, &col, &jwhy) == CW_OK &&
            obj.type == CW_JSON_OBJECT)
            apply_all(&fixed, js, obj, NULL, 0);
    }
    free(text);
    return 0;
}
