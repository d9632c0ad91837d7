/* A series' value read from metrics_render(), the exposition text that
 * /metrics serves, so unit tests check metrics through the real API. */
#ifndef PARLEY_TEST_METRICS_VALUE_H
#define PARLEY_TEST_METRICS_VALUE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* The value of name{labels} (labels NULL or "": none); 0 when absent. */
static double metrics_value(const char *name, const char *labels)
{
	char head[512];
	if (labels && *labels)
		snprintf(head, sizeof head, "%s{%s} ", name, labels);
	else
		snprintf(head, sizeof head, "%s ", name);
	char *text = metrics_render();
	double v = 0;
	size_t n = strlen(head);
	for (const char *line = text; *line;) {
		if (strncmp(line, head, n) == 0) {
			v = strtod(line + n, NULL);
			break;
		}
		const char *nl = strchr(line, '\n');
		if (!nl)
			break;
		line = nl + 1;
	}
	free(text);
	return v;
}

#endif
