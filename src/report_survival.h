/*
 * report_survival.h — `churnwatch report survival` (src/report_survival.c).
 * argv[0] is the report's name.
 */
#ifndef CW_REPORT_SURVIVAL_H
#define CW_REPORT_SURVIVAL_H

/* Kaplan–Meier curves by segment or cohort; returns an exit code. */
int report_survival(int argc, char **argv);

#endif
