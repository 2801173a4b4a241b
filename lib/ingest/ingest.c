/*
 * ingest.c — validated, idempotent, atomic ingest of CSV and JSON Lines
 * exports into the store.
 *
 * One run is one transaction. Files are opened first, their kind detected
 * from the header (or the first JSON object's keys), then applied in kind
 * order — accounts before users before events — so that references made in
 * the same run resolve whatever order the files were named in. Every field
 * goes through cw_validate_field(); every reference must resolve to a known
 * account, user or goal (the one policy for unknown references: the row is
 * rejected). By default a single bad row rolls the whole run back; with
 * skip_bad the bad rows are written to a rejects file and the rest lands.
 *
 * Events take a separate, allocation-free path: rows are validated into a
 * flat batch and hashed (their event_id, or their content); the batch is
 * radix-sorted by (account, day, hash); each account-day group is merged
 * with the hashes the store already holds for that account-day, and only
 * the new events are added to that day's per (user, event) rollup cells —
 * one lookup and one write per account-day. Re-ingesting the same events
 * finds every hash already seen and changes nothing.
 */
#define _POSIX_C_SOURCE 200809L
#include "core/json.h"
#include "core/util.h"
#include "ingest/reader.h"
#include "ingest/schema.h"
#include "ingest/validate.h"
#include "ingest/periods.h"
#include "store/store.h"
#include "ingest/mapping.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WHY_MAX 512

/* ---- event batch ------------------------------------------------------ */

typedef struct ev_rec {
    uint64_t h; /* identity: hash of event_id, or of the content */
    int64_t account, user, event, day;
    double value;
} ev_rec;

/* Sort key: account (22 bits), day (16 bits), then the hash's top 26 bits,
 * so one radix sort groups the batch by account-day in hash order. */
#define KEY_ACCOUNT_MAX ((int64_t)1 << 22)
#define KEY_DAY_MAX     ((int64_t)1 << 16)

static int rec_cmp(const void *a, const void *b)
{
    const ev_rec *x = a, *y = b;
    if (x->account != y->account)
        return x->account < y->account ? -1 : 1;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return (x->h > y->h) - (x->h < y->h);
}

/* Sorts the batch by (account, day, hash) into *out (caller frees): an LSD
 * radix sort of (key, index) pairs, skipping passes whose digit is constant,
 * then a gather. Falls back to qsort for ids beyond the packed key's range. */
static cw_status sort_batch(const ev_rec *recs, size_t n, ev_rec **sorted_out)
{
    typedef struct {
        uint64_t k;
        uint32_t i;
    } kv;
    ev_rec *out = malloc(n * sizeof *out);
    if (!out)
        return CW_ERR_NOMEM;
    int packable = n < UINT32_MAX;
    for (size_t i = 0; i < n && packable; i++)
        packable =
            recs[i].account < KEY_ACCOUNT_MAX && recs[i].day >= 0 && recs[i].day < KEY_DAY_MAX;
    if (!packable) {
        memcpy(out, recs, n * sizeof *out);
        qsort(out, n, sizeof *out, rec_cmp);
        *sorted_out = out;
        return CW_OK;
    }
    kv *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (!a || !b) {
        free(a), free(b), free(out);
        return CW_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        a[i] = (kv){(uint64_t)recs[i].account << 42 | (uint64_t)recs[i].day << 26 | recs[i].h >> 37,
                    (uint32_t)i};
    for (int shift = 0; shift < 64; shift += 8) {
        size_t cnt[257] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[((a[i].k >> shift) & 0xff) + 1]++;
        if (cnt[((a[0].k >> shift) & 0xff) + 1] == n)
            continue;
        for (int d = 0; d < 256; d++)
            cnt[d + 1] += cnt[d];
        for (size_t i = 0; i < n; i++)
            b[cnt[(a[i].k >> shift) & 0xff]++] = a[i];
        kv *t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = recs[a[i].i];
    free(a);
    free(b);
    *sorted_out = out;
    return CW_OK;
}

/* Orders new events of one account-day by (user, event) for the rollup. */
static int cell_cmp(const void *a, const void *b)
{
    const ev_rec *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return (x->event > y->event) - (x->event < y->event);
}

/* ---- run context ---------------------------------------------------- */

typedef struct in_file {
    const char *path;
    cw_reader *r;
    cw_kind kind;
    int jsonl;
    int json_doc; /* one JSON document (mapped files only) */
    int order;    /* position on the command line (then section), for a stable sort */
    int64_t size;
    cw_mapping *map;      /* the mapping this file is read through, or NULL */
    const cw_source *src; /* its source: all sections read the same path */
    int64_t data_end;     /* subscription_periods: the export's data end (Unix s) */
    int skip;             /* the section's format is not the file's: not read by it */
} in_file;

/* The top-level keys of a recent mapped JSON line (json_unmapped). */
#define KEYSETS 4
typedef struct keyset {
    size_t n, len;
    char buf[256]; /* the keys, each after its length byte */
} keyset;

typedef struct run {
    cw_store *st;
    const cw_store_ops *ops;
    const cw_ingest_opts *o;
    cw_ingest_stats *stats;
    cw_intern *accounts, *users, *events, *goals;
    int64_t placeholder_id; /* ids of rows that would have been created */
    FILE *rejects;
    int64_t errors;                       /* bad rows and file problems */
    char first_err[1024], last_err[1024]; /* error messages, for the handle */
    int fatal;                            /* stop: nothing may land */
    cw_status fatal_status;
    /* current file */
    in_file *f;
    const cw_kind_def *kd;
    int col_field[1024]; /* column → field index or -1 */
    int ncols;
    cw_intern *keys_seen; /* natural keys seen in this file */
    /* events */
    ev_rec *batch;
    size_t nbatch, batch_cap;
    unsigned char *hbuf, *cbuf; /* merged hashes and cells of one account-day */
    size_t hbuf_cap, cbuf_cap;
    int64_t file_written, file_rejected, file_rows;
    /* billing periods: the accounts whose periods this run read, each with
     * the file and line of its first row (for messages); and the known
     * change-log origin of accounts (ORIGIN_* bits, by internal id) */
    cw_intern *period_acc, *origins, *currencies;
    int64_t *pa_id, *pa_line, *pa_end;
    const char **pa_path;
    size_t npa, capa;
    /* per file: a row naming an unknown user creates it on first sight
     * (from opts->provision_users; a [source.NAME]'s setting may set it) */
    int provision_users;
    /* fields of the current file (CSV) or row (JSON Lines) given in major
     * units (a *_major column) */
    unsigned char field_major[CW_MAX_FIELDS];
    /* quarantine run id (opts->quarantine with skip_bad), else 0 */
    int64_t qrun;
    /* users created on first sight (here or in earlier runs) that no users
     * export has given yet: name → index into provs */
    cw_intern *prov;
    struct prov_user *provs;
    size_t nprovs, cap_provs;
    /* progress */
    double t0, last_progress;
    int file_index, file_count;
    int64_t rows_total;
    char keybuf[4096];
    /* mappings */
    cw_source **sources; /* compiled sources (owned; files point at them) */
    int nsources;
    int native_col[CW_MAX_FIELDS];     /* CSV column of each unmapped field, or -1 */
    const char *origin[CW_MAX_FIELDS]; /* where the current row's field values came from */
    unsigned set_mask;                 /* fields the current row's record set (merge) */
    cw_map_scratch scratch;
    cw_intern *warned;      /* "path\x1fcolumn" already reported as unmapped */
    cw_intern *keys_judged; /* JSON keys of the current file checked for use */
    struct pend_row *pend;  /* merged rows of the current file (merge = yes) */
    size_t npend, cappend;
    cw_intern *pend_keys;
    /* key lists of recent mapped JSON lines, all judged (json_unmapped) */
    keyset keysets[KEYSETS];
    unsigned keysets_next;
    /* lookups: account id → external id, names and e-mail domains → account */
    int lookups;
    cw_intern *lk_rev, *lk_name, *lk_domain;
    char **lk_strs;
    size_t lk_n, lk_cap;
    char lkbuf[256];
    /* preview (cw_ingest_preview) */
    int preview, no_refs, preview_limit;
    int64_t previewed;
    cw_preview_fn on_row;
} run;

static void message(run *R, int warning, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void message(run *R, int warning, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!warning) {
        if (!R->first_err[0])
            snprintf(R->first_err, sizeof R->first_err, "%s", buf);
        snprintf(R->last_err, sizeof R->last_err, "%s", buf);
    }
    if (R->o->on_message)
        R->o->on_message(warning, buf, R->o->ud);
}

static void quarantine_row(run *R, int64_t line, const char *field, const char *why, cw_strref raw);

/* Records a bad row: counts it, reports it, and writes it to rejects (and
 * the quarantine when the run keeps one). */
static void bad_row(run *R, int64_t line, const char *field, const char *why, cw_strref raw)
{
    if (R->qrun)
        quarantine_row(R, line, field, why, raw);
    R->errors++;
    R->stats->rejected++;
    R->file_rejected++;
    if (R->errors <= R->o->max_errors) {
        /* A JSON document's records are numbered, not its lines. */
        const char *at = R->f->json_doc ? "record " : "";
        const char *from = NULL;
        for (int i = 0; field && R->f->map && i < R->kd->nfields; i++)
            if (strcmp(R->kd->fields[i].name, field) == 0)
                from = R->origin[i];
        if (from && from[0] == '\'')
            message(R, 0, "%s:%s%lld: field '%s' (constant %s): %s", R->f->path, at,
                    (long long)line, field, from, why);
        else if (from)
            message(R, 0, "%s:%s%lld: field '%s' (%s '%s'): %s", R->f->path, at, (long long)line,
                    field, R->f->jsonl || R->f->json_doc ? "path" : "column", from, why);
        else if (field)
            message(R, 0, "%s:%s%lld: field '%s': %s", R->f->path, at, (long long)line, field, why);
        else
            message(R, 0, "%s:%s%lld: %s", R->f->path, at, (long long)line, why);
    }
    if (R->rejects) {
        fputs("{\"file\":", R->rejects);
        cw_json_fstr(R->rejects, R->f->path, strlen(R->f->path));
        fprintf(R->rejects, ",\"line\":%lld,\"field\":", (long long)line);
        if (field)
            cw_json_fstr(R->rejects, field, strlen(field));
        else
            fputs("null", R->rejects);
        fputs(",\"error\":", R->rejects);
        cw_json_fstr(R->rejects, why, strlen(why));
        fputs(",\"record\":", R->rejects);
        cw_json_fstr(R->rejects, raw.s, raw.len);
        fputs("}\n", R->rejects);
    }
}

/* Copies s with invalid UTF-8 replaced by U+FFFD (caller frees); NULL when
 * out of memory. */
static char *utf8_clean(const char *s, size_t len, size_t *outlen)
{
    char *o = malloc(len * 3 + 1);
    size_t n = 0, i = 0;
    if (!o)
        return NULL;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (c == 0 || (c >= 0x80 && (i + k > len || cw_utf8_check(s + i, k, 1)))) {
            memcpy(o + n, "\xef\xbf\xbd", 3);
            n += 3;
            i++;
        } else {
            memcpy(o + n, s + i, k);
            n += k;
            i += k;
        }
    }
    o[n] = '\0';
    *outlen = n;
    return o;
}

/* Keeps a bad row in the store's quarantine, in the run's transaction; a
 * store failure stops the run (nothing lands). */
static void quarantine_row(run *R, int64_t line, const char *field, const char *why, cw_strref raw)
{
    size_t n = 0;
    char *rec = utf8_clean(raw.s ? raw.s : "", raw.s ? raw.len : 0, &n);
    cw_status s = rec ? R->ops->quarantine_put(R->st, R->qrun, R->f->path, line, field, why, rec, n)
                      : CW_ERR_NOMEM;
    free(rec);
    if (s == CW_OK) {
        R->stats->quarantined++;
    } else if (!R->fatal) {
        R->fatal = 1;
        R->fatal_status = s;
    }
}

/* A problem with a whole file (unreadable, no usable header): nothing of
 * the run may land, with or without skip_bad. */
static void file_fatal(run *R, cw_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void file_fatal(run *R, cw_status s, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    R->errors++;
    if (!R->fatal)
        R->fatal_status = s;
    R->fatal = 1;
    if (R->errors <= R->o->max_errors && R->o->on_message)
        R->o->on_message(0, buf, R->o->ud);
}

static int writing(const run *R)
{
    return !R->fatal && (R->o->skip_bad || R->errors == 0);
}

static void progress(run *R, int force)
{
    if (!R->o->on_progress)
        return;
    double now = cw_now();
    if (!force && now - R->last_progress < 0.25)
        return;
    R->last_progress = now;
    cw_ingest_progress p = {R->f->path,   cw_reader_offset(R->f->r),
                            R->f->size,   R->rows_total,
                            now - R->t0,  R->file_index,
                            R->file_count};
    R->o->on_progress(&p, R->o->ud);
}

/* ---- events --------------------------------------------------------- */

/* Makes room for n bytes in a growable scratch buffer. */
static cw_status reserve(unsigned char **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return CW_OK;
    unsigned char *nb = realloc(*buf, n * 2);
    if (!nb)
        return CW_ERR_NOMEM;
    *buf = nb;
    *cap = n * 2;
    return CW_OK;
}

/* Finishes one account-day group g[0..n) (sorted by hash prefix), given
 * the day as stored (events, cells oldc[0..mc), hashes old[0..m)): drops
 * the events already ingested (in the store or earlier in the group),
 * merges the new ones into the day's rollup cells and saves the day with
 * its merged hash set. */
static cw_status flush_group(run *R, ev_rec *g, size_t n, int64_t events, const unsigned char *oldc,
                             size_t mc, const unsigned char *old, size_t m)
{
    /* The radix key holds only 26 hash bits: finish the order by the full
     * hash (already nearly sorted, so insertion sort is linear). */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && g[j - 1].h > g[j].h; j--) {
            ev_rec t = g[j];
            g[j] = g[j - 1];
            g[j - 1] = t;
        }
    cw_status s;
    if ((s = reserve(&R->hbuf, &R->hbuf_cap, (m + n) * 8)) != CW_OK ||
        (s = reserve(&R->cbuf, &R->cbuf_cap, (mc + n) * CW_CELL_BYTES)) != CW_OK)
        return s;
    size_t a = 0, out = 0, nnew = 0;
    uint64_t prev = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = g[i].h;
        while (a < m && cw_load_le64(old + a * 8) < h)
            cw_store_le64(R->hbuf + 8 * out++, cw_load_le64(old + 8 * a++));
        if (h == prev || (a < m && cw_load_le64(old + a * 8) == h)) {
            R->stats->duplicates++;
            prev = h;
            continue;
        }
        prev = h;
        cw_store_le64(R->hbuf + 8 * out++, h);
        g[nnew++] = g[i]; /* compact the new events to the front */
    }
    if (!nnew)
        return CW_OK;
    while (a < m)
        cw_store_le64(R->hbuf + 8 * out++, cw_load_le64(old + 8 * a++));
    /* Merge the stored cells (sorted by user, event) with the new events
     * aggregated the same way. */
    qsort(g, nnew, sizeof *g, cell_cmp);
    size_t ci = 0, nc = 0;
    cw_event_cell oc;
    for (size_t i = 0; i < nnew;) {
        cw_event_cell c = {g[i].user, g[i].event, 0, 0.0};
        size_t j = i;
        while (j < nnew && g[j].user == c.user && g[j].event == c.event)
            c.vsum += g[j++].value;
        c.n = (int64_t)(j - i);
        i = j;
        for (; ci < mc; ci++) {
            cw_cell_decode(oldc + ci * CW_CELL_BYTES, &oc);
            if (oc.user > c.user || (oc.user == c.user && oc.event >= c.event))
                break;
            memcpy(R->cbuf + CW_CELL_BYTES * nc++, oldc + ci * CW_CELL_BYTES, CW_CELL_BYTES);
        }
        if (ci < mc && oc.user == c.user && oc.event == c.event) {
            c.n += oc.n;
            c.vsum += oc.vsum;
            ci++;
        }
        cw_cell_encode(R->cbuf + CW_CELL_BYTES * nc++, &c);
    }
    if (ci < mc) {
        memcpy(R->cbuf + CW_CELL_BYTES * nc, oldc + ci * CW_CELL_BYTES, (mc - ci) * CW_CELL_BYTES);
        nc += mc - ci;
    }
    s = R->ops->save_event_day(R->st, g[0].account, g[0].day, events + (int64_t)nnew, R->cbuf, nc,
                               R->hbuf, out);
    if (s == CW_OK) {
        R->stats->rows_written[CW_KIND_EVENTS] += (int64_t)nnew;
        R->file_written += (int64_t)nnew;
    }
    return s;
}

