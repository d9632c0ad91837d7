#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "xalloc.h"

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
				 0.25,  0.5,    1,     2.5,  5,     10,   30};
#define N_BUCKETS (sizeof buckets / sizeof buckets[0])

struct series {
	char *labels; /* "" for none */
	double value; /* counter/gauge value, or histogram sum */
	unsigned long long counts[N_BUCKETS + 1];
	unsigned long long total;
};

struct family {
	char *name;
	char *help;
	enum metric_type type;
	struct series *series;
	size_t n, cap;
};

static struct family *families;
static size_t n_families, cap_families;

static struct family *find_family(const char *name)
{
	for (size_t i = 0; i < n_families; i++)
		if (strcmp(families[i].name, name) == 0)
			return &families[i];
	return NULL;
}

void metrics_declare(const char *name, enum metric_type type, const char *help)
{
	if (find_family(name))
		return;
	if (n_families == cap_families) {
		cap_families = cap_families ? cap_families * 2 : 32;
		families = xrealloc(families, cap_families * sizeof *families);
	}
	families[n_families++] = (struct family){xstrdup(name), xstrdup(help), type, NULL, 0, 0};
}

static struct series *find_series(const char *name, const char *labels)
{
	struct family *f = find_family(name);
	if (!f)
		abort(); /* a metric used before its declaration is a programming error */
	if (!labels)
		labels = "";
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->series[i].labels, labels) == 0)
			return &f->series[i];
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 8;
		f->series = xrealloc(f->series, f->cap * sizeof *f->series);
	}
	struct series *s = &f->series[f->n++];
	memset(s, 0, sizeof *s);
	s->labels = xstrdup(labels);
	return s;
}

void metrics_add(const char *name, const char *labels, double v)
{
	find_series(name, labels)->value += v;
}

void metrics_touch(const char *name, const char *labels)
{
	(void)find_series(name, labels);
}

void metrics_set(const char *name, const char *labels, double v)
{
	find_series(name, labels)->value = v;
}

void metrics_observe(const char *name, const char *labels, double v)
{
	struct series *s = find_series(name, labels);
	size_t i = 0;
	while (i < N_BUCKETS && v > buckets[i])
		i++;
	s->counts[i]++;
	s->total++;
	s->value += v;
}

static void series_name(struct strbuf *sb, const char *name, const char *suffix, const char *labels,
			const char *extra)
{
	strbuf_printf(sb, "%s%s", name, suffix);
	if (*labels || extra) {
		strbuf_printf(sb, "{%s%s%s}", labels, *labels && extra ? "," : "",
			      extra ? extra : "");
	}
}

char *metrics_render(void)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n_families; i++) {
		struct family *f = &families[i];
		strbuf_printf(&sb, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
			      types[f->type]);
		for (size_t j = 0; j < f->n; j++) {
			struct series *s = &f->series[j];
			if (f->type != METRIC_HISTOGRAM) {
				series_name(&sb, f->name, "", s->labels, NULL);
				strbuf_printf(&sb, " %.17g\n", s->value);
				continue;
			}
			unsigned long long cum = 0;
			for (size_t b = 0; b <= N_BUCKETS; b++) {
				char le[48];
				cum += s->counts[b];
				if (b < N_BUCKETS)
					snprintf(le, sizeof le, "le=\"%g\"", buckets[b]);
				else
					snprintf(le, sizeof le, "le=\"+Inf\"");
				series_name(&sb, f->name, "_bucket", s->labels, le);
				strbuf_printf(&sb, " %llu\n", cum);
			}
			series_name(&sb, f->name, "_sum", s->labels, NULL);
			strbuf_printf(&sb, " %.17g\n", s->value);
			series_name(&sb, f->name, "_count", s->labels, NULL);
			strbuf_printf(&sb, " %llu\n", s->total);
		}
	}
	return strbuf_detach(&sb);
}

void metrics_reset(void)
{
	for (size_t i = 0; i < n_families; i++) {
		for (size_t j = 0; j < families[i].n; j++)
			free(families[i].series[j].labels);
		free(families[i].series);
		free(families[i].name);
		free(families[i].help);
	}
	free(families);
	families = NULL;
	n_families = cap_families = 0;
}
