#include "webchat_token.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "encoding.h"
#include "strbuf.h"
#include "xalloc.h"

const char WEBCHAT_TOKEN_ERR_MALFORMED[] = "malformed token";
const char WEBCHAT_TOKEN_ERR_FORGED[] = "invalid token";
const char WEBCHAT_TOKEN_ERR_EXPIRED[] = "token expired";

#define PREFIX     "v1."
#define PREFIX_LEN (sizeof PREFIX - 1)
#define MAC_LEN    32

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url of data. */
static void b64_encode(struct strbuf *sb, const unsigned char *data, size_t len)
{
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
		char q[4] = {b64url[v >> 18 & 63], b64url[v >> 12 & 63], b64url[v >> 6 & 63],
			     b64url[v & 63]};
		strbuf_append(sb, q, 4);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)data[i] << 16;
		char q[2] = {b64url[v >> 18 & 63], b64url[v >> 12 & 63]};
		strbuf_append(sb, q, 2);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8;
		char q[3] = {b64url[v >> 18 & 63], b64url[v >> 12 & 63], b64url[v >> 6 & 63]};
		strbuf_append(sb, q, 3);
	}
}

/* Decodes unpadded base64url into out (room for cap bytes); returns the
 * length or -1 on a bad character, a bad length or overflow. Strict: the
 * unused low bits of the last character must be zero, so that every token
 * has exactly one spelling. */
static long b64_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
	if (len % 4 == 1)
		return -1;
	size_t n = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < len; i++) {
		int v = encoding_b64url_value((unsigned char)s[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	return (long)n;
}

static bool mac_of(const char *secret, const char *data, size_t len, unsigned char out[MAC_LEN])
{
	unsigned int out_len = 0;
	return HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)data, len,
		    out, &out_len) &&
	       out_len == MAC_LEN;
}

char *webchat_token_issue(const char *secret, const char *session_id, const char *widget_id,
			  long long expires)
{
	size_t sl = strlen(session_id), wl = strlen(widget_id);
	if (!*secret || !sl || sl > WEBCHAT_SESSION_ID_MAX || strchr(session_id, ':') || !wl ||
	    wl > WEBCHAT_WIDGET_ID_MAX || expires < 0)
		return NULL;
	char *payload = xasprintf("%s:%lld:%s", session_id, expires, widget_id);
	struct strbuf sb = STRBUF_INIT;
	strbuf_puts(&sb, PREFIX);
	b64_encode(&sb, (const unsigned char *)payload, strlen(payload));
	free(payload);
	unsigned char mac[MAC_LEN];
	if (!mac_of(secret, sb.buf, sb.len, mac)) {
		strbuf_free(&sb);
		return NULL;
	}
	strbuf_putc(&sb, '.');
	b64_encode(&sb, mac, MAC_LEN);
	OPENSSL_cleanse(mac, sizeof mac);
	return strbuf_detach(&sb);
}

/* Parses "session:expires:widget" (len bytes) into out; false if malformed. */
static bool parse_payload(const char *p, size_t len, struct webchat_claims *out)
{
	const char *end = p + len;
	const char *c1 = memchr(p, ':', len);
	if (!c1 || c1 == p || (size_t)(c1 - p) > WEBCHAT_SESSION_ID_MAX)
		return false;
	const char *c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
	if (!c2 || c2 == c1 + 1 || c2 - c1 - 1 > 19)
		return false;
	size_t wl = (size_t)(end - c2 - 1);
	if (!wl || wl > WEBCHAT_WIDGET_ID_MAX)
		return false;
	long long exp = 0;
	for (const char *d = c1 + 1; d < c2; d++) {
		if (*d < '0' || *d > '9')
			return false;
		exp = exp * 10 + (*d - '0');
	}
	if (memchr(p, '\0', len))
		return false;
	memcpy(out->session_id, p, (size_t)(c1 - p));
	out->session_id[c1 - p] = '\0';
	memcpy(out->widget_id, c2 + 1, wl);
	out->widget_id[wl] = '\0';
	out->expires = exp;
	return true;
}

const char *webchat_token_verify(const char *secret, const char *token, size_t len, long long now,
				 struct webchat_claims *out)
{
	if (!token || len > WEBCHAT_TOKEN_MAX || len < PREFIX_LEN ||
	    memcmp(token, PREFIX, PREFIX_LEN) != 0)
		return WEBCHAT_TOKEN_ERR_MALFORMED;
	const char *dot = memchr(token + PREFIX_LEN, '.', len - PREFIX_LEN);
	if (!dot)
		return WEBCHAT_TOKEN_ERR_MALFORMED;
	size_t signed_len = (size_t)(dot - token);
	unsigned char want[MAC_LEN + 1];
	if (b64_decode(dot + 1, len - signed_len - 1, want, sizeof want) != MAC_LEN)
		return WEBCHAT_TOKEN_ERR_MALFORMED;
	if (!secret || !*secret)
		return WEBCHAT_TOKEN_ERR_FORGED;
	unsigned char got[MAC_LEN];
	if (!mac_of(secret, token, signed_len, got))
		return WEBCHAT_TOKEN_ERR_FORGED;
	bool ok = CRYPTO_memcmp(got, want, MAC_LEN) == 0;
	OPENSSL_cleanse(got, sizeof got);
	if (!ok)
		return WEBCHAT_TOKEN_ERR_FORGED;

	/* Signed by us: the payload is ours, but parse it defensively anyway. */
	unsigned char payload[WEBCHAT_TOKEN_MAX];
	long n = b64_decode(token + PREFIX_LEN, signed_len - PREFIX_LEN, payload, sizeof payload);
	struct webchat_claims c;
	if (n <= 0 || !parse_payload((const char *)payload, (size_t)n, &c))
		return WEBCHAT_TOKEN_ERR_MALFORMED;
	if (c.expires <= now)
		return WEBCHAT_TOKEN_ERR_EXPIRED;
	*out = c;
	return NULL;
}

void webchat_session_id_new(char out[36])
{
	unsigned char r[16];
	if (RAND_bytes(r, sizeof r) != 1)
		abort(); /* no randomness: no unforgeable sessions either */
	memcpy(out, "ws_", 3);
	for (size_t i = 0; i < sizeof r; i++)
		snprintf(out + 3 + 2 * i, 3, "%02x", r[i]);
}
