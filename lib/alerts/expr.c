/*
 * expr.c — the rule expression language: a precedence-climbing (Pratt)
 * parser that compiles an expression once into flat bytecode for a small
 * stack machine, and the evaluator that runs it many times over a vector of
 * slot values (one per metric or score the expression names).
 *
 * Names are resolved by the caller's callback at compile time, so the hot
 * loop never sees a string: a name becomes "load slot k". Missing values are
 * NaN and the logic is three-valued (Kleene): a comparison with a missing
 * operand is unknown (NaN), "false and unknown" is false, "true or unknown"
 * is true, "not unknown" is unknown. A rule fires only on a definite true,
 * so missing data neither raises nor clears an alert. docs/rules.md
 * documents the language; tests/unit/test_expr.c and fuzz/fuzz_expr.c check
 * it.
 */
#include "alerts/expr.h"

#include <stdarg.h>

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    OP_CONST = 1, /* push consts[arg] */
    OP_LOAD,      /* push slots[arg] */
    OP_NEG,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_EQ,
    OP_NE,
    OP_AND,
    OP_OR,
    OP_NOT,
    OP_MISSING
};

struct cw_expr {
    uint32_t *code; /* op | arg << 8 */
    int ncode, capcode;
    double *consts;
    int nconsts, capconsts;
    int *slots; /* distinct slots loaded, in order of first appearance */
    int nslots, capslots;
    int max_depth;
};

typedef struct parser {
    const char *s;
    size_t len, pos;
    const cw_expr_resolver *r;
    cw_expr *e;
    int depth, nest;
    cw_expr_error *err;
    int failed;
} parser;