/* The groups of a sorted batch, walked in step with the store's
 * load_event_days callbacks (one per group, in the same order). */
typedef struct group_walk {
    run *R;
    ev_rec *sorted;
    size_t *start; /* group k is sorted[start[k] .. start[k + 1]) */
    size_t next;
} group_walk;

static cw_status on_stored_day(int64_t account, int64_t day, int64_t events,
                               const unsigned char *cells, size_t ncells,
                               const unsigned char *hashes, size_t nhashes, void *ud)
{
    group_walk *w = ud;
    size_t k = w->next++;
    ev_rec *g = w->sorted + w->start[k];
    if (g->account != account || g->day != day)
        return cw_store_set_error(w->R->st, CW_ERR_DB, "ingest: event days out of step");
    return flush_group(w->R, g, w->start[k + 1] - w->start[k], events, cells, ncells, hashes,
                       nhashes);
}

/* Writes the batch: its account-days are read from the store and written
 * back through the store's batch calls (one lookup and one write per
 * account-day on SQLite; a few statements per batch on PostgreSQL). */
static cw_status flush_batch(run *R)
{
    if (R->nbatch == 0)
        return CW_OK;
    ev_rec *sorted;
    cw_status s = sort_batch(R->batch, R->nbatch, &sorted);
    if (s != CW_OK)
        return s;
    size_t ng = 0;
    for (size_t i = 0; i < R->nbatch; i++)
        ng += i == 0 || sorted[i].account != sorted[i - 1].account ||
              sorted[i].day != sorted[i - 1].day;
    size_t *start = malloc((ng + 1) * sizeof *start);
    int64_t *keys = malloc(ng * 2 * sizeof *keys);
    if (!start || !keys) {
        free(start);
        free(keys);
        free(sorted);
        return CW_ERR_NOMEM;
    }
    ng = 0;
    for (size_t i = 0; i < R->nbatch; i++)
        if (i == 0 || sorted[i].account != sorted[i - 1].account ||
            sorted[i].day != sorted[i - 1].day) {
            start[ng] = i;
            keys[2 * ng] = sorted[i].account;
            keys[2 * ng + 1] = sorted[i].day;
            ng++;
        }
    start[ng] = R->nbatch;
    group_walk w = {R, sorted, start, 0};
    s = R->ops->save_event_days_begin(R->st);
    if (s == CW_OK)
        s = R->ops->load_event_days(R->st, keys, ng, on_stored_day, &w);
    if (s == CW_OK && w.next != ng)
        s = cw_store_set_error(R->st, CW_ERR_DB, "ingest: event days out of step");
    if (s == CW_OK)
        s = R->ops->save_event_days_end(R->st);
    free(keys);
    free(start);
    free(sorted);
    R->nbatch = 0;
    return s;
}

/* ---- users created on first sight (provision_users) ----------------- */

typedef struct prov_user {
    char *name;
    size_t len;
    int64_t at;  /* earliest event time seen */
    int lowered; /* at is below what the store holds */
} prov_user;

/* The earliest time the row carries (events: ts; tickets: opened_at, …). */
static int64_t row_time(const cw_kind_def *kd, const cw_value *v)
{
    int64_t t = INT64_MAX;
    for (int i = 0; i < kd->nfields; i++)
        if ((kd->fields[i].type == CW_F_TS || kd->fields[i].type == CW_F_DATE) && v[i].present &&
            v[i].i < t)
            t = v[i].i;
    return t;
}

/* Remembers a provisional user (created now or in an earlier run). */
static cw_status prov_add(run *R, const char *name, size_t len, int64_t at, int lowered)
{
    if (R->nprovs == R->cap_provs) {
        size_t cap = R->cap_provs ? 2 * R->cap_provs : 64;
        prov_user *p = realloc(R->provs, cap * sizeof *p);
        if (!p)
            return CW_ERR_NOMEM;
        R->provs = p;
        R->cap_provs = cap;
    }
    prov_user *p = &R->provs[R->nprovs];
    if (!(p->name = cw_strndup(name, len)))
        return CW_ERR_NOMEM;
    p->len = len;
    p->at = at;
    p->lowered = lowered;
    cw_status s = cw_intern_put(R->prov, name, len, (int64_t)R->nprovs);
    if (s == CW_OK)
        R->nprovs++;
    else
        free(p->name);
    return s;
}

static cw_status load_prov(const char *ext, size_t len, int64_t id, int64_t at, void *ud)
{
    (void)id;
    return prov_add(ud, ext, len, at, 0);
}

/* A row names an unknown user u of account: create the user on first
 * sight, provisioned at the row's time. */
static cw_status provision_user(run *R, const cw_kind_def *kd, const cw_value *v, const cw_value *u,
                                int64_t account, int64_t *id)
{
    int64_t at = row_time(kd, v);
    if (at == INT64_MAX)
        at = 0;
    cw_status s;
    if (!writing(R)) {
        /* Nothing lands: a placeholder keeps later rows from failing too. */
        *id = R->placeholder_id--;
    } else {
        if ((s = R->ops->user_provision(R->st, u->s, u->len, account, at, id)) != CW_OK)
            return s;
        R->stats->provisioned_users++;
        R->stats->rows_written[CW_KIND_USERS]++;
        if ((s = prov_add(R, u->s, u->len, at, 0)) != CW_OK)
            return s;
    }
    return cw_intern_put_aux(R->users, u->s, u->len, *id, account);
}

/* A row names a known user: when it is provisional and the row is earlier
 * than its provisioned_at, lower it (rows come in any order). */
static void provisional_seen(run *R, const cw_kind_def *kd, const cw_value *v, const cw_value *u)
{
    int64_t k = cw_intern_get(R->prov, u->s, u->len);
    if (k < 0 || !writing(R))
        return;
    int64_t at = row_time(kd, v);
    if (at < R->provs[k].at) {
        R->provs[k].at = at;
        R->provs[k].lowered = 1;
    }
}

/* Writes the lowered provisioned_at of provisional users (end of run). */
static cw_status prov_flush(run *R)
{
    cw_status s = CW_OK;
    for (size_t i = 0; i < R->nprovs && s == CW_OK; i++)
        if (R->provs[i].lowered)
            s = R->ops->user_provision_lower(R->st, R->provs[i].name, R->provs[i].len,
                                             R->provs[i].at);
    return s;
}

/* Resolves account and user references of row v into refs. Returns 1 when
 * they resolve; else reports the row and returns 0. */
static int resolve_refs(run *R, const cw_value *v, int64_t *refs, int64_t line, cw_strref raw)
{
    const cw_kind_def *kd = R->kd;
    int64_t account = -1;
    char why[WHY_MAX];
    for (int i = 0; i < kd->nfields; i++) {
        const cw_field_def *f = &kd->fields[i];
        refs[i] = 0;
        if (f->type == CW_F_REF_ACCOUNT && v[i].present) {
            refs[i] = account = cw_intern_get(R->accounts, v[i].s, v[i].len);
            if (refs[i] < 0 && R->no_refs) {
                refs[i] = account = 0;
                continue;
            }
            if (refs[i] < 0) {
                snprintf(why, sizeof why, "unknown account '%.*s' (ingest accounts first)",
                         (int)(v[i].len > 64 ? 64 : v[i].len), v[i].s);
                bad_row(R, line, f->name, why, raw);
                return 0;
            }
        }
    }
    for (int i = 0; i < kd->nfields; i++) {
        const cw_field_def *f = &kd->fields[i];
        if (f->type == CW_F_REF_USER && v[i].present) {
            int64_t ua = -1;
            refs[i] = cw_intern_get_aux(R->users, v[i].s, v[i].len, &ua);
            if (refs[i] < 0 && R->no_refs && !R->provision_users) {
                refs[i] = 0;
                continue;
            }
            if (refs[i] < 0 && R->provision_users && account >= 0) {
                cw_status s = provision_user(R, kd, v, &v[i], account, &refs[i]);
                if (s != CW_OK) {
                    R->fatal = 1, R->fatal_status = s;
                    return 0;
                }
                ua = account;
            } else if (refs[i] >= 0 && R->nprovs) {
                provisional_seen(R, kd, v, &v[i]);
            }
            if (refs[i] < 0) {
                snprintf(why, sizeof why, "unknown user '%.*s' (ingest users first)",
                         (int)(v[i].len > 64 ? 64 : v[i].len), v[i].s);
                bad_row(R, line, f->name, why, raw);
                return 0;
            }
            if (account >= 0 && ua != account) {
                snprintf(why, sizeof why, "user '%.*s' belongs to another account",
                         (int)(v[i].len > 64 ? 64 : v[i].len), v[i].s);
                bad_row(R, line, f->name, why, raw);
                return 0;
            }
        }
    }
    return 1;
}

/* ---- billing periods -------------------------------------------------- */

enum { ORIGIN_NATIVE = 1, ORIGIN_PERIODS = 2 };

