#include "webhook_sig.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "encoding.h"
#include "xalloc.h"

#define SIG_PREFIX     "sha256="
#define SIG_PREFIX_LEN (sizeof(SIG_PREFIX) - 1)
#define DIGEST_LEN     32

/* Parses the header into want[]; false unless it is exactly prefix + 64 hex. */
static bool parse_header(const char *header, unsigned char want[DIGEST_LEN])
{
	if (!header || strncmp(header, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
		return false;
	const char *hex = header + SIG_PREFIX_LEN;
	/* strnlen: never walk far past the expected end of a hostile header. */
	if (strnlen(hex, 2 * DIGEST_LEN + 1) != 2 * DIGEST_LEN)
		return false;
	for (size_t i = 0; i < DIGEST_LEN; i++) {
		int hi = encoding_hex_value((unsigned char)hex[2 * i]);
		int lo = encoding_hex_value((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		want[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

static bool hmac_sha256(const char *secret, const void *body, size_t len,
			unsigned char out[DIGEST_LEN])
{
	unsigned int out_len = 0;
	size_t key_len = strlen(secret);
	if (key_len > (size_t)INT_MAX)
		return false;
	/* OpenSSL wants a non-NULL pointer even for zero bytes. */
	const unsigned char *data = body ? body : (const unsigned char *)"";
	if (!HMAC(EVP_sha256(), secret, (int)key_len, data, len, out, &out_len))
		return false;
	return out_len == DIGEST_LEN;
}

bool webhook_sig_verify(const char *header, const void *body, size_t len, char *const *secrets)
{
	unsigned char want[DIGEST_LEN];
	if (!secrets || !parse_header(header, want))
		return false;

	/*
	 * No early exit: the time taken depends only on how many secrets are
	 * configured, not on which one (if any) matched.
	 */
	bool ok = false;
	for (char *const *s = secrets; *s; s++) {
		unsigned char got[DIGEST_LEN];
		if (!**s || !hmac_sha256(*s, body, len, got))
			continue;
		if (CRYPTO_memcmp(got, want, DIGEST_LEN) == 0)
			ok = true;
		OPENSSL_cleanse(got, sizeof(got));
	}
	return ok;
}

char *webhook_sig_header(const char *secret, const void *body, size_t len)
{
	unsigned char mac[DIGEST_LEN];
	if (!hmac_sha256(secret, body, len, mac)) {
		/* Only an allocation failure inside OpenSSL gets here: same policy as xmalloc. */
		fprintf(stderr, "parley: HMAC-SHA256 failed\n");
		abort();
	}
	static const char digits[] = "0123456789abcdef";
	char *out = xmalloc(SIG_PREFIX_LEN + 2 * DIGEST_LEN + 1);
	memcpy(out, SIG_PREFIX, SIG_PREFIX_LEN);
	char *p = out + SIG_PREFIX_LEN;
	for (size_t i = 0; i < DIGEST_LEN; i++) {
		*p++ = digits[mac[i] >> 4];
		*p++ = digits[mac[i] & 0x0f];
	}
	*p = '\0';
	return out;
}