static void fail(parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(parser *p, size_t at, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = 1;
    if (p->err) {
        va_list ap;
        va_start(ap, fmt);
        p->err->col = (int)at + 1;
        vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
        va_end(ap);
    }
}

static int grow(void **buf, int *cap, int n, size_t elem)
{
    if (n < *cap)
        return 0;
    int nc = *cap ? 2 * *cap : 16;
    void *b = realloc(*buf, (size_t)nc * elem);
    if (!b)
        return -1;
    *buf = b;
    *cap = nc;
    return 0;
}

/* Emits one instruction and tracks the stack depth it leaves. */
static void emit(parser *p, int op, int arg)
{
    if (p->failed)
        return;
    cw_expr *e = p->e;
    if (grow((void **)&e->code, &e->capcode, e->ncode, sizeof *e->code)) {
        fail(p, p->pos, "out of memory");
        return;
    }
    e->code[e->ncode++] = (uint32_t)op | (uint32_t)arg << 8;
    if (op == OP_CONST || op == OP_LOAD)
        p->depth++;
    else if (op != OP_NEG && op != OP_NOT && op != OP_MISSING)
        p->depth--;
    if (p->depth > e->max_depth)
        e->max_depth = p->depth;
    if (e->max_depth > CW_EXPR_MAX_STACK)
        fail(p, p->pos, "expression too complex");
}

static void skip_blanks(parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t'))
        p->pos++;
}

static int is_name_start(int c)
{
    return isalpha(c) || c == '_';
}

static int is_name_char(int c)
{
    return isalnum(c) || c == '_' || c == '.';
}

/* Whether the next token is the keyword kw (a whole word). */
static int keyword(parser *p, const char *kw)
{
    skip_blanks(p);
    size_t l = strlen(kw);
    if (p->len - p->pos < l || strncmp(p->s + p->pos, kw, l) != 0)
        return 0;
    if (p->pos + l < p->len && is_name_char((unsigned char)p->s[p->pos + l]))
        return 0;
    p->pos += l;
    return 1;
}

static int punct(parser *p, const char *t)
{
    skip_blanks(p);
    size_t l = strlen(t);
    if (p->len - p->pos < l || strncmp(p->s + p->pos, t, l) != 0)
        return 0;
    p->pos += l;
    return 1;
}

static void parse_or(parser *p);
static int enter(parser *p);

static void add_slot(parser *p, int slot)
{
    cw_expr *e = p->e;
    for (int i = 0; i < e->nslots; i++)
        if (e->slots[i] == slot)
            return;
    if (grow((void **)&e->slots, &e->capslots, e->nslots, sizeof *e->slots)) {
        fail(p, p->pos, "out of memory");
        return;
    }
    e->slots[e->nslots++] = slot;
}

/* A name: a metric or score, or a function call. */
static void parse_name(parser *p)
{
    size_t start = p->pos;
    while (p->pos < p->len && is_name_char((unsigned char)p->s[p->pos]))
        p->pos++;
    size_t nlen = p->pos - start;
    const char *name = p->s + start;
    skip_blanks(p);
    int call = p->pos < p->len && p->s[p->pos] == '(';
    if (call && nlen == 7 && strncmp(name, "missing", 7) == 0) {
        p->pos++;
        if (enter(p))
            parse_or(p);
        p->nest--;
        if (!punct(p, ")"))
            fail(p, p->pos, "expected ')' to close missing(");
        emit(p, OP_MISSING, 0);
        return;
    }
    if (call) {
        int fn = nlen == 5 && strncmp(name, "trend", 5) == 0  ? CW_EXPR_TREND
                 : nlen == 4 && strncmp(name, "peer", 4) == 0 ? CW_EXPR_PEER
                                                              : -1;
        if (fn < 0) {
            fail(p, start, "unknown function '%.*s' (functions: missing, trend, peer)", (int)nlen,
                 name);
            return;
        }
        p->pos++;
        skip_blanks(p);
        size_t astart = p->pos;
        if (p->pos >= p->len || !is_name_start((unsigned char)p->s[p->pos])) {
            fail(p, p->pos, "%.*s() takes a metric name", (int)nlen, name);
            return;
        }
        while (p->pos < p->len && is_name_char((unsigned char)p->s[p->pos]))
            p->pos++;
        size_t alen = p->pos - astart;
        char why[200] = "";
        int slot = p->r->resolve(p->r->ud, fn, p->s + astart, alen, why, sizeof why);
        if (slot < 0) {
            fail(p, astart, "%s", why[0] ? why : "unknown name");
            return;
        }
        if (!punct(p, ")")) {
            fail(p, p->pos, "expected ')' after %.*s(%.*s", (int)nlen, name, (int)alen,
                 p->s + astart);
            return;
        }
        add_slot(p, slot);
        emit(p, OP_LOAD, slot);
        return;
    }
    char why[200] = "";
    int slot = p->r->resolve(p->r->ud, CW_EXPR_PLAIN, name, nlen, why, sizeof why);
    if (slot < 0) {
        fail(p, start, "%s", why[0] ? why : "unknown name");
        return;
    }
    add_slot(p, slot);
    emit(p, OP_LOAD, slot);
}

static void parse_number(parser *p)
{
    size_t start = p->pos;
    while (p->pos < p->len && (isdigit((unsigned char)p->s[p->pos]) || p->s[p->pos] == '.'))
        p->pos++;
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        size_t q = p->pos + 1;
        if (q < p->len && (p->s[q] == '+' || p->s[q] == '-'))
            q++;
        if (q < p->len && isdigit((unsigned char)p->s[q])) {
            p->pos = q;
            while (p->pos < p->len && isdigit((unsigned char)p->s[p->pos]))
                p->pos++;
        }
    }
    char buf[64];
    size_t n = p->pos - start;
    if (n >= sizeof buf) {
        fail(p, start, "number too long");
        return;
    }
    memcpy(buf, p->s + start, n);
    buf[n] = 0;
    char *end;
    double v = strtod(buf, &end);
    if (*end || !isfinite(v)) {
        fail(p, start, "'%s' is not a number", buf);
        return;
    }
    if (p->pos < p->len && is_name_start((unsigned char)p->s[p->pos])) {
        fail(p, p->pos, "unexpected '%c' after a number", p->s[p->pos]);
        return;
    }
    cw_expr *e = p->e;
    if (grow((void **)&e->consts, &e->capconsts, e->nconsts, sizeof *e->consts)) {
        fail(p, start, "out of memory");
        return;
    }
    e->consts[e->nconsts] = v;
    emit(p, OP_CONST, e->nconsts++);
}

static void parse_unary(parser *p);

static void parse_primary(parser *p)
{
    skip_blanks(p);
    if (p->failed)
        return;
    if (p->pos >= p->len) {
        fail(p, p->pos, "unexpected end of expression");
        return;
    }
    int c = (unsigned char)p->s[p->pos];
    if (c == '(') {
        size_t open = p->pos++;
        if (enter(p))
            parse_or(p);
        p->nest--;
        if (!p->failed && !punct(p, ")"))
            fail(p, open, "unbalanced '(': no matching ')'");
        return;
    }
    if (isdigit(c) || (c == '.' && p->pos + 1 < p->len && isdigit((unsigned char)p->s[p->pos + 1])))
        parse_number(p);
    else if (is_name_start(c)) {
        size_t save = p->pos;
        if (keyword(p, "and") || keyword(p, "or") || keyword(p, "not")) {
            fail(p, save, "expected a value, found '%.*s'", (int)(p->pos - save), p->s + save);
            return;
        }
        parse_name(p);
    } else
        fail(p, p->pos, "unexpected '%c'", c);
}