/* The change-log origins of an account (ORIGIN_* bits), cached per run. */
static cw_status account_origins(run *R, int64_t account, int *bits)
{
    int64_t b = cw_intern_get(R->origins, (const char *)&account, sizeof account);
    if (b >= 0) {
        *bits = (int)b;
        return CW_OK;
    }
    int64_t native = 0, derived = 0, periods = 0;
    cw_status s = R->ops->sub_origins(R->st, account, &native, &derived, &periods);
    if (s != CW_OK)
        return s;
    *bits = (native ? ORIGIN_NATIVE : 0) | (derived || periods ? ORIGIN_PERIODS : 0);
    return cw_intern_put(R->origins, (const char *)&account, sizeof account, *bits);
}

/* One account's change log comes either from subscriptions files or from
 * billing periods, never both: re-deriving must be free to replace all of
 * its derived rows, and a hand-kept row between them would be silently
 * contradicted. Returns 1 when row v (of kind subscriptions or
 * subscription_periods) may go on; else reports it and returns 0. */
static int check_origin(run *R, const cw_value *v, const int64_t *refs, int64_t line, cw_strref raw,
                        cw_status *s)
{
    int bits = 0;
    if (refs[0] > R->placeholder_id)
        return 1; /* an account created in this run that was not written */
    if ((*s = account_origins(R, refs[0], &bits)) != CW_OK)
        return 0;
    char why[WHY_MAX];
    int n = (int)(v[0].len > 64 ? 64 : v[0].len);
    if (R->kd->kind == CW_KIND_SUBSCRIPTIONS && (bits & ORIGIN_PERIODS)) {
        snprintf(why, sizeof why,
                 "account '%.*s' has billing periods (subscription_periods) and its change log is "
                 "derived from them; give its subscription changes one way only",
                 n, v[0].s);
        bad_row(R, line, "account_id", why, raw);
        return 0;
    }
    if (R->kd->kind == CW_KIND_SUBSCRIPTION_PERIODS && (bits & ORIGIN_NATIVE)) {
        snprintf(why, sizeof why,
                 "account '%.*s' has subscription changes from a subscriptions file; billing "
                 "periods cannot be added to it (give its subscription changes one way only)",
                 n, v[0].s);
        bad_row(R, line, "account_id", why, raw);
        return 0;
    }
    return 1;
}

static cw_status first_currency(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    char *cur = ud;
    if (!cur[0] && v[CW_SP_CURRENCY].s && v[CW_SP_CURRENCY].len == 3)
        memcpy(cur, v[CW_SP_CURRENCY].s, 3);
    return CW_OK;
}

/* One account's periods share one currency (their MRR is summed): checks
 * row v against the account's stored periods and earlier rows of the run.
 * Returns 1 when it may go on; else reports it and returns 0. */
static int check_currency(run *R, const cw_value *v, const int64_t *refs, int64_t line,
                          cw_strref raw, cw_status *s)
{
    char cur[4] = {0};
    int64_t packed = cw_intern_get(R->currencies, (const char *)&refs[0], sizeof refs[0]);
    if (packed >= 0) {
        memcpy(cur, &packed, 3);
    } else if (refs[0] <= R->placeholder_id) {
        if ((*s = R->ops->scan_periods(R->st, refs[0], first_currency, cur)) != CW_OK)
            return 0;
    }
    const cw_value *c = &v[CW_SP_CURRENCY];
    if (cur[0] && memcmp(cur, c->s, 3) != 0) {
        char why[WHY_MAX];
        snprintf(why, sizeof why,
                 "is %.3s, but account '%.*s' is billed in %s: one account's periods share one "
                 "currency",
                 c->s, (int)(v[0].len > 64 ? 64 : v[0].len), v[0].s, cur);
        bad_row(R, line, "currency", why, raw);
        return 0;
    }
    if (!cur[0])
        memcpy(cur, c->s, 3);
    packed = 0;
    memcpy(&packed, cur, 3);
    if ((*s = cw_intern_put(R->currencies, (const char *)&refs[0], sizeof refs[0], packed)) !=
        CW_OK)
        return 0;
    return 1;
}

/* Remembers that the run read periods of account (once per account). */
static cw_status note_period_account(run *R, int64_t account, int64_t line)
{
    int64_t k = cw_intern_get(R->period_acc, (const char *)&account, sizeof account);
    if (k >= 0) {
        /* Files with different data ends: the latest applies. */
        if (R->f->data_end > R->pa_end[k])
            R->pa_end[k] = R->f->data_end;
        return CW_OK;
    }
    if (R->npa == R->capa) {
        size_t cap = R->capa ? R->capa * 2 : 64;
        int64_t *ids = realloc(R->pa_id, cap * sizeof *ids);
        if (ids)
            R->pa_id = ids;
        int64_t *lines = realloc(R->pa_line, cap * sizeof *lines);
        if (lines)
            R->pa_line = lines;
        const char **paths = realloc(R->pa_path, cap * sizeof *paths);
        if (paths)
            R->pa_path = paths;
        int64_t *ends = realloc(R->pa_end, cap * sizeof *ends);
        if (ends)
            R->pa_end = ends;
        if (!ids || !lines || !paths || !ends)
            return CW_ERR_NOMEM;
        R->capa = cap;
    }
    R->pa_id[R->npa] = account;
    R->pa_line[R->npa] = line;
    R->pa_path[R->npa] = R->f->path;
    R->pa_end[R->npa] = R->f->data_end;
    R->npa++;
    return cw_intern_put(R->period_acc, (const char *)&account, sizeof account,
                         (int64_t)R->npa - 1);
}

typedef struct periods_ctx {
    cw_period *p;
    size_t n, cap;
} periods_ctx;

static cw_status on_period(int64_t id, const cw_value *v, void *ud)
{
    (void)id;
    periods_ctx *c = ud;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        cw_period *p = realloc(c->p, cap * sizeof *p);
        if (!p)
            return CW_ERR_NOMEM;
        c->p = p;
        c->cap = cap;
    }
    cw_period *p = &c->p[c->n];
    memset(p, 0, sizeof *p);
    const cw_value *line = v[CW_SP_LINE_ID].present && v[CW_SP_LINE_ID].s   ? &v[CW_SP_LINE_ID]
                           : v[CW_SP_PRODUCT].present && v[CW_SP_PRODUCT].s ? &v[CW_SP_PRODUCT]
                                                                            : NULL;
    const cw_value *prod =
        v[CW_SP_PRODUCT].present && v[CW_SP_PRODUCT].s ? &v[CW_SP_PRODUCT] : NULL;
    p->line = cw_strndup(line ? line->s : "", line ? line->len : 0);
    p->product = cw_strndup(prod ? prod->s : "", prod ? prod->len : 0);
    c->n++; /* counted before the checks so cw_periods_free frees what was made */
    if (!p->line || !p->product)
        return CW_ERR_NOMEM;
    p->start = v[CW_SP_START].i;
    p->end = v[CW_SP_END].present ? v[CW_SP_END].i : 0;
    int field;
    char why[WHY_MAX];
    if (!cw_period_mrr(v, &p->mrr_minor, &field, why, sizeof why))
        p->mrr_minor = 0; /* validated on the way in; cannot happen for stored rows */
    p->quantity = v[CW_SP_QUANTITY].present ? v[CW_SP_QUANTITY].i : 1;
    p->interval = v[CW_SP_INTERVAL].present ? (int)v[CW_SP_INTERVAL].i : 0;
    p->interval_count = v[CW_SP_INTERVAL_COUNT].present ? v[CW_SP_INTERVAL_COUNT].i : 1;
    if (v[CW_SP_CURRENCY].s)
        memcpy(p->currency, v[CW_SP_CURRENCY].s,
               v[CW_SP_CURRENCY].len < 3 ? v[CW_SP_CURRENCY].len : 3);
    return CW_OK;
}

/* Re-derives the change log of every account whose periods the run read,
 * from all of its stored periods (so a renewal in a later export turns a
 * derived cancellation into a continuation). */
static cw_status derive_accounts(run *R)
{
    cw_status s = CW_OK;
    periods_ctx c = {NULL, 0, 0};
    for (size_t i = 0; i < R->npa && s == CW_OK; i++) {
        cw_periods_free(c.p, c.n);
        c = (periods_ctx){NULL, 0, 0};
        if ((s = R->ops->scan_periods(R->st, R->pa_id[i], on_period, &c)) != CW_OK)
            break;
        cw_sub_row *rows = NULL;
        size_t nrows = 0;
        char why[WHY_MAX];
        s = cw_periods_derive(c.p, c.n, R->pa_end[i], &rows, &nrows, why, sizeof why);
        if (s == CW_ERR_INPUT) {
            /* Reported at the account's first row in this run. */
            R->errors++;
            R->stats->rejected++;
            if (R->errors <= R->o->max_errors)
                message(R, 0, "%s:%lld: field '%s': %s", R->pa_path[i], (long long)R->pa_line[i],
                        strstr(why, "currency") ? "currency" : "account_id", why);
            s = CW_OK;
            continue;
        }
        int changed = 0;
        if (s == CW_OK && writing(R))
            s = R->ops->replace_derived(R->st, R->pa_id[i], rows, nrows, &changed);
        free(rows);
        R->stats->periods_accounts++;
        R->stats->periods_accounts_changed += changed;
    }
    cw_periods_free(c.p, c.n);
    return s;
}

static cw_status event_row(run *R, const cw_value *v, const int64_t *refs, int64_t line,
                           cw_strref raw)
{
    (void)line;
    (void)raw;
    /* Field order in events_fields: ts, account_id, user_id, event, value, event_id. */
    int64_t ev = cw_intern_get(R->events, v[3].s, v[3].len);
    if (ev < 0) {
        cw_status s = R->ops->put_event_name(R->st, v[3].s, v[3].len, &ev);
        if (s == CW_OK)
            s = cw_intern_put(R->events, v[3].s, v[3].len, ev);
        if (s != CW_OK)
            return s;
    }
    if (R->nbatch == R->batch_cap) {
        cw_status s = flush_batch(R);
        if (s != CW_OK)
            return s;
    }
    ev_rec *e = &R->batch[R->nbatch++];
    e->account = refs[1];
    e->user = v[2].present ? refs[2] : 0;
    e->event = ev;
    e->day = v[0].i >= 0 ? v[0].i / 86400 : 0;
    e->value = v[4].present ? v[4].d : 0.0;
    if (v[5].present) {
        e->h = cw_hash64(v[5].s, v[5].len, 0xe1);
    } else {
        int64_t parts[5] = {e->account, e->user, e->event, v[0].i, 0};
        memcpy(&parts[4], &e->value, sizeof(double));
        e->h = cw_hash64(parts, sizeof parts, 0xc0);
    }
    e->h &= (uint64_t)INT64_MAX;
    return CW_OK;
}

/* ---- lookups (mappings) ---------------------------------------------- */

/* Keeps a copy of s; returns its index in lk_strs, or -1. */
static int64_t lk_keep(run *R, const char *s, size_t len)
{
    if (R->lk_n == R->lk_cap) {
        size_t cap = R->lk_cap ? 2 * R->lk_cap : 256;
        char **n = realloc(R->lk_strs, cap * sizeof *n);
        if (!n)
            return -1;
        R->lk_strs = n;
        R->lk_cap = cap;
    }
    if (!(R->lk_strs[R->lk_n] = cw_strndup(s, len)))
        return -1;
    return (int64_t)R->lk_n++;
}

/* Lower-cased, trimmed copy of s into buf; returns its length. */
static size_t lower(const char *s, size_t len, char *buf, size_t n)
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len >= n)
        len = n - 1;
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    buf[len] = '\0';
    return len;
}

/* The domain of an e-mail address or web address, lower-cased, into buf. */
static size_t domain_of(const char *s, size_t len, char *buf, size_t n)
{
    const char *at = memchr(s, '@', len);
    if (at) {
        len -= (size_t)(at + 1 - s);
        s = at + 1;
    } else {
        for (size_t i = 0; i + 2 < len; i++)
            if (s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/') {
                len -= i + 3;
                s += i + 3;
                break;
            }
        for (size_t i = 0; i < len; i++)
            if (s[i] == '/' || s[i] == ':' || s[i] == '?') {
                len = i;
                break;
            }
    }
    size_t l = lower(s, len, buf, n);
    if (l > 4 && strncmp(buf, "www.", 4) == 0) {
        memmove(buf, buf + 4, l - 3);
        l -= 4;
    }
    return l;
}

/* Records key → string index; a key seen with another account becomes
 * ambiguous (-2). */
static cw_status lk_put(run *R, cw_intern *m, const char *key, size_t klen, int64_t idx)
{
    int64_t old = cw_intern_get(m, key, klen);
    if (old >= 0 && old != idx && strcmp(R->lk_strs[old], R->lk_strs[idx]) != 0)
        idx = -2;
    else if (old == -2)
        return CW_OK;
    return cw_intern_put(m, key, klen, idx);
}

