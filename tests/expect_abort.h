/*
 * expect_abort.h: run a function in a forked child and check that it dies
 * with SIGABRT (SG_CHECK) and that its stderr contains every given substring,
 * e.g. the op name and both shapes of a mismatch.
 */
#ifndef SEMISEG_TEST_EXPECT_ABORT_H
#define SEMISEG_TEST_EXPECT_ABORT_H

/* Returns 1 when fn(arg) aborted and stderr contained each of the n_expect
 * strings; prints what it saw as TAP diagnostics otherwise. */
int sg_expect_abort(void (*fn)(void *), void *arg, const char *const *expect, int n_expect);

#endif
