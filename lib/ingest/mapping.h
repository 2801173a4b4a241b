/*
 * mapping.h — mappings from vendor exports to churnwatch's kinds
 * (docs/importers.md): [source.NAME] sections of the configuration and the
 * built-in presets (lib/ingest/presets/NAME.ini), compiled once and applied per
 * record by ingest. Internal to the library and its tests.
 */
#ifndef CW_MAPPING_H
#define CW_MAPPING_H

#include "core/util.h"
#include "core/tz.h"
#include "ingest/jsonscan.h"

struct json_t;

enum { CW_ALT_COLUMN = 0, CW_ALT_CONST = 1, CW_ALT_LOOKUP = 2 };
enum { CW_LK_USER_ACCOUNT = 1, CW_LK_ACCOUNT_BY_NAME = 2, CW_LK_ACCOUNT_BY_DOMAIN = 3 };
enum { CW_FMT_AUTO = 0, CW_FMT_CSV = 1, CW_FMT_JSONL = 2, CW_FMT_JSON = 3 };

#define CW_MAP_MAX_ALTS  8
#define CW_MAP_MAX_STEPS 8

/* One step of a JSON path: a key, then up to four array indexes. */
typedef struct cw_map_step {
    char *key;
    int idx[4];
    int nidx;
} cw_map_step;

/* One alternative of a source expression. */
typedef struct cw_map_alt {
    int type;      /* CW_ALT_* */
    int lookup;    /* CW_LK_* for CW_ALT_LOOKUP; the argument is the path/column below */
    int arg_const; /* lookup of a constant */
    char *text;    /* as written: column name / path / constant value */
    char *norm;    /* normalised column name */
    cw_map_step steps[CW_MAP_MAX_STEPS];
    int nsteps;
    int each;   /* the path reads the `each` element (written each.x) */
    int exact;  /* written "Header": the header's exact text (trimmed), not normalised */
    int tokens; /* written tokens(x): the first word of x the field's .map knows */
    int col;    /* CSV: column index in the current file, or -1 */
    int slot;   /* JSON: 1 + the path's index in the mapping's resolved
                   paths (cw_map_plan), or 0: walked per use */
} cw_map_alt;

typedef struct cw_map_expr {
    cw_map_alt alts[CW_MAP_MAX_ALTS];
    int nalts;
} cw_map_expr;

/* One condition of `where` (conditions are joined by `and`). */
enum { CW_COND_IN = 0, CW_COND_PRESENT = 1 };
#define CW_MAP_MAX_CONDS 8
typedef struct cw_map_cond {
    cw_map_expr e;
    int op;  /* CW_COND_*: value in vals, or present (not empty) */
    int neg; /* !=, not in, absent */
    char **vals;
    int nvals;
} cw_map_cond;

enum { CW_UNIT_NONE = 0, CW_UNIT_MAJOR, CW_UNIT_MINOR, CW_UNIT_S, CW_UNIT_MS, CW_UNIT_US };

typedef struct cw_map_field {
    int mapped; /* the source sets this field */
    int plain;  /* one column or path, no conversion: copied as it is */
    cw_map_expr e;
    /* .map: from → to (compared trimmed, case-insensitively); '' = empty */
    char **map_from, **map_to;
    int nmap;
    const char *fallback; /* '*' entry, or NULL */
    int unit;
    int lookup_all; /* .lookup: CW_LK_* applied to every column alternative */
    int64_t scale_mul, scale_div;
    char *format;
    int zone; /* 0 none, 1 fixed offset, 2 IANA */
    int32_t zone_off;
    cw_tz *tz;
    cw_intern *table; /* .table: from → index in table_to */
    char **table_to;
    size_t ntable;
    char *table_path;
} cw_map_field;

/* The JSON paths a mapping reads that are one key, or a key and a key of
 * the object under it (no `each`, no indexes): resolved for all of them in
 * one pass over the record's member lists (jsonscan.h), not one walk per
 * operand. */
#define CW_MAP_MAX_PKEYS 32
typedef struct cw_map_pkey {
    const char *key; /* a step's key (owned by the alternative) */
    size_t len;
    int slot;   /* 1 + the path's slot when the path ends here, or 0 */
    int parent; /* inner keys: the top key they are under */
    int inner;  /* top keys: how many inner keys are under them */
} cw_map_pkey;

typedef struct cw_map_plan {
    cw_map_pkey top[CW_MAP_MAX_PKEYS], in[CW_MAP_MAX_PKEYS];
    int ntop, nin, nslots;
    /* A record's key → its key here, by a hash of its length and end
     * bytes: 1 + index, 0 none, -1 several (compared one by one). */
    int8_t tophash[64], inhash[64];
} cw_map_plan;