/* An account known to lookups: id → external id, name → it. */
static cw_status lk_account(run *R, int64_t id, const char *ext, size_t elen, const char *name,
                            size_t nlen)
{
    int64_t k = lk_keep(R, ext, elen);
    if (k < 0)
        return CW_ERR_NOMEM;
    cw_status s = cw_intern_put(R->lk_rev, (const char *)&id, sizeof id, k);
    char buf[256];
    size_t l = lower(name, nlen, buf, sizeof buf);
    if (s == CW_OK && l)
        s = lk_put(R, R->lk_name, buf, l, k);
    /* A name that is a domain ("acme.com") also answers account_by_domain. */
    if (s == CW_OK && l && memchr(buf, '.', l) && !memchr(buf, ' ', l))
        s = lk_put(R, R->lk_domain, buf, l, k);
    return s;
}

static cw_status lk_user_email(run *R, int64_t account, const char *email, size_t len)
{
    int64_t k = cw_intern_get(R->lk_rev, (const char *)&account, sizeof account);
    char buf[256];
    size_t l = domain_of(email, len, buf, sizeof buf);
    if (k < 0 || !l)
        return CW_OK;
    return lk_put(R, R->lk_domain, buf, l, k);
}

static cw_status on_name(int what, int64_t account, const char *ext, size_t elen, const char *text,
                         size_t tlen, void *ud)
{
    run *R = ud;
    (void)ext;
    (void)elen;
    return what == 0 ? lk_account(R, account, ext, elen, text ? text : "", text ? tlen : 0)
                     : lk_user_email(R, account, text ? text : "", text ? tlen : 0);
}

/* cw_map_ctx.lookup: resolves a value to an account's external id. */
static int do_lookup(void *ud, int kind, const char *s, size_t len, cw_strref *out, char *why,
                     size_t whysz)
{
    run *R = ud;
    int shown = (int)(len > 64 ? 64 : len);
    int64_t k = -1;
    if (kind == CW_LK_USER_ACCOUNT) {
        int64_t account = -1;
        if (cw_intern_get_aux(R->users, s, len, &account) < 0) {
            snprintf(why, whysz, "user_account: unknown user '%.*s'", shown, s);
            return 0;
        }
        k = cw_intern_get(R->lk_rev, (const char *)&account, sizeof account);
    } else if (kind == CW_LK_ACCOUNT_BY_NAME) {
        size_t l = lower(s, len, R->lkbuf, sizeof R->lkbuf);
        k = cw_intern_get(R->lk_name, R->lkbuf, l);
        if (k == -2) {
            snprintf(why, whysz, "account_by_name: several accounts are named '%.*s'", shown, s);
            return 0;
        }
        if (k < 0) {
            snprintf(why, whysz, "account_by_name: no account named '%.*s'", shown, s);
            return 0;
        }
    } else {
        size_t l = domain_of(s, len, R->lkbuf, sizeof R->lkbuf);
        k = l ? cw_intern_get(R->lk_domain, R->lkbuf, l) : -1;
        if (k == -1 && l) {
            /* "acme.com" also finds the account named "Acme". */
            const char *dot = memchr(R->lkbuf, '.', l);
            if (dot)
                k = cw_intern_get(R->lk_name, R->lkbuf, (size_t)(dot - R->lkbuf));
        }
        if (k == -2) {
            snprintf(why, whysz, "account_by_domain: '%.*s' matches several accounts", shown, s);
            return 0;
        }
        if (k < 0) {
            snprintf(why, whysz, "account_by_domain: no account with the domain of '%.*s'", shown,
                     s);
            return 0;
        }
    }
    if (k < 0) {
        snprintf(why, whysz, "no account for '%.*s'", shown, s);
        return 0;
    }
    out->s = R->lk_strs[k];
    out->len = strlen(out->s);
    return 1;
}

/* Keeps lookups in step with a row this run wrote (or would have). */
static cw_status lk_row(run *R, const cw_value *v, const int64_t *refs, int64_t id)
{
    if (!R->lookups)
        return CW_OK;
    if (R->kd->kind == CW_KIND_ACCOUNTS)
        return lk_account(R, id, v[0].s, v[0].len, v[1].s ? v[1].s : "", v[1].len);
    if (R->kd->kind == CW_KIND_USERS && v[2].present)
        return lk_user_email(R, refs[1], v[2].s, v[2].len);
    return CW_OK;
}

/* ---- rows ----------------------------------------------------------- */

/* The row's currency code (NUL-terminated into buf) when it is one, else
 * NULL: major units then read with two decimals, and the currency field
 * reports its own error. */
static const char *row_currency(const cw_kind_def *kd, const cw_strref *texts, char buf[4])
{
    for (int i = 0; i < kd->nfields; i++) {
        if (kd->fields[i].type != CW_F_CURRENCY || !texts[i].s)
            continue;
        const char *t = texts[i].s;
        size_t n = texts[i].len;
        while (n && (*t == ' ' || *t == '\t'))
            t++, n--;
        while (n && (t[n - 1] == ' ' || t[n - 1] == '\t'))
            n--;
        if (n != 3)
            return NULL;
        memcpy(buf, t, 3);
        buf[3] = '\0';
        return buf;
    }
    return NULL;
}

/* Checks that the row's natural key did not occur earlier in this file. An
 * identical repeated row is a duplicate (skipped); a different row with the
 * same key is an error. Returns 1 to go on with the row, 0 to drop it. */
static int check_key(run *R, const cw_value *v, const int64_t *refs, int64_t line, cw_strref raw)
{
    const cw_kind_def *kd = R->kd;
    size_t n = 0;
    const char *first_key = NULL;
    for (int i = 0; i < kd->nfields; i++) {
        if (!(kd->fields[i].flags & CW_FD_KEY))
            continue;
        if (!first_key)
            first_key = kd->fields[i].name;
        int w;
        if (kd->fields[i].type == CW_F_REF_ACCOUNT || kd->fields[i].type == CW_F_REF_USER)
            w = snprintf(R->keybuf + n, sizeof R->keybuf - n, "%lld\x1f", (long long)refs[i]);
        else if (kd->fields[i].type == CW_F_ID || kd->fields[i].type == CW_F_TEXT)
            w = snprintf(R->keybuf + n, sizeof R->keybuf - n, "%.*s\x1f", (int)v[i].len, v[i].s);
        else
            w = snprintf(R->keybuf + n, sizeof R->keybuf - n, "%lld\x1f", (long long)v[i].i);
        if (w < 0 || (size_t)w >= sizeof R->keybuf - n)
            return 1; /* key too long to track; the store's upsert still applies */
        n += (size_t)w;
    }
    if (kd->kind == CW_KIND_SUBSCRIPTION_PERIODS) {
        /* The line is part of the key (lib/ingest/schema.c): line_id, else product. */
        const cw_value *l = v[CW_SP_LINE_ID].present ? &v[CW_SP_LINE_ID] : &v[CW_SP_PRODUCT];
        int w = snprintf(R->keybuf + n, sizeof R->keybuf - n, "%.*s\x1f",
                         l->present ? (int)l->len : 0, l->present ? l->s : "");
        if (w < 0 || (size_t)w >= sizeof R->keybuf - n)
            return 1;
        n += (size_t)w;
    }
    int64_t raw_hash = (int64_t)(cw_hash64(raw.s, raw.len, 7) >> 1);
    int64_t prev_hash;
    int64_t prev_line = cw_intern_get_aux(R->keys_seen, R->keybuf, n, &prev_hash);
    if (prev_line >= 0) {
        if (prev_hash == raw_hash) {
            R->stats->duplicates++;
            return 0;
        }
        char why[WHY_MAX];
        snprintf(why, sizeof why, "duplicate key, first seen at line %lld with other values",
                 (long long)prev_line);
        bad_row(R, line, first_key, why, raw);
        return 0;
    }
    if (cw_intern_put_aux(R->keys_seen, R->keybuf, n, line, raw_hash) != CW_OK)
        R->fatal = 1, R->fatal_status = CW_ERR_NOMEM;
    return 1;
}

/* Writes one validated row (merge: only the fields in set on a row that
 * exists) and keeps the id maps and lookups in step. */
static cw_status write_row(run *R, const cw_value *v, const int64_t *refs, int merge, unsigned set)
{
    const cw_kind_def *kd = R->kd;
    int changed = 0;
    int64_t new_id = -1;
    cw_status s;
    if (merge) {
        s = R->ops->put_row_merge(R->st, kd->kind, v, refs, set, &changed, &new_id);
    } else {
        s = R->ops->put_row(R->st, kd->kind, v, refs, &changed, &new_id);
    }
    if (s != CW_OK)
        return s;
    if (changed) {
        R->stats->rows_written[kd->kind]++;
        R->file_written++;
    } else {
        R->stats->rows_unchanged++;
    }
    /* Keep the id maps in step so later files of this run resolve. */
    if (kd->kind == CW_KIND_ACCOUNTS && cw_intern_get(R->accounts, v[0].s, v[0].len) < 0) {
        s = cw_intern_put(R->accounts, v[0].s, v[0].len, new_id);
        if (s == CW_OK)
            s = lk_row(R, v, refs, new_id);
    } else if (kd->kind == CW_KIND_ACCOUNTS && changed && v[1].present) {
        s = lk_row(R, v, refs, cw_intern_get(R->accounts, v[0].s, v[0].len));
    } else if (kd->kind == CW_KIND_USERS) {
        int64_t id = cw_intern_get_aux(R->users, v[0].s, v[0].len, NULL);
        int64_t acct = refs[1];
        if (merge && !v[1].present) /* the merged row keeps its account */
            cw_intern_get_aux(R->users, v[0].s, v[0].len, &acct);
        s = cw_intern_put_aux(R->users, v[0].s, v[0].len, id >= 0 ? id : new_id, acct);
        if (s == CW_OK)
            s = lk_row(R, v, refs, 0);
    } else if (kd->kind == CW_KIND_GOALS) {
        s = cw_intern_put(R->goals, v[0].s, v[0].len, 1);
    }
    return s;
}

/* ---- merged rows ------------------------------------------------------ */

/* With merge = yes the records of one file are merged per key in memory
 * (the fields each record sets win, constants only fill gaps) and written
 * once at the end of the file, so a file that repeats a key (a Segment
 * export's group and identify calls) writes each row once, and re-ingesting
 * it changes nothing. */
typedef struct pend_row {
    cw_value v[CW_MAX_FIELDS];
    int64_t refs[CW_MAX_FIELDS];
    char *own[CW_MAX_FIELDS]; /* copies of the text values */
    unsigned set;
} pend_row;

static void pend_clear(run *R)
{
    for (size_t i = 0; i < R->npend; i++)
        for (int k = 0; k < CW_MAX_FIELDS; k++)
            free(R->pend[i].own[k]);
    R->npend = 0;
    cw_intern_free(R->pend_keys);
    R->pend_keys = NULL;
}

/* Copies field i of a record into p. */
static cw_status pend_take(pend_row *p, int i, const cw_value *v, const int64_t *refs)
{
    free(p->own[i]);
    p->own[i] = NULL;
    p->v[i] = v[i];
    p->refs[i] = refs[i];
    if (v[i].present && v[i].s) {
        if (!(p->own[i] = cw_strndup(v[i].s, v[i].len)))
            return CW_ERR_NOMEM;
        p->v[i].s = p->own[i];
    }
    return CW_OK;
}

/* The key of a row of the current kind, into R->keybuf; its length, or 0
 * when too long to track. */
static size_t row_key(run *R, const cw_value *v, const int64_t *refs)
{
    const cw_kind_def *kd = R->kd;
    size_t n = 0;
    for (int i = 0; i < kd->nfields; i++) {
        if (!(kd->fields[i].flags & CW_FD_KEY))
            continue;
        int w;
        if (kd->fields[i].type == CW_F_REF_ACCOUNT || kd->fields[i].type == CW_F_REF_USER)
            w = snprintf(R->keybuf + n, sizeof R->keybuf - n, "%lld\x1f", (long long)refs[i]);
        else if (kd->fields[i].type == CW_F_ID || kd->fields[i].type == CW_F_TEXT)
            w = snprintf(R->keybuf + n, sizeof R->keybuf - n, "%.*s\x1f", (int)v[i].len, v[i].s);
        else
            w = snprintf(R->keybuf + n, sizeof R->keybuf - n, "%lld\x1f", (long long)v[i].i);
        if (w < 0 || (size_t)w >= sizeof R->keybuf - n)
            return 0;
        n += (size_t)w;
    }
    return n;
}

