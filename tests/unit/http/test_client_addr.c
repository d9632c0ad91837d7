#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>

#include "client_addr.h"
#include "../unit_main.h"

/* The key of an address parsed from text, or "BAD". */
static const char *key_of(const char *text)
{
	static char key[CLIENT_ADDR_KEY_MAX];
	struct client_ip ip;
	if (client_addr_parse(text, strlen(text), &ip) < 0)
		return "BAD";
	client_addr_key(&ip, key);
	return key;
}

static void test_parse_forms(void **state)
{
	(void)state;
	assert_string_equal(key_of("192.0.2.1"), "192.0.2.1");
	assert_string_equal(key_of("  192.0.2.1\t"), "192.0.2.1");
	assert_string_equal(key_of("192.0.2.1:5678"), "192.0.2.1");
	assert_string_equal(key_of("2001:db8::1"), "2001:db8::/64");
	assert_string_equal(key_of("[2001:db8::1]"), "2001:db8::/64");
	assert_string_equal(key_of("[2001:db8::1]:443"), "2001:db8::/64");
	assert_string_equal(key_of("::ffff:192.0.2.7"), "192.0.2.7");
	assert_string_equal(key_of("[::ffff:192.0.2.7]:80"), "192.0.2.7");
	assert_string_equal(key_of("::1"), "::/64");
}

static void test_parse_garbage(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    " ",
	    "unknown",
	    "_hidden",
	    "example.com",
	    "192.0.2",
	    "192.0.2.256",
	    "192.0.2.1:",
	    "192.0.2.1:99999",
	    "192.0.2.1:8a",
	    "192.0.2.1:80:80",
	    "[192.0.2.1]",
	    "[2001:db8::1",
	    "2001:db8::1]",
	    "[2001:db8::1]443",
	    "[2001:db8::1]:",
	    "[2001:db8::1]:70000",
	    "[]",
	    "[::1]:1:2",
	    "fe80::1%eth0",
	    "2001:db8::1::2",
	    "1.2.3.4 5.6.7.8",
	    "\"192.0.2.1\"",
	    "192.0.2.1/24",
	    "::ffff:1.2.3.4.5",
	    "2001:0db8:0000:0000:0000:0000:0000:0001:0000:0000:0000:0000:0000:0000:0000:0001",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct client_ip ip;
		if (client_addr_parse(bad[i], strlen(bad[i]), &ip) == 0)
			fail_msg("accepted '%s'", bad[i]);
	}
	/* An embedded NUL inside the given length is garbage, not a cut string. */
	struct client_ip ip;
	assert_int_equal(client_addr_parse("10.0.0.1\0junk", 13, &ip), -1);
}

static void test_keys_per_64(void **state)
{
	(void)state;
	/* One /64, one key; the next /64 is another. */
	assert_string_equal(key_of("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
	assert_string_equal(key_of("2001:db8:1:2::ffff"), "2001:db8:1:2::/64");
	assert_string_equal(key_of("2001:db8:1:3::1"), "2001:db8:1:3::/64");
	assert_string_equal(key_of("1.2.3.4"), "1.2.3.4");
	assert_string_equal(key_of("1.2.3.5"), "1.2.3.5");
}

static void test_networks(void **state)
{
	(void)state;
	struct client_nets nets;
	char bad[64];
	assert_int_equal(client_addr_parse_nets(" 10.0.0.0/8, 192.0.2.5 ,2001:db8::/32,,"
						"::ffff:172.16.0.0/108, ::1",
						&nets, bad, sizeof bad),
			 0);
	assert_int_equal(nets.n, 5);
	struct client_ip ip;
	static const char *const in[] = {
	    "10.1.2.3", "10.255.255.255", "192.0.2.5",       "2001:db8:ffff::1",
	    "::1",      "172.16.9.9",     "::ffff:10.0.0.1", "[2001:db8::5]:80"};
	static const char *const out[] = {"11.0.0.1", "192.0.2.6",  "2001:db9::1",
					  "::2",      "172.32.0.1", "9.255.255.255"};
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		assert_int_equal(client_addr_parse(in[i], strlen(in[i]), &ip), 0);
		if (!client_addr_in(&nets, &ip))
			fail_msg("%s should be trusted", in[i]);
	}
	for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
		assert_int_equal(client_addr_parse(out[i], strlen(out[i]), &ip), 0);
		if (client_addr_in(&nets, &ip))
			fail_msg("%s should not be trusted", out[i]);
	}
	client_addr_nets_free(&nets);

	/* Odd prefixes match bit by bit. */
	assert_int_equal(client_addr_parse_nets("192.0.2.64/26", &nets, bad, sizeof bad), 0);
	assert_int_equal(client_addr_parse("192.0.2.127", 11, &ip), 0);
	assert_true(client_addr_in(&nets, &ip));
	assert_int_equal(client_addr_parse("192.0.2.128", 11, &ip), 0);
	assert_false(client_addr_in(&nets, &ip));
	client_addr_nets_free(&nets);
	assert_int_equal(client_addr_parse_nets("0.0.0.0/0", &nets, bad, sizeof bad), 0);
	assert_true(client_addr_in(&nets, &ip));
	client_addr_nets_free(&nets);

	static const char *const wrong[] = {
	    "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/",    "10.0.0.0/x",
	    "/8",          "localhost",      "10.0.0.0/8/8", "[::1]",
	    "10.0.0.1:80", "10.0.0.0/-1",    "10.0.0.0/0008"};
	for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
		if (client_addr_parse_nets(wrong[i], &nets, bad, sizeof bad) == 0)
			fail_msg("accepted network '%s'", wrong[i]);
		assert_null(nets.v);
		assert_int_equal(nets.n, 0);
	}
	/* The error names the bad entry, not the whole list. */
	assert_int_equal(
	    client_addr_parse_nets("10.0.0.0/8, nonsense ,::1", &nets, bad, sizeof bad), -1);
	assert_string_equal(bad, "nonsense");
	/* Empty means none. */
	assert_int_equal(client_addr_parse_nets("", &nets, bad, sizeof bad), 0);
	assert_int_equal(nets.n, 0);
	client_addr_nets_free(&nets);
}