typedef struct cw_mapping {
    char *name;        /* the section's name after "source." */
    char *origin;      /* where it was defined: a file path or "preset NAME" */
    char *description; /* may be NULL */
    cw_kind kind;
    int format;  /* CW_FMT_*: the one declared, or AUTO (detected) */
    int formats; /* accepted formats, bits 1 << CW_FMT_*: a file of another is skipped */
    cw_map_step records[CW_MAP_MAX_STEPS];
    int nrecords;
    cw_map_step each[CW_MAP_MAX_STEPS];
    int neach;
    cw_map_cond where[CW_MAP_MAX_CONDS]; /* all must hold */
    int nwhere;
    char *files;         /* glob on base names */
    int provision_users; /* -1 unset, 0, 1 */
    int merge;
    int64_t data_end; /* Unix seconds, 0 = unset */
    int uses_lookups;
    int order[CW_MAX_FIELDS]; /* fields in apply order: currencies first */
    cw_map_plan plan;
    cw_map_field fields[CW_MAX_FIELDS];
} cw_mapping;

/* A named source: a [source.NAME] of the configuration or a preset, as the
 * one or more mappings (sections) it applies to each file. */
typedef struct cw_source {
    char *name;
    char *description;
    char *files;
    int is_preset;
    cw_mapping **maps;
    int nmaps;
} cw_source;

struct cw_sources {
    cw_source *src;
    int n;
};

/* Normalises a column name: lower case, every run of spaces and ASCII
 * punctuation becomes one '_', leading and trailing '_' dropped. Writes at
 * most outsz - 1 bytes and a NUL; returns the length (0 when it does not
 * fit). */
size_t cw_name_normalise(const char *s, size_t len, char *out, size_t outsz);

/* Built-in presets: the embedded text of lib/ingest/presets/NAME.ini, or NULL. */
const char *cw_preset_lookup(const char *name);

/* Compiles the mappings of a named source: a [source.NAME] of c (c may be
 * NULL), or, with preset set, the built-in preset NAME (or one section of
 * it: "segment.identify"). Errors: "file:line: [source.X] key: why". */
cw_status cw_source_compile(const cw_config *c, const char *name, int preset, cw_source *out,
                            char **err);
/* Compiles INI text holding [source.X] sections (as a preset), named name
 * in messages; .table paths are relative to the working directory. */
cw_status cw_source_compile_text(const char *name, const char *text, cw_source *out, char **err);
/* Frees the mappings of s and empties it. */
void cw_source_clear(cw_source *s);
/* Frees m; accepts NULL. */
void cw_mapping_free(cw_mapping *m);

/* A record being mapped: a CSV row or a JSON object (and the current
 * element of `each`), values in text validated by js (jsonscan.h). */
typedef struct cw_map_record {
    const cw_strref *cells;
    int ncells;
    cw_jscan *js;
    cw_jval obj, elem;
} cw_map_record;

/* Resolves lookups during apply: returns 1 with *out set (the account's
 * external id, borrowed until the record is done), 0 when there is no
 * match (why says so). */
typedef struct cw_map_ctx {
    int (*lookup)(void *ud, int kind, const char *s, size_t len, cw_strref *out, char *why,
                  size_t whysz);
    void *ud;
} cw_map_ctx;

/* Per-field scratch for converted values: no allocation per record. */
typedef struct cw_map_scratch {
    char buf[CW_MAX_FIELDS][64];
} cw_map_scratch;

/* Binds a CSV header to m: resolves column alternatives to indexes. Returns
 * the number of the mapping's expressions that name a column the header
 * lacks (*missing, the first of them, for a message) when they are
 * required and have no other alternative. */
int cw_mapping_bind_header(cw_mapping *m, const cw_strref *cells, int n, const char **missing);
/* Whether column (normalised name) is read by m: by an expression or, for a
 * field m does not map, as the field's name or alias. */
int cw_mapping_uses_column(const cw_mapping *m, const char *norm);
/* Whether the JSON key (top level) is read by m. */
int cw_mapping_uses_key(const cw_mapping *m, const char *key);

/* Whether m reads a file whose first byte is c ('[' or '{': JSON, else
 * CSV): a section declaring another format skips the file. */
int cw_mapping_accepts(const cw_mapping *m, int c);

/* Whether rec passes m's `where` (1) or is filtered out (0). */
int cw_mapping_where(const cw_mapping *m, const cw_map_record *rec);

/* Maps rec to one text per field of m's kind (texts[i].s NULL when
 * absent), with origin[i] the column/path/constant it came from, and
 * *set (bit i) the fields whose value came from the record (for merge).
 * Native columns of unmapped fields are read through native_col (CSV: the
 * column of each field, or -1). Returns 1, or 0 with *bad_field and a
 * reason in why. */
int cw_mapping_apply(const cw_mapping *m, const cw_map_record *rec, const int *native_col,
                     const cw_map_ctx *ctx, cw_map_scratch *sc, cw_strref *texts,
                     const char **origin, unsigned *set, int *bad_field, char *why, size_t whysz);

/* Walks a JSON path from root; NULL when absent. */
struct json_t *cw_map_path(struct json_t *root, const cw_map_step *steps, int n);

/* Timestamp conversion as `.format` / `.zone` / `.unit` do it (exposed for
 * tests): text → "YYYY-MM-DDTHH:MM:SS[Z]" into out. */
int cw_map_timestamp(const cw_map_field *f, const char *s, size_t len, char *out, size_t outsz,
                     char *why, size_t whysz);

#endif