static cw_status pend_add(run *R, const cw_value *v, const int64_t *refs, int64_t line)
{
    (void)line;
    const cw_kind_def *kd = R->kd;
    unsigned set = R->set_mask;
    for (int i = 0; i < kd->nfields; i++)
        if (kd->fields[i].flags & CW_FD_KEY)
            set |= 1u << i;
    size_t kl = row_key(R, v, refs);
    if (!kl) /* too long to track: written at once */
        return write_row(R, v, refs, 1, set);
    if (!R->pend_keys && !(R->pend_keys = cw_intern_new()))
        return CW_ERR_NOMEM;
    int64_t at = cw_intern_get(R->pend_keys, R->keybuf, kl);
    cw_status s = CW_OK;
    if (at < 0) {
        if (R->npend == R->cappend) {
            size_t cap = R->cappend ? 2 * R->cappend : 256;
            pend_row *np = realloc(R->pend, cap * sizeof *np);
            if (!np)
                return CW_ERR_NOMEM;
            R->pend = np;
            R->cappend = cap;
        }
        pend_row *p = &R->pend[R->npend];
        memset(p, 0, sizeof *p);
        for (int i = 0; i < kd->nfields && s == CW_OK; i++)
            s = pend_take(p, i, v, refs);
        p->set = set;
        if (s == CW_OK)
            s = cw_intern_put(R->pend_keys, R->keybuf, kl, (int64_t)R->npend++);
        return s;
    }
    pend_row *p = &R->pend[at];
    for (int i = 0; i < kd->nfields && s == CW_OK; i++)
        if ((set >> i & 1) || (!p->v[i].present && v[i].present))
            s = pend_take(p, i, v, refs);
    p->set |= set;
    return s;
}

/* Writes the merged rows of the file, in first-seen order. */
static cw_status pend_flush(run *R)
{
    cw_status s = CW_OK;
    for (size_t i = 0; i < R->npend && s == CW_OK; i++)
        s = write_row(R, R->pend[i].v, R->pend[i].refs, 1, R->pend[i].set);
    pend_clear(R);
    return s;
}

/* Whether the current file already holds a merged row with this id
 * (accounts and users: the key is the id alone). */
static int pend_has(run *R, const char *id, size_t len)
{
    if (!R->pend_keys || len + 2 > sizeof R->keybuf)
        return 0;
    memcpy(R->keybuf, id, len);
    R->keybuf[len] = '\x1f';
    return cw_intern_get(R->pend_keys, R->keybuf, len + 1) >= 0;
}

/* Validates one record (texts[i] is field i's text, NULL when the column is
 * absent) and writes it. Returns a store error, or CW_OK (bad rows are
 * counted, not returned). */
static cw_status process_row(run *R, const cw_strref *texts, int64_t line, cw_strref raw)
{
    const cw_kind_def *kd = R->kd;
    cw_value v[CW_MAX_FIELDS];
    int64_t refs[CW_MAX_FIELDS];
    char why[WHY_MAX];
    R->stats->rows_read[kd->kind]++;
    R->file_rows++;
    R->rows_total++;
    if (R->on_row && R->previewed < R->preview_limit) {
        /* NUL-terminated copies for the caller. */
        char buf[CW_MAX_FIELDS][512];
        const char *t[CW_MAX_FIELDS];
        for (int i = 0; i < kd->nfields; i++) {
            t[i] = NULL;
            if (texts[i].s && texts[i].len) {
                snprintf(buf[i], sizeof buf[i], "%.*s", (int)texts[i].len, texts[i].s);
                t[i] = buf[i];
            }
        }
        R->previewed++;
        R->on_row(kd, t, line, R->o->ud);
    }
    /* merge: a row that exists needs only the fields the record sets. */
    int merge = R->f->map && R->f->map->merge, exists = 0;
    if (merge && texts[0].s && (kd->kind == CW_KIND_ACCOUNTS || kd->kind == CW_KIND_USERS)) {
        const char *k = texts[0].s;
        size_t kl = texts[0].len;
        while (kl && (*k == ' ' || *k == '\t'))
            k++, kl--;
        while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
            kl--;
        exists = cw_intern_get(kd->kind == CW_KIND_ACCOUNTS ? R->accounts : R->users, k, kl) >= 0 ||
                 pend_has(R, k, kl);
    }
    char cur[4];
    for (int i = 0; i < kd->nfields; i++) {
        const char *s = texts[i].s ? texts[i].s : "";
        size_t len = texts[i].s ? texts[i].len : 0;
        cw_field_def fd = kd->fields[i];
        if (exists && !(fd.flags & CW_FD_KEY) && !(R->set_mask >> i & 1))
            fd.flags &= ~(unsigned)CW_FD_REQUIRED;
        if (R->field_major[i]
                ? !cw_validate_money_major(&fd, s, len, row_currency(kd, texts, cur), &v[i], why,
                                           sizeof why)
                : !cw_validate_field(&fd, s, len, R->o->naive_utc, &v[i], why, sizeof why)) {
            bad_row(R, line, kd->fields[i].name, why, raw);
            return CW_OK;
        }
    }
    int bad_field = -1;
    if (!cw_validate_row(kd, v, &bad_field, why, sizeof why)) {
        bad_row(R, line, bad_field >= 0 ? kd->fields[bad_field].name : NULL, why, raw);
        return CW_OK;
    }
    if (!resolve_refs(R, v, refs, line, raw))
        return CW_OK;
    if (kd->kind == CW_KIND_EVENTS)
        return writing(R) ? event_row(R, v, refs, line, raw) : CW_OK;
    if (kd->kind == CW_KIND_GOAL_MEASUREMENTS) {
        int goal_known = cw_intern_get(R->goals, v[0].s, v[0].len) >= 0;
        cw_status s =
            goal_known ? CW_OK : R->ops->goal_exists(R->st, v[0].s, v[0].len, &goal_known);
        if (s != CW_OK)
            return s;
        if (!goal_known) {
            snprintf(why, sizeof why, "unknown goal '%.*s' (ingest goals first)",
                     (int)(v[0].len > 64 ? 64 : v[0].len), v[0].s);
            bad_row(R, line, "goal_id", why, raw);
            return CW_OK;
        }
    }
    if (kd->kind == CW_KIND_SUBSCRIPTIONS || kd->kind == CW_KIND_SUBSCRIPTION_PERIODS) {
        cw_status s = CW_OK;
        if (!check_origin(R, v, refs, line, raw, &s))
            return s;
        if (kd->kind == CW_KIND_SUBSCRIPTION_PERIODS && !check_currency(R, v, refs, line, raw, &s))
            return s;
    }
    /* Merged records may repeat a key (each Segment call merges in turn). */
    if (!merge && !check_key(R, v, refs, line, raw))
        return CW_OK;
    if (kd->kind == CW_KIND_SUBSCRIPTION_PERIODS) {
        cw_status s = note_period_account(R, refs[0], line);
        if (s != CW_OK)
            return s;
    }
    if (!writing(R)) {
        /* After the first error nothing is written, but later rows are still
         * checked; remember the ids this row would have created so rows that
         * refer to it are not reported as unknown references. */
        if (kd->kind == CW_KIND_ACCOUNTS && cw_intern_get(R->accounts, v[0].s, v[0].len) < 0) {
            cw_status s = lk_row(R, v, refs, R->placeholder_id);
            return s != CW_OK ? s
                              : cw_intern_put(R->accounts, v[0].s, v[0].len, R->placeholder_id--);
        }
        if (kd->kind == CW_KIND_USERS && cw_intern_get(R->users, v[0].s, v[0].len) < 0) {
            cw_status s = lk_row(R, v, refs, 0);
            return s != CW_OK ? s
                              : cw_intern_put_aux(R->users, v[0].s, v[0].len, R->placeholder_id--,
                                                  refs[1]);
        }
        if (kd->kind == CW_KIND_GOALS)
            return cw_intern_put(R->goals, v[0].s, v[0].len, 1);
        return CW_OK;
    }
    if (merge)
        return pend_add(R, v, refs, line);
    return write_row(R, v, refs, 0, 0);
}

/* ---- headers -------------------------------------------------------- */

/* Money columns must say their unit: today's exports mix cents and dollars,
 * and a guess turns $10 into $0.10. A bare money name (mrr, cost, price,
 * amount) in a kind with a money field is a file error saying how to
 * declare it; a *_major column (field fi) is read in major units of the
 * row's currency. Returns 0 after the file error. */
static int column_unit(run *R, int fi, const char *s, size_t len, int64_t line)
{
    static const char *const bare[] = {"mrr", "cost", "price", "amount"};
    const cw_kind_def *kd = R->kd;
    int money = -1;
    for (int i = 0; i < kd->nfields && money < 0; i++)
        if (kd->fields[i].type == CW_F_MONEY)
            money = i;
    if (money < 0)
        return 1;
    if (fi >= 0 && kd->fields[fi].type == CW_F_MONEY)
        money = fi;
    else if (fi >= 0)
        return 1; /* e.g. events' amount is a plain value */
    /* Compared normalised, as the header is matched: "MRR (major)" is
     * mrr_major. */
    char norm[128];
    const char *raw = s;
    size_t rawlen = len;
    len = cw_name_normalise(s, len, norm, sizeof norm);
    s = norm;
    for (size_t b = 0; b < sizeof bare / sizeof bare[0]; b++)
        if (len == strlen(bare[b]) && strncasecmp(s, bare[b], len) == 0) {
            const char *m = kd->fields[money].name;
            int base = (int)strlen(m) - 6; /* without "_minor" */
            file_fatal(R, CW_ERR_INPUT,
                       "%s:%lld: %s '%.*s' is money without a unit: name it %.*s_minor "
                       "(minor units, e.g. cents) or %.*s_major (major units, e.g. dollars), or "
                       "declare the unit in a [source.NAME] mapping (%s.unit = major; see "
                       "docs/importers.md)",
                       R->f->path, (long long)line, R->f->jsonl ? "key" : "column", (int)rawlen,
                       raw, base, m, base, m, m);
            return 0;
        }
    if (fi >= 0 && len > 6 && strncasecmp(s + len - 6, "_major", 6) == 0)
        R->field_major[fi] = 1;
    return 1;
}

/* Maps header cells to fields; reports unknown and missing columns. */
static int map_header(run *R, const cw_strref *cells, int n)
{
    const cw_kind_def *kd = R->kd;
    int seen[CW_MAX_FIELDS];
    memset(seen, 0, sizeof seen);
    R->ncols = n;
    int ok = 1;
    for (int c = 0; c < n; c++) {
        int fi = cw_schema_field_index(kd, cells[c].s, cells[c].len);
        R->col_field[c] = fi;
        if (!column_unit(R, fi, cells[c].s, cells[c].len, 1)) {
            ok = 0;
            if (fi >= 0)
                seen[fi] = 1; /* one error for the column, not a second "missing" */
        } else if (fi < 0) {
            R->stats->warnings++;
            message(R, 1, "%s:1: column '%.*s' is not a field of %s; ignored", R->f->path,
                    (int)(cells[c].len > 64 ? 64 : cells[c].len), cells[c].s, kd->name);
        } else if (seen[fi]) {
            file_fatal(R, CW_ERR_INPUT, "%s:1: column '%.*s': field '%s' appears twice", R->f->path,
                       (int)(cells[c].len > 64 ? 64 : cells[c].len), cells[c].s,
                       kd->fields[fi].name);
            ok = 0;
        } else {
            seen[fi] = 1;
        }
    }
    for (int i = 0; i < kd->nfields; i++)
        if ((kd->fields[i].flags & CW_FD_REQUIRED) && !seen[i]) {
            file_fatal(R, CW_ERR_INPUT, "%s:1: missing required column '%s' for kind %s",
                       R->f->path, kd->fields[i].name, kd->name);
            ok = 0;
        }
    return ok;
}

/* Reports a source column (or JSON key) that the file's source does not
 * read, once per file. */
static cw_status unmapped(run *R, const char *what, const char *name, size_t len, int64_t line)
{
    char key[512];
    int kl =
        snprintf(key, sizeof key, "%s\x1f%.*s", R->f->path, (int)(len > 200 ? 200 : len), name);
    if (kl < 0 || cw_intern_get(R->warned, key, (size_t)kl) >= 0)
        return CW_OK;
    R->stats->warnings++;
    message(R, 1, "%s:%lld: %s '%.*s' is not mapped by source %s; ignored", R->f->path,
            (long long)line, what, (int)(len > 64 ? 64 : len), name, R->f->src->name);
    return cw_intern_put(R->warned, key, (size_t)kl, 1);
}

/* A mapped CSV header: binds the mapping's columns, finds native columns
 * of unmapped fields, reports unmapped columns. */
