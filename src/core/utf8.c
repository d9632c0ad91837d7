#include "utf8.h"

static bool is_continuation(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* Table 3-7 by lead byte: the allowed range of the second byte narrows for
 * E0 (overlongs), ED (surrogates), F0 (overlongs) and F4 (above U+10FFFF);
 * C0, C1 and F5..FF never start a character. */
size_t utf8_seq(const char *s, size_t avail, size_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c == 0xe0) {
		n = 3;
		lo = 0xa0;
	} else if (c == 0xed) {
		n = 3;
		hi = 0x9f;
	} else if (c >= 0xe1 && c <= 0xef) {
		n = 3;
	} else if (c == 0xf0) {
		n = 4;
		lo = 0x90;
	} else if (c >= 0xf1 && c <= 0xf3) {
		n = 4;
	} else if (c == 0xf4) {
		n = 4;
		hi = 0x8f;
	} else {
		if (bad)
			*bad = 1;
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if (i >= avail || p[i] < lo || p[i] > hi) {
			if (bad)
				*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return n;
}

size_t utf8_decode(const char *s, size_t avail, uint32_t *cp)
{
	size_t n = utf8_seq(s, avail, NULL);
	if (n == 0)
		return 0;
	const unsigned char *p = (const unsigned char *)s;
	/* The lead byte keeps 7, 5, 4 or 3 payload bits. */
	uint32_t v = n == 1 ? p[0] : p[0] & (0x7fu >> n);
	for (size_t i = 1; i < n; i++)
		v = (v << 6) | (p[i] & 0x3f);
	*cp = v;
	return n;
}

long utf8_valid_chars(const char *s)
{
	long chars = 0;
	while (*s) {
		size_t n = utf8_seq(s, SIZE_MAX, NULL);
		if (n == 0)
			return -1;
		s += n;
		chars++;
	}
	return chars;
}

size_t utf8_count(const char *s, size_t len)
{
	size_t chars = 0;
	for (size_t i = 0; i < len; i++)
		chars += !is_continuation((unsigned char)s[i]);
	return chars;
}

size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && is_continuation((unsigned char)s[max]))
		max--;
	return max;
}

size_t utf8_cut_chars(const char *s, size_t len, size_t max_chars)
{
	size_t chars = 0;
	for (size_t i = 0; i < len; i++)
		if (!is_continuation((unsigned char)s[i]) && ++chars > max_chars)
			return i;
	return len;
}
