#ifndef PARLEY_METRICS_CATALOG_H
#define PARLEY_METRICS_CATALOG_H
/*
 * Every metric family `parley serve` exposes, declared in one place at start
 * with its known label values at 0: a family is in /metrics from the first
 * scrape whether or not its feature is on (extraction, meetings, webchat) and
 * before its first event, so rate() and absent() behave as Prometheus users
 * expect. Subsystems may declare their families again (harmless: the first
 * declaration's help text wins). Also sets parley_build_info and the standard
 * process_* metrics (process_metrics_update refreshes them at each scrape).
 */
void metrics_catalog_declare(void);

/* Refreshes process_cpu_seconds_total, process_resident_memory_bytes and
 * process_open_fds from /proc/self (a few small reads of procfs, which never
 * block on I/O). */
void process_metrics_update(void);

/* The commit parley was built from (`git rev-parse --short HEAD` at build
 * time), "unknown" outside git. */
const char *build_commit(void);

#endif