/* The client behind peer with the given X-Forwarded-For headers, as a key. */
static const char *resolve(const char *trusted, const char *peer, size_t n, ...)
{
	static char key[CLIENT_ADDR_KEY_MAX];
	struct client_nets nets;
	char bad[64];
	assert_int_equal(client_addr_parse_nets(trusted, &nets, bad, sizeof bad), 0);
	struct client_ip p, out;
	assert_int_equal(client_addr_parse(peer, strlen(peer), &p), 0);
	const char *xff[8];
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		xff[i] = va_arg(ap, const char *);
	va_end(ap);
	client_addr_resolve(&nets, &p, xff, n, &out);
	client_addr_nets_free(&nets);
	client_addr_key(&out, key);
	return key;
}

static void test_forwarded_for(void **state)
{
	(void)state;
	const char *t = "127.0.0.1, 10.0.0.0/8, 2001:db8:ffff::/48";
	/* No header: the peer. */
	assert_string_equal(resolve(t, "127.0.0.1", 0), "127.0.0.1");
	/* The right-most untrusted entry; what the client wrote to its left is ignored. */
	assert_string_equal(resolve(t, "127.0.0.1", 1, "6.6.6.6, 198.51.100.1"), "198.51.100.1");
	assert_string_equal(resolve(t, "127.0.0.1", 1, "6.6.6.6, 198.51.100.1, 10.0.0.2"),
			    "198.51.100.1");
	/* Several headers are one list, in order. */
	assert_string_equal(resolve(t, "127.0.0.1", 2, "6.6.6.6", "198.51.100.2 , 10.0.0.3"),
			    "198.51.100.2");
	assert_string_equal(resolve(t, "127.0.0.1", 3, "6.6.6.6, 198.51.100.3", "10.0.0.4", ""),
			    "198.51.100.3");
	/* Ports, brackets, spaces and empty entries. */
	assert_string_equal(resolve(t, "127.0.0.1", 1, " 198.51.100.4:5555 ,, 10.0.0.5:80 ,"),
			    "198.51.100.4");
	assert_string_equal(resolve(t, "127.0.0.1", 1, "[2001:db8:1:2::99]:443, 10.0.0.6"),
			    "2001:db8:1:2::/64");
	assert_string_equal(resolve(t, "127.0.0.1", 1, "2001:db8:1:2::99,[2001:db8:ffff::1]"),
			    "2001:db8:1:2::/64");
	/* All trusted: the left-most. */
	assert_string_equal(resolve(t, "127.0.0.1", 1, "10.0.0.7, 10.0.0.8"), "10.0.0.7");
	/* Garbage stops the walk at the trusted hop to its right. */
	assert_string_equal(resolve(t, "127.0.0.1", 1, "198.51.100.5, unknown, 10.0.0.9"),
			    "10.0.0.9");
	assert_string_equal(resolve(t, "127.0.0.1", 1, "198.51.100.5, unknown"), "127.0.0.1");
	assert_string_equal(resolve(t, "127.0.0.1", 1, "\x01\xff,,,"), "127.0.0.1");
	/* An untrusted peer's header is ignored entirely. */
	assert_string_equal(resolve(t, "198.51.100.9", 1, "6.6.6.6"), "198.51.100.9");
	assert_string_equal(resolve("", "127.0.0.1", 1, "6.6.6.6"), "127.0.0.1");
	/* A dual-stack socket's view of a trusted IPv4 proxy is that proxy. */
	assert_string_equal(resolve(t, "::ffff:127.0.0.1", 1, "198.51.100.6"), "198.51.100.6");
	assert_string_equal(resolve(t, "::ffff:127.0.0.1", 0), "127.0.0.1");
	/* An IPv6 peer that is trusted, a mapped client. */
	assert_string_equal(resolve("::1", "::1", 1, "::ffff:198.51.100.7"), "198.51.100.7");
}

/* A long hostile header is walked without trouble. */
static void test_long_header(void **state)
{
	(void)state;
	static char big[60000];
	size_t n = 0;
	while (n + 16 < sizeof big) {
		memcpy(big + n, "10.0.0.1 , ", 11);
		n += 11;
	}
	big[n] = '\0';
	assert_string_equal(resolve("10.0.0.0/8", "10.0.0.2", 1, big), "10.0.0.1");
	memset(big, ',', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_string_equal(resolve("10.0.0.0/8", "10.0.0.2", 1, big), "10.0.0.2");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_forms),   cmocka_unit_test(test_parse_garbage),
    cmocka_unit_test(test_keys_per_64),   cmocka_unit_test(test_networks),
    cmocka_unit_test(test_forwarded_for), cmocka_unit_test(test_long_header),
};
UNIT_MAIN(tests)