static int map_header_mapped(run *R, const cw_strref *cells, int n)
{
    cw_mapping *m = R->f->map;
    const cw_kind_def *kd = R->kd;
    R->ncols = n;
    const char *missing = NULL;
    if (cw_mapping_bind_header(m, cells, n, &missing)) {
        file_fatal(R, CW_ERR_INPUT, "%s:1: source %s: no column '%s' in the header", R->f->path,
                   R->f->src->name, missing);
        return 0;
    }
    for (int i = 0; i < CW_MAX_FIELDS; i++)
        R->native_col[i] = -1;
    char norm[256];
    for (int c = 0; c < n; c++) {
        int fi = cw_schema_field_index(kd, cells[c].s, cells[c].len);
        if (fi >= 0 && !m->fields[fi].mapped && R->native_col[fi] < 0) {
            /* A native money column must say its unit here too. */
            if (!column_unit(R, fi, cells[c].s, cells[c].len, 1))
                return 0;
            R->native_col[fi] = c;
        }
        size_t l = cw_name_normalise(cells[c].s, cells[c].len, norm, sizeof norm);
        int used = 0;
        for (int k = 0; k < R->f->src->nmaps && !used; k++)
            used = cw_mapping_uses_column(R->f->src->maps[k], norm);
        if (!used && l && unmapped(R, "column", cells[c].s, cells[c].len, 1) != CW_OK) {
            R->fatal = 1, R->fatal_status = CW_ERR_NOMEM;
            return 0;
        }
    }
    for (int i = 0; i < kd->nfields; i++)
        if ((kd->fields[i].flags & CW_FD_REQUIRED) && !m->fields[i].mapped &&
            R->native_col[i] < 0) {
            file_fatal(R, CW_ERR_INPUT,
                       "%s:1: source %s maps no '%s' (required for kind %s) and the header has "
                       "no such column",
                       R->f->path, R->f->src->name, kd->fields[i].name, kd->name);
            return 0;
        }
    return 1;
}

/* Maps one record (after `each` and `where`) and processes it. */
static cw_status map_one(run *R, const cw_map_record *rec, int64_t line, cw_strref raw)
{
    cw_mapping *m = R->f->map;
    if (!cw_mapping_where(m, rec)) {
        R->stats->filtered++;
        return CW_OK;
    }
    cw_strref texts[CW_MAX_FIELDS];
    /* Only the kind's fields are read (a whole-array clear was a visible
     * share of mapped JSON Lines). */
    memset(texts, 0, (size_t)R->kd->nfields * sizeof *texts);
    char why[WHY_MAX];
    int bad = -1;
    cw_map_ctx ctx = {do_lookup, R};
    if (!cw_mapping_apply(m, rec, R->native_col, &ctx, &R->scratch, texts, R->origin, &R->set_mask,
                          &bad, why, sizeof why)) {
        R->stats->rows_read[R->kd->kind]++;
        R->file_rows++;
        bad_row(R, line, bad >= 0 ? R->kd->fields[bad].name : NULL, why, raw);
        return CW_OK;
    }
    return process_row(R, texts, line, raw);
}

/* A record of a mapped file: once, or once per element of `each`. */
static cw_status map_record(run *R, cw_map_record *rec, int64_t line, cw_strref raw)
{
    cw_mapping *m = R->f->map;
    if (!m->neach)
        return map_one(R, rec, line, raw);
    cw_jval arr = rec->obj.type ? cw_json_path(rec->js, rec->obj, m->each, m->neach)
                                : (cw_jval){NULL, 0, CW_JSON_ABSENT, 0};
    const char *pos = NULL;
    cw_jval el;
    if (!cw_json_next(arr, &pos, &el)) {
        R->stats->filtered++;
        return CW_OK;
    }
    cw_status s = CW_OK;
    do {
        rec->elem = el;
        if ((s = map_one(R, rec, line, raw)) != CW_OK)
            break;
    } while (cw_json_next(arr, &pos, &el));
    rec->elem = (cw_jval){NULL, 0, CW_JSON_ABSENT, 0};
    return s;
}

/* The top-level keys of a mapped JSON record that its source does not read.
 * Each distinct key is judged once per file (R->keys_judged); a line whose
 * keys are those of one of the last few lines (most are) is not looked at
 * key by key. */
static int keyset_is(const keyset *k, const cw_jmember *mem, size_t n)
{
    if (k->n != n)
        return 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t kl = mem[i].key.len;
        if (at + 1 + kl > k->len || (unsigned char)k->buf[at] != kl)
            return 0;
        /* Short keys: inline, not a memcmp call per key per line. */
        const char *a = k->buf + at + 1, *b = mem[i].key.s;
        for (size_t j = 0; j < kl; j++)
            if (a[j] != b[j])
                return 0;
        at += 1 + kl;
    }
    return 1;
}

static void keyset_set(keyset *k, const cw_jmember *mem, size_t n)
{
    size_t at = 0;
    k->n = 0;
    for (size_t i = 0; i < n; i++) {
        size_t kl = mem[i].key.len;
        if (kl > 255 || at + 1 + kl > sizeof k->buf)
            return; /* too long to remember: judged key by key */
        k->buf[at] = (char)kl;
        memcpy(k->buf + at + 1, mem[i].key.s, kl);
        at += 1 + kl;
    }
    k->n = n;
    k->len = at;
}

static cw_status json_unmapped(run *R, const cw_jscan *js, int64_t line)
{
    const cw_jmember *mem;
    size_t n = cw_jscan_members(js, &mem);
    for (int k = 0; k < KEYSETS; k++)
        if (n && keyset_is(&R->keysets[k], mem, n))
            return CW_OK;
    for (size_t i = 0; i < n; i++) {
        const char *k = mem[i].key.s;
        size_t kl = mem[i].key.len;
        if (cw_intern_get(R->keys_judged, k, kl) >= 0)
            continue;
        if (cw_intern_put(R->keys_judged, k, kl, 1) != CW_OK)
            return CW_ERR_NOMEM;
        /* Keys point into the line: a NUL-ended copy, once per key. */
        char *key = cw_strndup(k, kl);
        if (!key)
            return CW_ERR_NOMEM;
        int used = 0;
        for (int m = 0; m < R->f->src->nmaps && !used; m++)
            used = cw_mapping_uses_key(R->f->src->maps[m], key);
        free(key);
        if (!used) {
            cw_status s = unmapped(R, "key", k, kl, line);
            if (s != CW_OK)
                return s;
        }
    }
    keyset_set(&R->keysets[R->keysets_next++ % KEYSETS], mem, n);
    return CW_OK;
}

/* One JSON object of a mapped file. */
static cw_status map_json(run *R, cw_jscan *js, cw_jval obj, int64_t line, cw_strref raw)
{
    cw_status s = json_unmapped(R, js, line);
    if (s != CW_OK)
        return s;
    cw_map_record rec = {NULL, 0, js, obj, {NULL, 0, CW_JSON_ABSENT, 0}};
    s = map_record(R, &rec, line, raw);
    return s == CW_OK && cw_jscan_nomem(js) ? CW_ERR_NOMEM : s;
}

/* A mapped file holding one JSON document: an array of records, or an
 * object whose `records` path holds it. Records are numbered from 1. */
static cw_status ingest_json_doc(run *R)
{
    char *text;
    size_t len;
    const char *why;
    cw_status s = cw_reader_slurp(R->f->r, (size_t)1 << 30, &text, &len, &why);
    if (s == CW_ERR_NOMEM)
        return s;
    if (s != CW_OK) {
        file_fatal(R, CW_ERR_INPUT, "%s: %s", R->f->path, why);
        return CW_OK;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!doc) {
        file_fatal(R, CW_ERR_INPUT, "%s:%d: invalid JSON: %s", R->f->path, jerr.line, jerr.text);
        return CW_OK;
    }
    cw_mapping *m = R->f->map;
    json_t *arr = m->nrecords ? cw_map_path(doc, m->records, m->nrecords) : doc;
    if (!json_is_array(arr)) {
        file_fatal(R, CW_ERR_INPUT,
                   m->nrecords ? "%s: source %s: records: no array at that path"
                               : "%s: source %s: the document is not an array; give records = "
                                 "PATH (the array of records, e.g. data)",
                   R->f->path, R->f->src->name);
        json_decref(doc);
        return CW_OK;
    }
    size_t i;
    json_t *el;
    cw_strref none = {"", 0};
    /* Each record is dumped and scanned as a line would be: one way of
     * reading records for the mapping (jsonscan.h). The dump has no
     * duplicate keys (jansson kept the last) and reads back the same. */
    cw_jscan *js = cw_jscan_new();
    if (!js) {
        json_decref(doc);
        return CW_ERR_NOMEM;
    }
    json_array_foreach (arr, i, el) {
        if (!json_is_object(el)) {
            R->stats->rows_read[R->kd->kind]++;
            bad_row(R, (int64_t)i + 1, NULL, "expected a JSON object", none);
            continue;
        }
        char *dump = json_dumps(el, JSON_COMPACT);
        if (!dump) {
            s = CW_ERR_NOMEM;
            break;
        }
        cw_strref raw = {dump, strlen(dump)};
        cw_jval obj;
        int col;
        const char *parse_why;
        s = cw_jscan_parse(js, raw.s, raw.len, &obj, &col, &parse_why);
        if (s == CW_OK)
            s = map_json(R, js, obj, (int64_t)i + 1, R->rejects ? raw : none);
        else if (s == CW_ERR_INPUT) /* cannot happen: jansson wrote it */
            s = CW_OK;
        free(dump);
        if (s != CW_OK)
            break;
    }
    cw_jscan_free(js);
    json_decref(doc);
    return s;
}

static cw_status ingest_csv(run *R)
{
    cw_strref *cells, raw;
    int n;
    int64_t line;
    const char *why;
    int rc = cw_csv_next(R->f->r, &cells, &n, &line, &raw, &why);
    if (rc != CW_READ_OK) {
        if (rc == CW_READ_EOF)
            file_fatal(R, CW_ERR_INPUT, "%s: empty file (no header row)", R->f->path);
        else
            file_fatal(R, CW_ERR_INPUT, "%s:%lld: header: %s", R->f->path, (long long)line, why);
        return CW_OK;
    }
    if (R->f->map ? !map_header_mapped(R, cells, n) : !map_header(R, cells, n))
        return CW_OK;
    cw_strref texts[CW_MAX_FIELDS];
    for (;;) {
        rc = cw_csv_next(R->f->r, &cells, &n, &line, &raw, &why);
        if (rc == CW_READ_EOF)
            break;
        if (rc == CW_READ_FATAL) {
            file_fatal(R, CW_ERR_INPUT, "%s:%lld: %s", R->f->path, (long long)line, why);
            break;
        }
        if (rc == CW_READ_BAD) {
            cw_strref none = {"", 0};
            bad_row(R, line, NULL, why, none);
            continue;
        }
        if (n != R->ncols) {
            char w[96];
            snprintf(w, sizeof w, "expected %d fields (as in the header), got %d", R->ncols, n);
            R->stats->rows_read[R->kd->kind]++;
            bad_row(R, line, NULL, w, raw);
            continue;
        }
        cw_status s;
        if (R->f->map) {
            cw_map_record rec = {.cells = cells, .ncells = n};
            s = map_record(R, &rec, line, raw);
        } else {
            memset(texts, 0, sizeof texts);
            for (int c = 0; c < n; c++)
                if (R->col_field[c] >= 0)
                    texts[R->col_field[c]] = cells[c];
            s = process_row(R, texts, line, raw);
        }
        if (s != CW_OK)
            return s;
        if ((R->rows_total & 0xffff) == 0)
            progress(R, 0);
    }
    return CW_OK;
}

/* Converts a JSON scalar to the text validation expects, into buf (as
 * jansson's value printed with %lld / %.17g). -1: out of memory. */
static int json_text(cw_jscan *js, cw_jval j, char *buf, size_t n, cw_strref *out)
{
    switch (j.type) {
    case CW_JSON_STRING: return cw_json_string(js, j, out) ? 1 : -1;
    case CW_JSON_INTEGER: *out = cw_json_integer_text(j); return 1;
    case CW_JSON_REAL: snprintf(buf, n, "%.17g", cw_json_real(j)); break;
    case CW_JSON_TRUE: snprintf(buf, n, "true"); break;
    case CW_JSON_FALSE: snprintf(buf, n, "false"); break;
    case CW_JSON_NULL:
        out->s = NULL;
        out->len = 0;
        return 1;
    default: return 0;
    }
    out->s = buf;
    out->len = strlen(buf);
    return 1;
}