/* Nesting (parentheses, unary operators) is bounded so that hostile
 * input cannot exhaust the C stack. */
static int enter(parser *p)
{
    if (++p->nest > CW_EXPR_MAX_NEST) {
        fail(p, p->pos, "expression nested too deeply");
        return 0;
    }
    return 1;
}

static void parse_unary(parser *p)
{
    if (punct(p, "-")) {
        if (enter(p))
            parse_unary(p);
        emit(p, OP_NEG, 0);
        p->nest--;
    } else if (punct(p, "+")) {
        if (enter(p))
            parse_unary(p);
        p->nest--;
    } else
        parse_primary(p);
}

static void parse_mul(parser *p)
{
    parse_unary(p);
    for (;;) {
        if (p->failed)
            return;
        if (punct(p, "*")) {
            parse_unary(p);
            emit(p, OP_MUL, 0);
        } else if (punct(p, "/")) {
            parse_unary(p);
            emit(p, OP_DIV, 0);
        } else
            return;
    }
}

static void parse_add(parser *p)
{
    parse_mul(p);
    for (;;) {
        if (p->failed)
            return;
        if (punct(p, "+")) {
            parse_mul(p);
            emit(p, OP_ADD, 0);
        } else if (punct(p, "-")) {
            parse_mul(p);
            emit(p, OP_SUB, 0);
        } else
            return;
    }
}

/* Comparison operator at the cursor: its opcode (consumed), or 0. */
static int cmp_op(parser *p)
{
    static const struct {
        const char *t;
        int op;
    } ops[] = {{"<=", OP_LE}, {">=", OP_GE}, {"==", OP_EQ},
               {"!=", OP_NE}, {"<", OP_LT},  {">", OP_GT}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (punct(p, ops[i].t))
            return ops[i].op;
    return 0;
}

/* Comparisons do not chain: "a < b < c" is an error rather than a
 * surprise. */
static void parse_cmp(parser *p)
{
    parse_add(p);
    if (p->failed)
        return;
    skip_blanks(p);
    size_t at = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '=' &&
        (p->pos + 1 >= p->len || p->s[p->pos + 1] != '=')) {
        fail(p, at, "use '==' to compare");
        return;
    }
    int op = cmp_op(p);
    if (!op)
        return;
    parse_add(p);
    emit(p, op, 0);
    if (p->failed)
        return;
    skip_blanks(p);
    at = p->pos;
    if (cmp_op(p))
        fail(p, at, "comparisons do not chain: use 'and' (a < b and b < c)");
}

static void parse_not(parser *p)
{
    if (keyword(p, "not")) {
        if (enter(p))
            parse_not(p);
        emit(p, OP_NOT, 0);
        p->nest--;
    } else
        parse_cmp(p);
}

static void parse_and(parser *p)
{
    parse_not(p);
    while (!p->failed && keyword(p, "and")) {
        parse_not(p);
        emit(p, OP_AND, 0);
    }
}

static void parse_or(parser *p)
{
    parse_and(p);
    while (!p->failed && keyword(p, "or")) {
        parse_and(p);
        emit(p, OP_OR, 0);
    }
}

cw_status cw_expr_compile(const char *src, size_t len, const cw_expr_resolver *r, cw_expr **out,
                          cw_expr_error *err)
{
    *out = NULL;
    if (err) {
        err->col = 0;
        err->msg[0] = 0;
    }
    cw_expr *e = calloc(1, sizeof *e);
    if (!e)
        return CW_ERR_NOMEM;
    parser p = {src, len, 0, r, e, 0, 0, err, 0};
    if (len > CW_EXPR_MAX_LEN)
        fail(&p, CW_EXPR_MAX_LEN, "expression longer than %d bytes", CW_EXPR_MAX_LEN);
    for (size_t i = 0; !p.failed && i < len; i++)
        if (src[i] == 0 || src[i] == '\n' || src[i] == '\r')
            fail(&p, i, "control character in expression");
    skip_blanks(&p);
    if (!p.failed && p.pos >= len)
        fail(&p, p.pos, "empty expression");
    if (!p.failed)
        parse_or(&p);
    skip_blanks(&p);
    if (!p.failed && p.pos < len) {
        if (src[p.pos] == ')')
            fail(&p, p.pos, "unbalanced ')'");
        else
            fail(&p, p.pos, "unexpected '%.*s'", 1, src + p.pos);
    }
    if (p.failed) {
        cw_expr_free(e);
        return CW_ERR_CONFIG;
    }
    *out = e;
    return CW_OK;
}

