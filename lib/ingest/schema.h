/*
 * schema.h — header cells to the fields and kinds of the input schema (schema.c).
 */
#ifndef CW_INGEST_SCHEMA_H
#define CW_INGEST_SCHEMA_H

#include "core/util.h"

/* ---- schema.c ------------------------------------------------------- */

/* Index of the field of kd that header cell s names (canonical or alias,
 * case-insensitive, blanks trimmed), or -1. */
int cw_schema_field_index(const cw_kind_def *kd, const char *s, size_t len);
/* The kind a header (or JSON object's key set) describes; CW_KIND_NONE when
 * none or, with *ambiguous set, when two kinds match equally. */
cw_kind cw_schema_detect(const cw_strref *names, int n, int *ambiguous);
/* The kind matching most of names even if incomplete (CW_KIND_NONE when
 * nothing matches), with its missing required columns listed in missing. */
cw_kind cw_schema_closest(const cw_strref *names, int n, char *missing, size_t missing_size);
/* For a header no kind fits: the likely kinds (at most three, best first;
 * a kind counts when a column names a field of it only, or half its
 * required fields are there) with what each lacks, as "accounts (needs
 * segment, seats), tickets (needs opened_at)" into out (cut to outsz).
 * Returns how many; 0 when nothing points to a kind. */
int cw_schema_candidates(const cw_strref *names, int n, char *out, size_t outsz);

#endif /* CW_INGEST_SCHEMA_H */
