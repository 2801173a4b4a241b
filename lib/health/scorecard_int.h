/*
 * scorecard_int.h — the parsed scorecard, shared by scorecard.c (parsing,
 * points) and score.c (running it over stored snapshots).
 */
#ifndef CW_SCORECARD_INT_H
#define CW_SCORECARD_INT_H

#include "churnwatch.h"

#define SC_MAX_GROUPS   16
#define SC_MAX_MEASURES 64
#define SC_MAX_POINTS   16

/* Lifecycle stages; an account is onboarding while tenure_days is below
 * [scorecard] onboarding_days. */
enum { SC_STAGE_ONBOARDING = 0, SC_STAGE_ESTABLISHED = 1, SC_STAGES = 2 };

typedef enum { SC_LT, SC_LE, SC_GT, SC_GE, SC_ELSE } cw_sc_op;
typedef enum { SC_BANDS, SC_LINEAR } cw_sc_kind;
typedef enum { SC_SRC_VALUE = 0, SC_SRC_TREND = 1, SC_SRC_PEER = 2 } cw_sc_source;
typedef enum { SC_MISSING_DROP, SC_MISSING_POINTS } cw_sc_missing;

typedef struct cw_sc_point {
    cw_sc_op op; /* bands */
    double x;    /* threshold or anchor */
    double pts;  /* 0..100 */
} cw_sc_point;

typedef struct cw_sc_measure {
    char name[64], metric[64], group_name[64];
    char label[128];
    char segments[256]; /* ",a,b," or empty for every segment */
    cw_sc_source source;
    int group;
    double weight;
    cw_sc_kind kind;
    cw_sc_point points[SC_MAX_POINTS];
    int npoints;
    cw_sc_missing missing;
    double missing_pts;
    unsigned stages; /* bit per stage */
    int line, group_line, metric_line;
} cw_sc_measure;

typedef struct cw_sc_group {
    char name[64];
    double base; /* weight */
    int has_base;
    double weight[SC_STAGES]; /* per stage, defaulting to base */
    int line;
} cw_sc_group;

struct cw_scorecard {
    char name[64];
    double green_from, red_below;
    int onboarding_days, change_days;
    cw_sc_group groups[SC_MAX_GROUPS];
    int ngroups;
    cw_sc_measure measures[SC_MAX_MEASURES];
    int nmeasures;
    char *definition; /* canonical JSON */
    char hash[17];
    const cw_custom_metric *custom; /* only while parsing */
    int ncustom;
};

/* The points measure m gives input x by its bands. */
double cw_sc_points(const cw_sc_measure *m, double x);
/* Whether measure m applies to accounts of segment. */
int cw_sc_segment_applies(const cw_sc_measure *m, const char *segment);
/* Whether name is an account metric of the catalogue or one of the custom
 * metrics. */
int cw_sc_metric_known(const char *name, const cw_custom_metric *custom, int ncustom);
/* Parses a scorecard from INI text (file names it in messages) into *out
 * (caller frees with cw_scorecard_free). CW_ERR_CONFIG with
 * "file:line: [section] key: why" in *errmsg (caller frees). */
cw_status cw_sc_parse_text(const char *text, const char *file, const cw_custom_metric *custom,
                           int ncustom, cw_scorecard **out, char **errmsg);

#endif
