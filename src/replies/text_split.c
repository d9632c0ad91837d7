#include "text_split.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "xalloc.h"

/* Length of the character starting at p: an ill-formed subpart counts as
 * one, as the U+FFFD that would replace it. */
static size_t char_len(const unsigned char *p)
{
	size_t bad;
	size_t n = utf8_seq((const char *)p, SIZE_MAX, &bad);
	return n ? n : bad;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

static bool ends_sentence(unsigned char c)
{
	return c == '.' || c == '!' || c == '?' || c == '\n';
}

size_t text_split(const char *text, size_t max_chars, char ***parts)
{
	size_t n = 0, cap = 4;
	char **out = xmalloc(cap * sizeof *out);
	const unsigned char *p = (const unsigned char *)text;

	for (;;) {
		while (*p && is_space(*p))
			p++;
		if (!*p)
			break;
		/* Walk up to max_chars characters, remembering the best cuts. */
		const unsigned char *q = p, *sentence = NULL, *space = NULL;
		size_t count = 0;
		while (*q && count < max_chars) {
			size_t len = char_len(q);
			if (ends_sentence(*q) && (!q[1] || is_space(q[1])))
				sentence = q + 1;
			if (is_space(*q) && q > p)
				space = q;
			q += len;
			count++;
		}
		const unsigned char *end = q;
		if (*q) {
			/* The text goes on: cut where a reader would — after a
			 * sentence when one ends in the second half of the window
			 * (earlier would waste a message), else between words. */
			if (sentence && sentence - p >= (q - p) / 2)
				end = sentence;
			else if (!is_space(*q) && space)
				end = space;
		}
		const unsigned char *trim = end;
		while (trim > p && is_space(trim[-1]))
			trim--;
		if (n + 1 == cap) {
			cap *= 2;
			out = xrealloc(out, cap * sizeof *out);
		}
		out[n++] = xstrndup((const char *)p, (size_t)(trim - p));
		p = end;
	}
	out[n] = NULL;
	*parts = out;
	return n;
}

void text_split_free(char **parts)
{
	if (!parts)
		return;
	for (char **p = parts; *p; p++)
		free(*p);
	free(parts);
}
