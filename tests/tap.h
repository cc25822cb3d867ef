/*
 * tap.h: a tiny Test Anything Protocol emitter for automake's tap-driver.
 *
 * One line per check ("ok 3 - conv2d stride2 forward"), the plan printed last,
 * and tap_done() returns non-zero when any check failed, so a test run by hand
 * fails too. Never exit 77 from a TAP test (the driver calls that an ERROR):
 * use tap_skip_all() instead. The counters live in tap.c so that helpers
 * (gradcheck.c, fixture.c) and the test share one numbering.
 */
#ifndef SEMISEG_TAP_H
#define SEMISEG_TAP_H

__attribute__((format(printf, 2, 3))) int tap_ok(int cond, const char *fmt, ...);
/* A diagnostic line (shown in the test log). */
__attribute__((format(printf, 1, 2))) void tap_diag(const char *fmt, ...);
__attribute__((noreturn)) void tap_skip_all(const char *reason);
/* Prints the plan; returns the exit status (1 when any check failed). */
int tap_done(void);

#endif
