/*
 * `parley replay`: signs captured webhook bodies with the app secret and
 * POSTs them, one line per file. A command-line tool, so plain blocking
 * libcurl is right here; the daemon never does this.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "config.h"
#include "fileutil.h"
#include "strbuf.h"
#include "webhook_sig.h"
#include "xalloc.h"

struct replay {
	CURL *curl;
	const char *url;
	const char *secret;
	/* Files, not requests: each file is one line and counts once. */
	int files, failed;
	long stored, duplicates, statuses, skipped;
};

static size_t collect(char *ptr, size_t size, size_t n, void *arg)
{
	strbuf_append(arg, ptr, size * n);
	return size * n;
}

static long count_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? (long)v->valuedouble : 0;
}

/*
 * What parley reported for one file, from its answer: the 200 body's counts
 * ("stored 1", "duplicate 1", "skipped 1: unknown_channel whatsapp 1065…"),
 * or an error answer's message.
 */
static void describe(struct replay *r, long status, const char *body, struct strbuf *out)
{
	cJSON *o = cJSON_Parse(body ? body : "");
	if (status < 200 || status > 299) {
		const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(o, "error"));
		strbuf_printf(out, "refused: %s", msg ? msg : "no reason given");
		cJSON_Delete(o);
		return;
	}
	long st = count_of(o, "stored"), dup = count_of(o, "duplicates"),
	     stat = count_of(o, "statuses") + count_of(o, "early_statuses"),
	     sk = count_of(o, "skipped");
	r->stored += st;
	r->duplicates += dup;
	r->statuses += stat;
	r->skipped += sk;
	const char *sep = "";
	if (st) {
		strbuf_printf(out, "stored %ld", st);
		sep = ", ";
	}
	if (dup) {
		strbuf_printf(out, "%sduplicate %ld (stored before)", sep, dup);
		sep = ", ";
	}
	if (stat) {
		strbuf_printf(out, "%sstatuses %ld", sep, stat);
		sep = ", ";
	}
	if (sk) {
		strbuf_printf(out, "%sskipped %ld:", sep, sk);
		const cJSON *skip;
		cJSON_ArrayForEach(skip, cJSON_GetObjectItemCaseSensitive(o, "skips"))
		{
			const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(skip, "reason"));
			const char *pf =
			    cJSON_GetStringValue(cJSON_GetObjectItem(skip, "platform"));
			const char *ch = cJSON_GetStringValue(cJSON_GetObjectItem(skip, "channel"));
			strbuf_printf(out, " %s (%s channel %s)", why ? why : "?", pf ? pf : "?",
				      ch ? ch : "?");
		}
		sep = ", ";
	}
	if (!*sep)
		strbuf_puts(out, "nothing to store");
	cJSON_Delete(o);
}

static void post_file(struct replay *r, const char *path)
{
	r->files++;
	size_t len = 0;
	char *body = file_read(path, &len);
	if (!body) {
		printf("ERR %s: %s\n", path, strerror(errno));
		r->failed++;
		return;
	}
	char *sig = webhook_sig_header(r->secret, body, len);
	char *sig_header = xasprintf("X-Hub-Signature-256: %s", sig);
	struct curl_slist *headers = NULL;
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, sig_header);
	curl_easy_setopt(r->curl, CURLOPT_URL, r->url);
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	struct strbuf answer = {0};
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(r->curl);
	long status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		printf("ERR %s: %s\n", path, curl_easy_strerror(rc));
	} else {
		struct strbuf what = {0};
		describe(r, status, strbuf_str(&answer), &what);
		printf("%ld %s: %s\n", status, path, strbuf_str(&what));
		strbuf_free(&what);
	}
	fflush(stdout);
	strbuf_free(&answer);
	if (rc != CURLE_OK || status < 200 || status > 299)
		r->failed++;
	curl_slist_free_all(headers);
	free(sig_header);
	free(sig);
	free(body);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files directly, directories recursively in name order (hidden ones skipped). */
static void replay_path(struct replay *r, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		printf("ERR %s: %s\n", path, strerror(errno));
		r->files++;
		r->failed++;
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		post_file(r, path);
		return;
	}
	DIR *d = opendir(path);
	if (!d) {
		printf("ERR %s: %s\n", path, strerror(errno));
		r->files++;
		r->failed++;
		return;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			names = xrealloc(names, cap * sizeof *names);
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, by_name);
	for (size_t i = 0; i < n; i++) {
		char *child = xasprintf("%s/%s", path, names[i]);
		struct stat cst;
		/* In a directory, only JSON files and subdirectories are bodies. */
		size_t len = strlen(names[i]);
		if (stat(child, &cst) == 0 &&
		    (S_ISDIR(cst.st_mode) || (len > 5 && strcmp(names[i] + len - 5, ".json") == 0)))
			replay_path(r, child);
		free(child);
		free(names[i]);
	}
	free(names);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: parley replay [-c FILE] [--url URL] [--secret S] PATH...\n");
}

int cmd_replay(int argc, char **argv)
{
	const char *path = NULL, *url = NULL, *secret = NULL;
	const struct cli_opt opts[] = {
	    {"url", .value = &url},
	    {"secret", .value = &secret},
	    {0},
	};
	int rc = cli_options(&argc, argv, opts, usage, &path);
	if (rc != CLI_GO)
		return rc;
	if (optind == argc) {
		fprintf(stderr, "parley replay: no PATH given\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	struct config cfg = {0};
	if (cli_load_config(path, CONFIG_NEED_NOTHING, &cfg) < 0)
		return EXIT_USAGE;
	char **secrets = NULL;
	if (!secret && config_split_list(cfg.meta_app_secret, &secrets) > 0)
		secret = secrets[0]; /* the first is the current one when rotating */
	if (!secret) {
		fprintf(stderr,
			"parley replay: no app secret (give --secret or set meta.app_secret)\n");
		config_free_list(secrets);
		config_free(&cfg);
		return EXIT_USAGE;
	}
	char *default_url = xasprintf("http://%s/webhooks/meta", cfg.server_listen);
	struct replay r = {.url = url ? url : default_url, .secret = secret};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	r.curl = curl_easy_init();
	for (int i = optind; i < argc; i++)
		replay_path(&r, argv[i]);
	curl_easy_cleanup(r.curl);
	curl_global_cleanup();
	fprintf(stderr,
		"replay: %d file%s, %d accepted, %d failed; messages: %ld stored, %ld duplicate, "
		"%ld skipped; %ld statuses\n",
		r.files, r.files == 1 ? "" : "s", r.files - r.failed, r.failed, r.stored,
		r.duplicates, r.skipped, r.statuses);
	free(default_url);
	config_free_list(secrets);
	config_free(&cfg);
	return r.failed || r.files == 0 ? EXIT_RUNTIME : EXIT_OK;
}
