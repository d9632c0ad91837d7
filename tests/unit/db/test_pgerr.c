#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "pgerr.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/db/pgerr.c"
#include "../unit_main.h"

static void test_format(void **state)
{
	(void)state;
	char out[128];
	pgerr_format(out, sizeof out, "duplicate key value violates unique constraint \"k\"",
		     "23505");
	assert_string_equal(
	    out, "duplicate key value violates unique constraint \"k\" (SQLSTATE 23505)");
	pgerr_format(out, sizeof out, "no state", NULL);
	assert_string_equal(out, "no state");
	pgerr_format(out, sizeof out, "empty state", "");
	assert_string_equal(out, "empty state");
	pgerr_format(out, sizeof out, NULL, "XX000");
	assert_string_equal(out, "unknown error (SQLSTATE XX000)");
	/* A raised exception's newlines would split a log line. */
	pgerr_format(out, sizeof out, "line one\nline two\r", "P0001");
	assert_string_equal(out, "line one line two  (SQLSTATE P0001)");
}

static void test_format_keeps_the_state_when_cut(void **state)
{
	(void)state;
	char longmsg[300];
	memset(longmsg, 'x', sizeof longmsg - 1);
	longmsg[sizeof longmsg - 1] = '\0';
	char out[64];
	pgerr_format(out, sizeof out, longmsg, "23514");
	assert_int_equal(strlen(out), sizeof out - 1);
	assert_string_equal(out + strlen(out) - 17, " (SQLSTATE 23514)");
	char state5[PGERR_STATE_LEN];
	assert_true(pgerr_text_state(out, state5));
	assert_string_equal(state5, "23514");
	/* Too small for the suffix: the message, cut, and never an overflow. */
	char tiny[8];
	pgerr_format(tiny, sizeof tiny, "abcdefghij", "23514");
	assert_string_equal(tiny, "abcdefg");
	pgerr_format(tiny, 0, "abc", "23514"); /* no room at all: nothing written */
}

static void test_first_line(void **state)
{
	(void)state;
	char out[128];
	/* libpq's message for a connection tried on two hosts. */
	pgerr_first_line(out, sizeof out,
			 "connection to server at \"h1\" (10.0.0.1), port 5432 failed: Connection "
			 "refused\n\tIs the server running on that host?\nconnection to server at "
			 "\"h2\" (10.0.0.2), port 5432 failed: timeout\n");
	assert_string_equal(out, "connection to server at \"h1\" (10.0.0.1), port 5432 failed: "
				 "Connection refused");
	pgerr_first_line(out, sizeof out,
			 "ERROR:  boom  \nDETAIL:  Key (token)=(secret) exists.\n");
	assert_string_equal(out, "ERROR:  boom");
	pgerr_first_line(out, sizeof out, "");
	assert_string_equal(out, "unknown error");
	pgerr_first_line(out, sizeof out, NULL);
	assert_string_equal(out, "unknown error");
	char small[6];
	pgerr_first_line(small, sizeof small, "abcdefgh\nsecond");
	assert_string_equal(small, "abcde");
}

static void test_text_state(void **state)
{
	(void)state;
	char s[PGERR_STATE_LEN];
	assert_true(pgerr_text_state("x violates check constraint \"c\" (SQLSTATE 23514)", s));
	assert_string_equal(s, "23514");
	assert_true(pgerr_text_state("deadlock detected (SQLSTATE 40P01)", s));
	assert_string_equal(s, "40P01");
	const char *none[] = {"server closed the connection unexpectedly",
			      "(SQLSTATE 2351)",
			      "bad (SQLSTATE 23a14)",
			      "bad (SQLSTATE 23514",
			      "",
			      NULL};
	for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
		assert_false(pgerr_text_state(none[i], s));
}

