/*
 * expr.h — the rule expression language (expr.c, docs/rules.md).
 */
#ifndef CW_ALERTS_EXPR_H
#define CW_ALERTS_EXPR_H

#include "churnwatch.h"
#include <stddef.h>

/* ---- expr.c: the rule expression language (docs/rules.md) ----------- */

#define CW_EXPR_MAX_LEN   4096 /* bytes of one expression */
#define CW_EXPR_MAX_NEST  64   /* nested parentheses / unary operators */
#define CW_EXPR_MAX_STACK 256  /* evaluation stack */

/* How a name is referred to: bare, trend(name) or peer(name). */
enum { CW_EXPR_PLAIN = 0, CW_EXPR_TREND = 1, CW_EXPR_PEER = 2 };

/* Resolves a name to a slot (an index into the vector cw_expr_eval reads),
 * or returns -1 with a reason in why ("unknown metric 'x' (did you mean
 * y?)"). */
typedef struct cw_expr_resolver {
    int (*resolve)(void *ud, int how, const char *name, size_t len, char *why, size_t whysz);
    void *ud;
} cw_expr_resolver;

/* A compile error: 1-based byte column in the expression and the reason. */
typedef struct cw_expr_error {
    int col;
    char msg[256];
} cw_expr_error;

typedef struct cw_expr cw_expr;

/* Compiles src[0..len) into *out (caller frees with cw_expr_free). Returns
 * CW_ERR_CONFIG with *err filled on a syntax error or an unknown name. */
cw_status cw_expr_compile(const char *src, size_t len, const cw_expr_resolver *r, cw_expr **out,
                          cw_expr_error *err);
/* *out = not (e); caller frees. */
cw_status cw_expr_not(const cw_expr *e, cw_expr **out);
void cw_expr_free(cw_expr *e); /* accepts NULL */
/* Evaluates e over slot values (NaN = missing): a number, 1/0 for truth, or
 * NaN for unknown. No allocation. */
double cw_expr_eval(const cw_expr *e, const double *slots);
/* Whether an evaluation result is a definite true. */
int cw_expr_is_true(double v);
/* The distinct slots e reads, in order of first appearance; *slots is
 * borrowed until the next call on this handle. */
int cw_expr_slots(const cw_expr *e, const int **slots);

#endif /* CW_ALERTS_EXPR_H */
