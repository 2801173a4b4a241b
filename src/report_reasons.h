/*
 * report_reasons.h — `churnwatch report reasons|funnel|chain`
 * (src/report_reasons.c; figures defined in docs/revenue-reasons.md).
 */
#ifndef CW_REPORT_REASONS_H
#define CW_REPORT_REASONS_H

/* Each takes argv[0] = the report's name and its options; returns an exit code. */
int report_reasons(int argc, char **argv);
int report_funnel(int argc, char **argv);
int report_chain(int argc, char **argv);

#endif