static cw_status ingest_jsonl(run *R)
{
    cw_strref line_text;
    int64_t line;
    const char *why;
    char numbuf[CW_MAX_FIELDS][40];
    cw_intern *warned = cw_intern_new();
    cw_jscan *js = cw_jscan_new();
    if (!warned || !js) {
        cw_intern_free(warned);
        cw_jscan_free(js);
        return CW_ERR_NOMEM;
    }
    cw_status s = CW_OK;
    int rc;
    while ((rc = cw_line_next(R->f->r, &line_text, &line, &why)) != CW_READ_EOF) {
        if (rc == CW_READ_FATAL) {
            file_fatal(R, CW_ERR_INPUT, "%s:%lld: %s", R->f->path, (long long)line, why);
            break;
        }
        if (rc == CW_READ_BAD) {
            cw_strref none = {"", 0};
            bad_row(R, line, NULL, why, none);
            continue;
        }
        cw_jval obj;
        int col;
        const char *jwhy;
        s = cw_jscan_parse(js, line_text.s, line_text.len, &obj, &col, &jwhy);
        if (s == CW_ERR_NOMEM)
            break;
        if (s != CW_OK || obj.type != CW_JSON_OBJECT) {
            char w[WHY_MAX];
            if (s != CW_OK)
                snprintf(w, sizeof w, "invalid JSON at column %d: %s", col, jwhy);
            else
                snprintf(w, sizeof w, "expected a JSON object");
            s = CW_OK;
            R->stats->rows_read[R->kd->kind]++;
            bad_row(R, line, NULL, w, line_text);
            continue;
        }
        if (R->f->map) {
            s = map_json(R, js, obj, line, line_text);
            if (s != CW_OK)
                break;
            if ((R->rows_total & 0xfff) == 0)
                progress(R, 0);
            continue;
        }
        cw_strref texts[CW_MAX_FIELDS];
        memset(texts, 0, sizeof texts);
        memset(R->field_major, 0, sizeof R->field_major);
        const cw_jmember *mem;
        size_t nmem = cw_jscan_members(js, &mem);
        int ok = 1;
        for (size_t mi = 0; mi < nmem; mi++) {
            const char *key = mem[mi].key.s;
            size_t klen = mem[mi].key.len;
            int fi = cw_schema_field_index(R->kd, key, klen);
            if (!column_unit(R, fi, key, klen, line)) {
                ok = 0;
                break;
            }
            if (fi < 0) {
                if (cw_intern_get(warned, key, klen) < 0) {
                    R->stats->warnings++;
                    message(R, 1, "%s:%lld: key '%.*s' is not a field of %s; ignored", R->f->path,
                            (long long)line, (int)(klen > 64 ? 64 : klen), key, R->kd->name);
                    if (cw_intern_put(warned, key, klen, 1) != CW_OK) {
                        s = CW_ERR_NOMEM;
                        break;
                    }
                }
                continue;
            }
            int t = json_text(js, mem[mi].val, numbuf[fi], sizeof numbuf[fi], &texts[fi]);
            if (t < 0) {
                s = CW_ERR_NOMEM;
                break;
            }
            if (!t) {
                R->stats->rows_read[R->kd->kind]++;
                bad_row(R, line, R->kd->fields[fi].name,
                        "must be a string, number, boolean or null", line_text);
                ok = 0;
                break;
            }
        }
        if (ok && s == CW_OK)
            s = process_row(R, texts, line, line_text);
        if (s != CW_OK || R->fatal)
            break;
        if ((R->rows_total & 0xfff) == 0)
            progress(R, 0);
    }
    cw_intern_free(warned);
    cw_jscan_free(js);
    return s;
}

/* ---- files ---------------------------------------------------------- */

static cw_status load_id(const char *ext, size_t len, int64_t id, int64_t aux, void *ud)
{
    return cw_intern_put_aux(ud, ext, len, id, aux);
}

/* A mapped file starting with '{' whose source names `records`: one JSON
 * document (an object holding the array), or JSON Lines whose first line
 * is a complete object without that array. */
static int json_doc_or_lines(run *R, in_file *f)
{
    if (strcmp(f->path, "-") == 0)
        return CW_FMT_JSON;
    cw_reader *peek;
    char *err = NULL;
    if (cw_reader_open(f->path, R->o->max_line_bytes, &peek, &err) != CW_OK) {
        free(err);
        return CW_FMT_JSON;
    }
    cw_strref text;
    int64_t line;
    const char *why;
    int fmt = CW_FMT_JSON;
    if (cw_line_next(peek, &text, &line, &why) == CW_READ_OK) {
        json_error_t jerr;
        json_t *obj = json_loadb(text.s, text.len, 0, &jerr);
        if (json_is_object(obj) &&
            !json_is_array(cw_map_path(obj, f->map->records, f->map->nrecords)))
            fmt = CW_FMT_JSONL;
        json_decref(obj);
    }
    cw_reader_close(peek);
    return fmt;
}

/* Opens a file and determines its format and kind. */
static void open_file(run *R, in_file *f)
{
    char *err = NULL;
    R->f = f;
    if (cw_reader_open(f->path, R->o->max_line_bytes, &f->r, &err) != CW_OK) {
        file_fatal(R, CW_ERR_IO, "%s", err ? err : f->path);
        free(err);
        return;
    }
    struct stat sb;
    f->size = strcmp(f->path, "-") != 0 && stat(f->path, &sb) == 0 ? (int64_t)sb.st_size : -1;
    int c = cw_reader_peek(f->r);
    f->jsonl = c == '{';
    if (f->map && !cw_mapping_accepts(f->map, c)) {
        /* A section declaring another format (a preset reading both a JSON
         * export and a CSV one) leaves the file to its other sections. */
        f->skip = 1;
        return;
    }
    if (f->map) {
        /* The mapping decides kind and format. */
        f->kind = f->map->kind;
        int fmt = f->map->format;
        if (fmt == CW_FMT_AUTO)
            fmt = c == '['   ? CW_FMT_JSON
                  : c == '{' ? (f->map->nrecords ? json_doc_or_lines(R, f) : CW_FMT_JSONL)
                             : CW_FMT_CSV;
        f->jsonl = fmt == CW_FMT_JSONL;
        f->json_doc = fmt == CW_FMT_JSON;
        if (fmt == CW_FMT_CSV && f->map->neach)
            file_fatal(R, CW_ERR_INPUT, "%s: source %s: each needs JSON records, not CSV", f->path,
                       f->src->name);
        return;
    }
    if (R->o->kind != CW_KIND_NONE) {
        f->kind = R->o->kind;
        return;
    }
    /* Detect from the header or the first JSON object: read it through a
     * second reader so the main reader starts at the top. */
    if (strcmp(f->path, "-") == 0) {
        file_fatal(R, CW_ERR_USAGE, "-: give --kind when reading standard input");
        return;
    }
    cw_reader *peek;
    if (cw_reader_open(f->path, R->o->max_line_bytes, &peek, &err) != CW_OK) {
        file_fatal(R, CW_ERR_IO, "%s", err ? err : f->path);
        free(err);
        return;
    }
    int amb = 0;
    char cand[512] = "";
    if (!f->jsonl) {
        cw_strref *cells, raw;
        int n;
        int64_t line;
        const char *why;
        int rc = cw_csv_next(peek, &cells, &n, &line, &raw, &why);
        if (rc == CW_READ_EOF)
            file_fatal(R, CW_ERR_INPUT, "%s: empty file (no header row)", f->path);
        else if (rc != CW_READ_OK)
            file_fatal(R, CW_ERR_INPUT, "%s:%lld: header: %s", f->path, (long long)line, why);
        else if ((f->kind = cw_schema_detect(cells, n, &amb)) == CW_KIND_NONE)
            cw_schema_candidates(cells, n, cand, sizeof cand);
    } else {
        cw_strref text;
        int64_t line;
        const char *why;
        json_error_t jerr;
        json_t *obj = NULL;
        if (cw_line_next(peek, &text, &line, &why) == CW_READ_OK)
            obj = json_loadb(text.s, text.len, 0, &jerr);
        if (json_is_object(obj)) {
            cw_strref names[64];
            int n = 0;
            const char *key;
            json_t *val;
            json_object_foreach (obj, key, val) {
                if (n < 64)
                    names[n++] = (cw_strref){key, strlen(key)};
            }
            if ((f->kind = cw_schema_detect(names, n, &amb)) == CW_KIND_NONE)
                cw_schema_candidates(names, n, cand, sizeof cand);
        }
        json_decref(obj);
    }
    cw_reader_close(peek);
    if (!R->fatal && f->kind == CW_KIND_NONE && cand[0])
        file_fatal(R, CW_ERR_INPUT,
                   "%s:1: cannot tell the kind of data from the %s%s: candidates: %s; give "
                   "--kind or use a --preset/--source",
                   f->path, f->jsonl ? "first object's keys" : "header",
                   amb ? " (it fits several kinds)" : "", cand);
    else if (!R->fatal && f->kind == CW_KIND_NONE)
        file_fatal(R, CW_ERR_INPUT,
                   "%s:1: cannot tell the kind of data from the %s%s; give --kind (one of "
                   "accounts, subscriptions, users, features, events, trainings, tickets, "
                   "surveys, goals, goal_measurements, journey, subscription_periods) or use a "
                   "--preset/--source",
                   f->path, f->jsonl ? "first object's keys" : "header",
                   amb ? " (it fits several kinds)" : "");
}

static int file_cmp(const void *a, const void *b)
{
    const in_file *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return x->order - y->order;
}

/* Per-file options: whether unknown users are created on first sight. */
static void file_options(run *R)
{
    /* The option wins; left at -1, the file's source decides. */
    R->provision_users = R->o->provision_users == 1 || (R->o->provision_users < 0 && R->f->map &&
                                                        R->f->map->provision_users == 1);
    memset(R->field_major, 0, sizeof R->field_major);
}

/* In the run's transaction, before any file: the provisional users (so
 * their provisioned_at can be lowered) and, when bad rows are kept, the
 * quarantine run. */
static cw_status run_extras_begin(run *R)
{
    cw_status s = R->ops->load_provisional(R->st, load_prov, R);
    if (s == CW_OK && R->o->quarantine && R->o->skip_bad)
        s = R->ops->quarantine_run_begin(R->st, (int64_t)time(NULL), &R->qrun);
    return s;
}

/* …and after the last file, before the commit. */
static cw_status run_extras_end(run *R)
{
    cw_status s = prov_flush(R);
    if (s == CW_OK && R->qrun) {
        int64_t rows = 0;
        for (int k = 1; k < CW_KIND__COUNT; k++)
            rows += R->stats->rows_read[k];
        s = R->ops->quarantine_run_end(R->st, R->qrun, rows, R->stats->quarantined);
    }
    return s;
}

void cw_ingest_opts_init(cw_ingest_opts *o)
{
    memset(o, 0, sizeof *o);
    o->naive_utc = 1;
    o->max_errors = 20;
    o->max_line_bytes = 1u << 20;
    o->batch_rows = 1 << 20;
    o->provision_users = -1;
}

/* Compiles source name (preset: a built-in preset) into R->sources;
 * returns it, or NULL after reporting the error (*s set). */
static cw_source *add_source(run *R, const char *name, int preset, cw_status *s)
{
    for (int i = 0; i < R->nsources; i++)
        if (R->sources[i]->is_preset == preset && strcmp(R->sources[i]->name, name) == 0)
            return R->sources[i];
    cw_source **ns = realloc(R->sources, (size_t)(R->nsources + 1) * sizeof *ns);
    cw_source *src = ns ? calloc(1, sizeof *src) : NULL;
    if (ns)
        R->sources = ns;
    if (!src) {
        *s = CW_ERR_NOMEM;
        return NULL;
    }
    char *err = NULL;
    *s = cw_source_compile(R->o->config, name, preset, src, &err);
    if (*s != CW_OK) {
        message(R, 0, "%s", err ? err : cw_strerror(*s));
        free(err);
        free(src);
        return NULL;
    }
    R->sources[R->nsources++] = src;
    return src;
}

/* The source a file is read through: --source / --preset, else a
 * configured source whose `files` glob matches the file's base name. */
static cw_source *source_for(run *R, const char *path, cw_status *s)
{
    *s = CW_OK;
    if (R->o->source)
        return add_source(R, R->o->source, 0, s);
    if (R->o->preset)
        return add_source(R, R->o->preset, 1, s);
    if (!R->o->config)
        return NULL;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const cw_config_entry *e;
    int n = cw_config_entries(R->o->config, &e);
    for (int i = 0; i < n; i++) {
        const char *sn;
        if (!cw_config_section_is(e[i].section, "source", &sn) || strcmp(e[i].key, "files") != 0)
            continue;
        if (fnmatch(e[i].value, base, 0) == 0) {
            /* A section [source.NAME.PART] belongs to source NAME. */
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(sn, "."), sn);
            return add_source(R, name, 0, s);
        }
    }
    return NULL;
}

/* The run's id maps and event batch. */
static cw_status run_alloc(run *R)
{
    R->accounts = cw_intern_new();
    R->users = cw_intern_new();
    R->events = cw_intern_new();
    R->goals = cw_intern_new();
    R->warned = cw_intern_new();
    R->period_acc = cw_intern_new();
    R->origins = cw_intern_new();
    R->currencies = cw_intern_new();
    R->prov = cw_intern_new();
    R->placeholder_id = INT64_MAX;
    R->batch_cap = (size_t)(R->o->batch_rows > 0 ? R->o->batch_rows : 1 << 20);
    R->batch = malloc(R->batch_cap * sizeof *R->batch);
    if (!R->accounts || !R->users || !R->events || !R->goals || !R->warned || !R->batch ||
        !R->period_acc || !R->origins || !R->currencies || !R->prov)
        return CW_ERR_NOMEM;
    return CW_OK;
}

/* Opens the inputs: one in_file per (path, section of its source) into
 * *files (grown as needed; *nfiles of them open), each with its data end.
 * A bad input is a fatal file error on the run (R->fatal). */
