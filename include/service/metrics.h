#ifndef PARLEY_METRICS_H
#define PARLEY_METRICS_H
/*
 * Process-wide Prometheus metrics, rendered in the text exposition format.
 * Families are declared once (name, type, help); series are found by their
 * label string, e.g. metrics_add("parley_webhooks_total",
 * "object=\"whatsapp_business_account\",result=\"ok\"", 1). Single-threaded,
 * like the rest of the daemon. Names must be declared before use.
 */
enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

void metrics_declare(const char *name, enum metric_type type, const char *help);
void metrics_add(const char *name, const char *labels, double v);
void metrics_set(const char *name, const char *labels, double v);
/* Creates the series at 0 if it does not exist yet, so that a family's
 * known label values are exposed before their first event (a rate() over a
 * series that appears late misses its first increase). */
void metrics_touch(const char *name, const char *labels);
/* Records v (seconds) in a histogram with fixed latency buckets. */
void metrics_observe(const char *name, const char *labels, double v);
/* Returns the exposition text; caller frees. */
char *metrics_render(void);
/* Drops every family and series (tests, shutdown). */
void metrics_reset(void);

#endif