static void test_state_retryable(void **state)
{
	(void)state;
	/* What can succeed later. */
	const char *transient[] = {"08000", "08003", "08006", "08001", "08004", "40001",
				   "40P01", "40003", "55P03", "57014", "57P01", "57P02",
				   "57P03", "57P05", "53100", "53200", "53300", "25006"};
	for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
		assert_true(pgerr_state_retryable(transient[i]));
	/* What fails the same way every time. */
	const char *permanent[] = {"23505", "23514", "23502", "23503", "22001", "22P02",
				   "P0001", "42883", "42P01", "42601", "08P01", "40002",
				   "57P04", "XX000", "25P02", "0A000"};
	for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++)
		assert_false(pgerr_state_retryable(permanent[i]));
	assert_false(pgerr_state_retryable(NULL));
	assert_false(pgerr_state_retryable(""));
	assert_false(pgerr_state_retryable("0800"));
	assert_false(pgerr_state_retryable("080000"));
}

static void test_db_error_retryable(void **state)
{
	(void)state;
	/* The pool's own errors, by identity. */
	assert_true(db_error_retryable(DB_ERR_LOST));
	assert_true(db_error_retryable(DB_ERR_UNAVAILABLE));
	assert_true(db_error_retryable(DB_ERR_QUEUE_FULL));
	assert_false(db_error_retryable(DB_ERR_SHUTDOWN));
	assert_false(db_error_retryable(DB_ERR_UNEXPECTED));
	assert_false(db_error_retryable(NULL));
	/* The server's, by SQLSTATE, in the pool's format. */
	char err[128];
	pgerr_format(err, sizeof err, "duplicate key value violates unique constraint \"k\"",
		     "23505");
	assert_false(db_error_retryable(err));
	pgerr_format(err, sizeof err, "new row violates check constraint \"c\"", "23514");
	assert_false(db_error_retryable(err));
	pgerr_format(err, sizeof err, "deadlock detected", "40P01");
	assert_true(db_error_retryable(err));
	pgerr_format(err, sizeof err, "could not serialize access", "40001");
	assert_true(db_error_retryable(err));
	pgerr_format(err, sizeof err, "terminating connection due to administrator command",
		     "57P01");
	assert_true(db_error_retryable(err));
	/* libpq's own, without a SQLSTATE: the connection went. */
	assert_true(db_error_retryable("server closed the connection unexpectedly"));
}

static void test_db_error_sqlstate(void **state)
{
	(void)state;
	char s[6], err[128];
	pgerr_format(err, sizeof err, "boom", "23514");
	assert_string_equal(db_error_sqlstate(err, s), "23514");
	assert_string_equal(db_error_sqlstate(DB_ERR_LOST, s), "none");
	assert_string_equal(db_error_sqlstate("server closed the connection", s), "none");
}

static void test_notice_level(void **state)
{
	(void)state;
	assert_int_equal(pgerr_notice_level("NOTICE"), LOG_LEVEL_DEBUG);
	assert_int_equal(pgerr_notice_level("INFO"), LOG_LEVEL_DEBUG);
	assert_int_equal(pgerr_notice_level("LOG"), LOG_LEVEL_DEBUG);
	assert_int_equal(pgerr_notice_level("DEBUG"), LOG_LEVEL_DEBUG);
	assert_int_equal(pgerr_notice_level("WARNING"), LOG_LEVEL_WARN);
	/* The server ending the session (a restart) is worth seeing. */
	assert_int_equal(pgerr_notice_level("FATAL"), LOG_LEVEL_WARN);
	assert_int_equal(pgerr_notice_level("PANIC"), LOG_LEVEL_WARN);
	assert_int_equal(pgerr_notice_level("ERROR"), LOG_LEVEL_WARN);
	assert_int_equal(pgerr_notice_level(NULL), LOG_LEVEL_WARN);
	assert_int_equal(pgerr_notice_level("notice"), LOG_LEVEL_WARN); /* not a severity */
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_format),
    cmocka_unit_test(test_format_keeps_the_state_when_cut),
    cmocka_unit_test(test_first_line),
    cmocka_unit_test(test_text_state),
    cmocka_unit_test(test_state_retryable),
    cmocka_unit_test(test_db_error_retryable),
    cmocka_unit_test(test_db_error_sqlstate),
    cmocka_unit_test(test_notice_level),
};
UNIT_MAIN(tests)