static cw_status open_inputs(run *R, const char *const *paths, size_t npaths, in_file **files,
                             size_t *nfiles)
{
    cw_status s = CW_OK;
    size_t cap = npaths ? npaths : 1;
    for (size_t i = 0; i < npaths && s == CW_OK; i++) {
        cw_source *src = source_for(R, paths[i], &s);
        if (s != CW_OK)
            break;
        int nsec = src ? src->nmaps : 1;
        if (nsec > 1 && strcmp(paths[i], "-") == 0) {
            /* Each section reads the file again: standard input cannot be. */
            file_fatal(R, CW_ERR_USAGE,
                       "-: source %s has %d sections, each reading the input again: give a file, "
                       "not standard input",
                       src->name, nsec);
            continue;
        }
        if (*nfiles + (size_t)nsec > cap) {
            cap = 2 * (*nfiles + (size_t)nsec);
            in_file *nf = realloc(*files, cap * sizeof *nf);
            if (!nf) {
                s = CW_ERR_NOMEM;
                break;
            }
            *files = nf;
        }
        int taken = 0, c0 = 0;
        for (int k = 0; k < nsec; k++) {
            in_file *f = &(*files)[(*nfiles)++];
            memset(f, 0, sizeof *f);
            f->path = paths[i];
            f->order = (int)i * 64 + (k < 63 ? k : 63);
            f->src = src;
            f->map = src ? src->maps[k] : NULL;
            open_file(R, f);
            if (f->skip) {
                c0 = cw_reader_peek(f->r);
                cw_reader_close(f->r);
                (*nfiles)--;
                continue;
            }
            taken++;
            R->lookups |= f->map && f->map->uses_lookups;
        }
        if (!taken && src)
            file_fatal(R, CW_ERR_INPUT,
                       "%s: no section of source %s reads %s files (each declares another "
                       "format)",
                       paths[i], src->name, c0 == '{' || c0 == '[' ? "JSON" : "CSV");
    }
    if (s != CW_OK || R->fatal)
        return s;
    /* Billing periods cannot be read without a data end: it is what tells
     * a cancelled line (last period ended within the data) from one still
     * running. --data-end (opts->data_end) wins; else the file's source's
     * data_end setting (docs/importers.md). */
    for (size_t i = 0; i < *nfiles; i++) {
        in_file *f = &(*files)[i];
        f->data_end = R->o->data_end ? R->o->data_end : f->map ? f->map->data_end : 0;
        if (f->kind == CW_KIND_SUBSCRIPTION_PERIODS && f->data_end <= 0)
            file_fatal(R, CW_ERR_USAGE,
                       "%s: billing periods (subscription_periods) need the data end, the last day "
                       "the export covers, to tell a cancelled line from one still running: give "
                       "--data-end YYYY-MM-DD (or data_end in the file's [source.NAME])",
                       f->path);
    }
    return CW_OK;
}

/* Loads the store's ids (inside the write transaction, so that they cannot
 * go stale) and, when a mapping uses lookups, the names. */
static cw_status load_maps(run *R)
{
    cw_store *st = R->st;
    cw_status s;
    if ((s = R->ops->load_ids(st, CW_KIND_ACCOUNTS, load_id, R->accounts)) != CW_OK ||
        (s = R->ops->load_ids(st, CW_KIND_USERS, load_id, R->users)) != CW_OK ||
        (s = R->ops->load_ids(st, CW_KIND_EVENTS, load_id, R->events)) != CW_OK ||
        (s = run_extras_begin(R)) != CW_OK)
        return s;
    if (!R->lookups)
        return CW_OK;
    R->lk_rev = cw_intern_new();
    R->lk_name = cw_intern_new();
    R->lk_domain = cw_intern_new();
    if (!R->lk_rev || !R->lk_name || !R->lk_domain)
        return CW_ERR_NOMEM;
    return R->ops->load_names(st, on_name, R);
}

/* Reads and applies one input file (index i in kind order). */
static cw_status ingest_file(run *R, in_file *f, size_t i)
{
    R->f = f;
    R->kd = cw_kind_get(f->kind);
    R->file_index = (int)i;
    R->file_written = R->file_rejected = R->file_rows = 0;
    memset(R->origin, 0, sizeof R->origin);
    R->set_mask = ~0u;
    file_options(R);
    cw_intern_free(R->keys_seen);
    cw_intern_free(R->keys_judged);
    R->keys_judged = f->map ? cw_intern_new() : NULL;
    memset(R->keysets, 0, sizeof R->keysets);
    if (!(R->keys_seen = cw_intern_new()) || (f->map && !R->keys_judged))
        return CW_ERR_NOMEM;
    cw_status s = f->json_doc ? ingest_json_doc(R) : f->jsonl ? ingest_jsonl(R) : ingest_csv(R);
    if (s == CW_OK && writing(R))
        s = pend_flush(R);
    pend_clear(R);
    if (s == CW_OK && f->kind == CW_KIND_EVENTS && writing(R))
        s = flush_batch(R);
    R->stats->bytes += cw_reader_bytes(f->r);
    R->stats->files++;
    progress(R, 1);
    /* Only files that changed something are logged, so that re-ingesting
     * the same data leaves the database exactly as it was. */
    if (s == CW_OK && writing(R) && (R->file_written || R->file_rejected))
        s = R->ops->log_file(R->st, f->path, f->kind, R->file_rows, R->file_written,
                             R->file_rejected, cw_reader_bytes(f->r));
    return s;
}

/* After the files: derived accounts, the extras, the rejects file closed,
 * and the transaction committed (or, for a preview, rolled back). */
static cw_status run_finish(run *R)
{
    cw_status s = CW_OK;
    if (writing(R) && R->npa)
        s = derive_accounts(R);
    if (s == CW_OK && R->fatal)
        s = R->fatal_status;
    if (s == CW_OK && R->errors && !R->o->skip_bad)
        s = CW_ERR_INPUT;
    if (s == CW_OK && writing(R))
        s = run_extras_end(R);
    if (s == CW_OK && R->rejects) {
        /* Closed before the commit so that a full disk (ENOSPC, or EIO on
         * close over NFS) fails the ingest rather than losing rejected rows. */
        int e = fflush(R->rejects) != 0 ? errno : ferror(R->rejects) ? EIO : 0;
        if (fclose(R->rejects) != 0 && !e)
            e = errno;
        R->rejects = NULL;
        if (e) {
            message(R, 0, "%s: cannot write rejects file: %s", R->o->rejects_path, strerror(e));
            s = CW_ERR_IO;
        }
    }
    if (s == CW_OK && R->preview) {
        /* A preview never changes the store. */
        R->ops->rollback(R->st);
        if (R->errors)
            s = CW_ERR_INPUT;
    } else if (s == CW_OK) {
        /* The metrics run that follows plans its reads on these; a small
         * ingest (an API call, a daily drop) leaves that to autovacuum. */
        if (R->stats->rows_written[CW_KIND_EVENTS] >= 100000)
            s = R->ops->analyze(R->st, "event_days");
        if (s == CW_OK)
            s = R->ops->commit(R->st);
        R->stats->committed = s == CW_OK;
    }
    return s;
}

/* Frees everything the run holds (not the inputs). */
static void run_free(run *R)
{
    if (R->rejects)
        fclose(R->rejects);
    cw_intern_free(R->accounts);
    cw_intern_free(R->users);
    cw_intern_free(R->events);
    cw_intern_free(R->goals);
    cw_intern_free(R->keys_seen);
    cw_intern_free(R->warned);
    cw_intern_free(R->keys_judged);
    pend_clear(R);
    free(R->pend);
    cw_intern_free(R->lk_rev);
    cw_intern_free(R->lk_name);
    cw_intern_free(R->lk_domain);
    for (size_t i = 0; i < R->lk_n; i++)
        free(R->lk_strs[i]);
    free(R->lk_strs);
    for (int i = 0; i < R->nsources; i++) {
        cw_source_clear(R->sources[i]);
        free(R->sources[i]);
    }
    free(R->sources);
    cw_intern_free(R->period_acc);
    cw_intern_free(R->origins);
    cw_intern_free(R->currencies);
    free(R->pa_id);
    free(R->pa_line);
    free(R->pa_path);
    free(R->pa_end);
    cw_intern_free(R->prov);
    for (size_t i = 0; i < R->nprovs; i++)
        free(R->provs[i].name);
    free(R->provs);
    free(R->batch);
    free(R->hbuf);
    free(R->cbuf);
}

/* Leaves a message for status s on the store when the run failed without
 * one: the per-row and per-file messages went to on_message, and the first
 * (for bad rows) or the last (for what stopped the run) names the cause. Out
 * of memory and database errors are left to the store's own message, as an
 * earlier bad row's message would name the wrong cause. */
static void handle_message(run *R, cw_status s)
{
    if (s == CW_OK || s == CW_ERR_NOMEM || s == CW_ERR_DB || !R->last_err[0] ||
        (*cw_store_errmsg(R->st) && strcmp(cw_store_why(R->st, s), cw_store_errmsg(R->st)) == 0))
        return;
    if (s == CW_ERR_INPUT && R->errors > 1)
        cw_store_set_error(R->st, s, "ingest: %lld errors, the first: %s", (long long)R->errors,
                           R->first_err);
    else if (s == CW_ERR_INPUT)
        cw_store_set_error(R->st, s, "ingest: %s", R->first_err);
    else
        cw_store_set_error(R->st, s, "ingest: %s", R->last_err);
}

/* One ingest in stages over the run: allocate, open the inputs, then in
 * one transaction load the ids, apply the files in kind order and finish. */
static cw_status ingest_run(cw_store *st, const char *const *paths, size_t npaths,
                            const cw_ingest_opts *opts, cw_ingest_stats *stats, const run *R0)
{
    cw_ingest_opts defaults;
    if (!opts) {
        cw_ingest_opts_init(&defaults);
        opts = &defaults;
    }
    memset(stats, 0, sizeof *stats);
    run R = *R0;
    R.st = st;
    R.ops = cw_store_get_ops(st);
    R.o = opts;
    R.stats = stats;
    R.t0 = cw_now();
    size_t nfiles = 0;
    in_file *files = calloc(npaths ? npaths : 1, sizeof *files);
    cw_status s = run_alloc(&R);
    if (s == CW_OK && !files)
        s = CW_ERR_NOMEM;
    if (s != CW_OK)
        goto done;
    if (opts->skip_bad && opts->rejects_path && !R.preview) {
        /* Rejected rows are raw input (e-mail addresses, names): 0600 like the
         * database, whatever the umask. An existing file keeps its mode. */
        int fd = open(opts->rejects_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        R.rejects = fd >= 0 ? fdopen(fd, "w") : NULL;
        if (!R.rejects && fd >= 0)
            close(fd);
        if (!R.rejects) {
            message(&R, 0, "%s: cannot write rejects file", opts->rejects_path);
            s = CW_ERR_IO;
            goto done;
        }
    }
    s = open_inputs(&R, paths, npaths, &files, &nfiles);
    R.file_count = (int)nfiles;
    if (s == CW_OK && R.fatal)
        s = R.fatal_status;
    if (s != CW_OK)
        goto done;
    qsort(files, nfiles, sizeof *files, file_cmp);
    if ((s = R.ops->begin(st)) != CW_OK || (s = load_maps(&R)) != CW_OK)
        goto done;
    for (size_t i = 0; i < nfiles && s == CW_OK && !R.fatal; i++)
        s = ingest_file(&R, &files[i], i);
    if (s == CW_OK)
        s = run_finish(&R);
done:
    if (s != CW_OK)
        R.ops->rollback(st);
    handle_message(&R, s);
    if (R.errors > opts->max_errors)
        message(&R, 0, "... and %lld more errors (%lld in all)",
                (long long)(R.errors - opts->max_errors), (long long)R.errors);
    if (s == CW_ERR_DB)
        message(&R, 0, "database: %s", cw_store_why(st, s));
    if (s != CW_OK && R.errors == 0 && s != CW_ERR_DB && s != CW_ERR_CONFIG && s != CW_ERR_NOTFOUND)
        message(&R, 0, "ingest failed: %s", cw_strerror(s));
    stats->elapsed_s = cw_now() - R.t0;
    for (size_t i = 0; files && i < nfiles; i++)
        cw_reader_close(files[i].r);
    free(files);
    run_free(&R);
    return s;
}

cw_status cw_ingest_files(cw_store *st, const char *const *paths, size_t npaths,
                          const cw_ingest_opts *opts, cw_ingest_stats *stats)
{
    cw_store_enter(st, "ingest");
    static const run zero;
    return ingest_run(st, paths, npaths, opts, stats, &zero);
}

cw_status cw_ingest_preview(cw_store *st, const char *const *paths, size_t npaths,
                            const cw_ingest_opts *o, int limit, unsigned flags,
                            cw_preview_fn on_row, cw_ingest_stats *stats)
{
    cw_store_enter(st, "ingest preview");
    run R;
    memset(&R, 0, sizeof R);
    R.preview = 1;
    R.no_refs = !(flags & CW_PREVIEW_CHECK_REFS);
    R.preview_limit = limit;
    R.on_row = on_row;
    return ingest_run(st, paths, npaths, o, stats, &R);
}