cw_status cw_expr_not(const cw_expr *e, cw_expr **out)
{
    *out = NULL;
    cw_expr *n = calloc(1, sizeof *n);
    if (!n)
        return CW_ERR_NOMEM;
    n->code = malloc(((size_t)e->ncode + 1) * sizeof *n->code);
    n->consts = malloc(((size_t)e->nconsts + 1) * sizeof *n->consts);
    n->slots = malloc(((size_t)e->nslots + 1) * sizeof *n->slots);
    if (!n->code || !n->consts || !n->slots) {
        cw_expr_free(n);
        return CW_ERR_NOMEM;
    }
    if (e->ncode)
        memcpy(n->code, e->code, (size_t)e->ncode * sizeof *n->code);
    if (e->nconsts)
        memcpy(n->consts, e->consts, (size_t)e->nconsts * sizeof *n->consts);
    if (e->nslots)
        memcpy(n->slots, e->slots, (size_t)e->nslots * sizeof *n->slots);
    n->ncode = n->capcode = e->ncode;
    n->code[n->ncode++] = OP_NOT;
    n->capcode++;
    n->nconsts = n->capconsts = e->nconsts;
    n->nslots = n->capslots = e->nslots;
    n->max_depth = e->max_depth;
    *out = n;
    return CW_OK;
}

void cw_expr_free(cw_expr *e)
{
    if (!e)
        return;
    free(e->code);
    free(e->consts);
    free(e->slots);
    free(e);
}

int cw_expr_slots(const cw_expr *e, const int **slots)
{
    *slots = e->slots;
    return e->nslots;
}

/* Truth of a value: 1 true, 0 false, -1 unknown (NaN). */
static inline int truth(double v)
{
    return isnan(v) ? -1 : v != 0;
}

double cw_expr_eval(const cw_expr *e, const double *slots)
{
    double st[CW_EXPR_MAX_STACK + 1];
    int sp = 0;
    const double nan = (double)NAN;
    for (int i = 0; i < e->ncode; i++) {
        uint32_t ins = e->code[i];
        int arg = (int)(ins >> 8);
        double a, b;
        switch (ins & 0xff) {
        case OP_CONST: st[sp++] = e->consts[arg]; break;
        case OP_LOAD: st[sp++] = slots[arg]; break;
        case OP_NEG: st[sp - 1] = -st[sp - 1]; break;
        case OP_NOT: {
            int t = truth(st[sp - 1]);
            st[sp - 1] = t < 0 ? nan : !t;
            break;
        }
        case OP_MISSING: st[sp - 1] = isnan(st[sp - 1]) ? 1 : 0; break;
        default:
            b = st[--sp];
            a = st[sp - 1];
            switch (ins & 0xff) {
            case OP_ADD: a = a + b; break;
            case OP_SUB: a = a - b; break;
            case OP_MUL: a = a * b; break;
            /* Division by zero is missing, not infinity: a ratio without a
             * denominator has no value. */
            case OP_DIV: a = b == 0 ? nan : a / b; break;
            case OP_LT: a = isnan(a) || isnan(b) ? nan : a < b; break;
            case OP_LE: a = isnan(a) || isnan(b) ? nan : a <= b; break;
            case OP_GT: a = isnan(a) || isnan(b) ? nan : a > b; break;
            case OP_GE: a = isnan(a) || isnan(b) ? nan : a >= b; break;
            case OP_EQ: a = isnan(a) || isnan(b) ? nan : a == b; break;
            case OP_NE: a = isnan(a) || isnan(b) ? nan : a != b; break;
            case OP_AND: {
                int ta = truth(a), tb = truth(b);
                a = ta == 0 || tb == 0 ? 0 : ta < 0 || tb < 0 ? nan : 1;
                break;
            }
            case OP_OR: {
                int ta = truth(a), tb = truth(b);
                a = ta == 1 || tb == 1 ? 1 : ta < 0 || tb < 0 ? nan : 0;
                break;
            }
            }
            /* Infinities from overflow are not values a rule can reason
             * about either. */
            st[sp - 1] = isinf(a) ? nan : a;
        }
    }
    return sp == 1 ? st[0] : nan;
}

int cw_expr_is_true(double v)
{
    return !isnan(v) && v != 0;
}
