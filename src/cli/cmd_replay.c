/*
 * `parley replay`: signs captured webhook bodies with the app secret and
 * POSTs them, one line per file. A command-line tool, so plain blocking
 * libcurl is right here; the daemon never does this.
 */
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
#include "webhook_sig.h"
#include "xalloc.h"

struct replay {
	CURL *curl;
	const char *url;
	const char *secret;
	int sent, failed;
};

static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * n;
}

static void post_file(struct replay *r, const char *path)
{
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
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(r->curl);
	long status = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK)
		printf("ERR %s: %s\n", path, curl_easy_strerror(rc));
	else
		printf("%ld %s\n", status, path);
	fflush(stdout);
	r->sent++;
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
	const char *path = NULL;
	if (cli_take_config(&argc, argv, &path) < 0)
		return EXIT_USAGE;
	const char *url = NULL, *secret = NULL;
	static const struct option opts[] = {
	    {"url", required_argument, NULL, 'u'},
	    {"secret", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {0, 0, 0, 0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 's': secret = optarg; break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
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
	fprintf(stderr, "replay: %d sent, %d failed\n", r.sent, r.failed);
	free(default_url);
	config_free_list(secrets);
	config_free(&cfg);
	return r.failed || r.sent == 0 ? EXIT_RUNTIME : EXIT_OK;
}
