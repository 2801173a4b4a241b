/*
 * report_cohorts.h — `churnwatch report cohorts` and `churnwatch report ltv`
 * (src/report_cohorts.c). argv[0] is the report's name.
 */
#ifndef CW_REPORT_COHORTS_H
#define CW_REPORT_COHORTS_H

/* Retention matrices by start month; returns an exit code. */
int report_cohorts(int argc, char **argv);
/* Lifetime value per segment; returns an exit code. */
int report_ltv(int argc, char **argv);

#endif
