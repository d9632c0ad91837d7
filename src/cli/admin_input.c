/*
 * Checks of operator input for the administration commands: see
 * include/cli/admin_input.h.
 */
#include "admin_input.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "platform.h"
#include "utf8.h"
#include "xalloc.h"

/* Longest token accepted: Meta's long-lived tokens are a few hundred bytes. */
#define TOKEN_MAX 8192

static bool id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

static const char *check_id_len(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0)
		return "must not be empty";
	if (n > max)
		return max == 50 ? "must be at most 50 characters"
				 : "must be at most 100 characters";
	if (!id_char(s[0]) || s[0] == '.' || s[0] == '_' || s[0] == '-')
		return "must start with a letter or digit";
	for (size_t i = 0; i < n; i++)
		if (!id_char(s[i]))
			return "may contain only letters, digits, '.', '_' and '-'";
	return NULL;
}

const char *admin_check_id(const char *s)
{
	return check_id_len(s, 50);
}

const char *admin_check_text(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0)
		return "must not be empty";
	if (n > max)
		return "is too long";
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		if (*p < 0x20 || *p == 0x7f)
			return "must not contain control characters";
		size_t k = utf8_seq((const char *)p, SIZE_MAX, NULL);
		if (k == 0)
			return "is not valid UTF-8";
		p += k;
	}
	return NULL;
}

const char *admin_check_email(const char *s)
{
	size_t n = strlen(s);
	const char *at = strchr(s, '@');
	if (n > 255)
		return "is too long";
	if (!at || at == s || !at[1] || strchr(at + 1, '@'))
		return "is not an email address";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return "is not an email address";
	return admin_check_text(s, 255);
}

bool admin_platform_known(const char *s)
{
	enum platform p;
	return platform_from_name(s, &p) == 0;
}

const char *admin_check_meta_id(const char *platform, const char *s)
{
	if (strcmp(platform, "webchat") == 0)
		return check_id_len(s, 100);
	size_t n = strlen(s);
	if (n == 0)
		return "must not be empty";
	if (n > 100)
		return "must be at most 100 characters";
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return "must be Meta's numeric id (WhatsApp phone_number_id, Instagram "
			       "account id)";
	return NULL;
}

int admin_parse_count(const char *s, long min, long max, long *out)
{
	if (!*s)
		return -1;
	long v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (v > (LONG_MAX - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/*
 * An access token as read from a file: trailing line ends and blanks are
 * removed in place (editors and `echo` add them). Refuses an empty token and
 * one with control characters or blanks inside (it goes into an HTTP header
 * verbatim). *len is updated.
 */
static const char *admin_token_clean(char *buf, size_t *len)
{
	size_t n = *len;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	*len = n;
	if (n == 0)
		return "the access token is empty";
	if (n > TOKEN_MAX)
		return "the access token is too long";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c <= 0x20 || c == 0x7f)
			return "the access token contains blanks or control characters "
			       "(one token, on one line)";
	}
	return NULL;
}

/* Reads all of f, up to a bound well above any token: a wrong file (a log,
 * a binary) is refused without reading it whole. */
/* Reads at most cap bytes of f (one more tells "too long"). */
static char *read_stream_max(FILE *f, size_t cap, size_t *len)
{
	size_t n = 0, got;
	char *buf = xmalloc(cap + 1);
	while (n < cap && (got = fread(buf + n, 1, cap - n, f)) > 0)
		n += got;
	if (ferror(f)) {
		int e = errno;
		free(buf);
		errno = e;
		return NULL;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static char *read_stream(FILE *f, size_t *len)
{
	return read_stream_max(f, TOKEN_MAX + 2, len);
}

char *admin_read_token(const char *path, const char **err)
{
	*err = NULL;
	size_t len;
	char *buf;
	if (strcmp(path, "-") == 0) {
		buf = read_stream(stdin, &len);
	} else {
		FILE *f = fopen(path, "rb");
		if (!f)
			return NULL;
		buf = read_stream(f, &len);
		int e = errno;
		fclose(f);
		errno = e;
	}
	if (!buf)
		return NULL;
	if (memchr(buf, '\0', len)) {
		free(buf);
		*err = "the access token file is not text";
		return NULL;
	}
	if ((*err = admin_token_clean(buf, &len))) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *admin_read_message(const char *path, size_t max, const char **err)
{
	*err = NULL;
	size_t len;
	char *buf;
	if (strcmp(path, "-") == 0) {
		buf = read_stream_max(stdin, max + 1, &len);
	} else {
		FILE *f = fopen(path, "rb");
		if (!f)
			return NULL;
		buf = read_stream_max(f, max + 1, &len);
		int e = errno;
		fclose(f);
		errno = e;
	}
	if (!buf)
		return NULL;
	const char *bad = NULL;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
		       buf[len - 1] == '\t'))
		buf[--len] = '\0';
	if (len > max)
		bad = "the message is too long";
	else if (memchr(buf, '\0', len))
		bad = "the message is not text (it contains NUL bytes)";
	else if (utf8_valid_chars(buf) < 0)
		bad = "the message is not valid UTF-8";
	else if (strspn(buf, " \t\r\n") == len)
		bad = "the message is empty";
	if (bad) {
		free(buf);
		*err = bad;
		return NULL;
	}
	return buf;
}

char *admin_new_id(const char *prefix)
{
	unsigned char r[8];
	if (RAND_bytes(r, sizeof r) != 1) {
		fprintf(stderr, "parley: the random number generator failed\n");
		abort();
	}
	char hex[2 * sizeof r + 1];
	for (size_t i = 0; i < sizeof r; i++)
		snprintf(hex + 2 * i, 3, "%02x", r[i]);
	return xasprintf("%s%s", prefix, hex);
}
