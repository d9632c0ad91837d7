#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "http_server.h"

/* The module itself (as h2o's unit tests do): its static helpers are tested
 * here without being exported. */
#include "../../../src/http/http_server.c"
#include "../unit_main.h"

static void ok(const char *spec, const char *want_host, unsigned short want_port)
{
	char *host = NULL;
	unsigned short port = 0;
	assert_int_equal(http_parse_listen(spec, &host, &port), 0);
	assert_string_equal(host, want_host);
	assert_int_equal(port, want_port);
	free(host);
}

static void bad(const char *spec)
{
	char *host = NULL;
	unsigned short port = 0;
	assert_int_equal(http_parse_listen(spec, &host, &port), -1);
	assert_null(host);
}

static void test_listen_addresses(void **state)
{
	(void)state;
	ok("127.0.0.1:8080", "127.0.0.1", 8080);
	ok("0.0.0.0:1", "0.0.0.0", 1);
	ok("[::1]:8080", "::1", 8080);
	ok("localhost:65535", "localhost", 65535);
}

static void test_bad_listen_addresses(void **state)
{
	(void)state;
	bad("");
	bad("8080");
	bad(":8080");
	bad("127.0.0.1:");
	bad("127.0.0.1:65536");
	bad("127.0.0.1:-1");
	bad("127.0.0.1:80x");
	bad("[::1]8080");
	bad("[::1");
}

/* "cannot listen on ADDR (key): <reason>": each reason says what to do. */
static void test_listen_reasons(void **state)
{
	(void)state;
	assert_non_null(strstr(http_listen_reason(EADDRINUSE), "address already in use"));
	assert_non_null(strstr(http_listen_reason(EACCES), "CAP_NET_BIND_SERVICE"));
	assert_non_null(strstr(http_listen_reason(EADDRNOTAVAIL), "no such address"));
	assert_non_null(strstr(http_listen_reason(0), "does not resolve"));
	assert_string_equal(http_listen_reason(ENOMEM), strerror(ENOMEM));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_listen_addresses),
    cmocka_unit_test(test_bad_listen_addresses),
    cmocka_unit_test(test_listen_reasons),
};
UNIT_MAIN(tests)
