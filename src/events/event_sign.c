/*
 * Standard Webhooks signatures: see include/events/event_sign.h.
 */
#include "event_sign.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

char *event_secret_new(void)
{
	unsigned char key[EVENT_SECRET_BYTES];
	if (RAND_bytes(key, sizeof key) != 1)
		abort(); /* nothing to recover: as on out-of-memory */
	size_t pre = strlen(EVENT_SECRET_PREFIX);
	char *s = xmalloc(pre + 4 * ((sizeof key + 2) / 3) + 1);
	memcpy(s, EVENT_SECRET_PREFIX, pre);
	EVP_EncodeBlock((unsigned char *)s + pre, key, sizeof key);
	OPENSSL_cleanse(key, sizeof key);
	return s;
}

int event_secret_key(const char *secret, unsigned char *key, const char **why)
{
	size_t pre = strlen(EVENT_SECRET_PREFIX);
	if (!secret || strncmp(secret, EVENT_SECRET_PREFIX, pre) != 0) {
		*why = "must start with " EVENT_SECRET_PREFIX;
		return -1;
	}
	const char *b64 = secret + pre;
	size_t len = strlen(b64);
	/* Standard base64 with padding: what the standard's libraries write. */
	if (len == 0 || len % 4 != 0 || len > 4 * ((EVENT_SECRET_MAX_BYTES + 2) / 3)) {
		*why = "is not " EVENT_SECRET_PREFIX " followed by base64 of 24 to 64 bytes";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		char c = b64[i];
		bool pad = c == '=' && i >= len - 2;
		if (!(pad || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/') ||
		    (i == len - 2 && c == '=' && b64[len - 1] != '=')) {
			*why =
			    "is not " EVENT_SECRET_PREFIX " followed by base64 of 24 to 64 bytes";
			return -1;
		}
	}
	unsigned char buf[4 * ((EVENT_SECRET_MAX_BYTES + 2) / 3)];
	int n = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)len);
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (n >= 0 && b64[len - 1] == '=')
		n -= b64[len - 2] == '=' ? 2 : 1;
	if (n < EVENT_SECRET_MIN_BYTES || n > EVENT_SECRET_MAX_BYTES) {
		OPENSSL_cleanse(buf, sizeof buf);
		*why = "is not " EVENT_SECRET_PREFIX " followed by base64 of 24 to 64 bytes";
		return -1;
	}
	memcpy(key, buf, (size_t)n);
	OPENSSL_cleanse(buf, sizeof buf);
	return n;
}

void event_sign(const unsigned char *key, size_t key_len, const char *id, long long ts,
		const char *body, size_t body_len, char *out)
{
	char prefix[128];
	int n = snprintf(prefix, sizeof prefix, "%s.%lld.", id, ts);
	if (n < 0 || (size_t)n >= sizeof prefix)
		n = 0; /* ids are "evt_" + 32 hex digits: never */
	/* One buffer for HMAC() (the streaming HMAC_CTX API is deprecated in
	 * OpenSSL 3): bodies are a few kilobytes. */
	char *msg = xmalloc((size_t)n + body_len + 1);
	memcpy(msg, prefix, (size_t)n);
	memcpy(msg + n, body, body_len);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, (size_t)n + body_len,
		  mac, &mac_len))
		abort();
	free(msg);
	memcpy(out, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)mac_len);
	OPENSSL_cleanse(mac, sizeof mac);
}

char *event_signature_header(const char *secret, const char *previous, const char *id, long long ts,
			     const char *body, size_t body_len)
{
	unsigned char key[EVENT_SECRET_MAX_BYTES];
	const char *why;
	char a[EVENT_SIG_MAX], b[EVENT_SIG_MAX];
	int n = event_secret_key(secret, key, &why);
	if (n < 0)
		return NULL;
	event_sign(key, (size_t)n, id, ts, body, body_len, a);
	OPENSSL_cleanse(key, sizeof key);
	if (!previous || !*previous)
		return xstrdup(a);
	if ((n = event_secret_key(previous, key, &why)) < 0)
		return xstrdup(a); /* a malformed old secret must not stop deliveries */
	event_sign(key, (size_t)n, id, ts, body, body_len, b);
	OPENSSL_cleanse(key, sizeof key);
	return xasprintf("%s %s", a, b);
}
