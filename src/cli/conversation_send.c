/*
 * `parley conversation send`: see include/cli/conversation_send.h.
 *
 * Never twice: the parts are stored 'pending' with send_started_at set in
 * the transaction that stores them, before anything goes out; a part whose
 * outcome a crash leaves unknown is never sent again (parley_claim_replies
 * marks it failed later). Each part is then sent with the reply worker's
 * retry policy (retry.h, replies.max_attempts) and recorded with the reply
 * worker's SQL functions (parley_record_sent, parley_record_failed).
 */
#include "conversation_send.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin_input.h"
#include "admin_out.h"
#include "commands.h"
#include "graph.h"
#include "http_client.h"
#include "http_sync.h"
#include "json.h"
#include "platform.h"
#include "retry.h"
#include "strbuf.h"
#include "text_split.h"
#include "xalloc.h"

/* What the command was asked to send. */
struct send_req {
	const char *id, *tenant;
	const char *text_file;
	const char *template_name, *language;
	const char **params;
	size_t n_params;
	bool keep_ai;
};

/* One stored part, as parley_store_human_message returned it. */
struct sent_part {
	const char *message_id, *text;
	int seq;
	const char *status; /* "sent", "failed" or "pending" (not recorded) */
};

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* One SQL function call whose answer is not needed; 0 or the exit status. */
static int call(struct admin_cmd *cmd, const char *sql, int n, const char *const *p)
{
	struct pgsync_error e;
	PGresult *res = pgsync_exec(cmd->conn, sql, n, p, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	PQclear(res);
	return 0;
}

/*
 * Sends one part (body) to url with the channel's token, retrying what the
 * reply worker retries, quietly (stderr gets one line, the final error). Returns NULL with *pmid
 * (maybe NULL) when the platform accepted it, else the error for error_message (caller frees).
 */
static char *send_one(struct admin_cmd *cmd, const char *url, const char *token, const char *body,
		      char **pmid, enum platform platform)
{
	char *auth = xasprintf("Authorization: Bearer %s", token ? token : "");
	const char *headers[] = {auth, "Content-Type: application/json"};
	char *why = NULL;
	*pmid = NULL;
	for (int attempt = 1;; attempt++) {
		struct http_sync_resp r;
		int rc = http_sync("POST", url, headers, 2, body, &r);
		enum retry_verdict v =
		    retry_classify(r.status, rc < 0 ? HTTP_ERR_NETWORK : 0, r.body, r.len);
		if (v == RETRY_OK) {
			*pmid = graph_sent_message_id(platform, r.body, r.len);
			free(r.body);
			free(why); /* an earlier attempt's */
			why = NULL;
			break;
		}
		free(why);
		why = retry_error_message(r.status, rc < 0 ? r.err : NULL, r.body, r.len);
		if (v == RETRY_FINAL || attempt >= cmd->cfg.replies_max_attempts) {
			free(r.body);
			break;
		}
		long ms = retry_delay_ms(attempt, rc < 0 ? NULL : r.retry_after,
					 rc < 0 ? NULL : r.retry_after_ms, (unsigned)rand());
		free(r.body);
		sleep_ms(ms);
	}
	free(auth);
	return why;
}

static void print_result(struct admin_cmd *cmd, const char *conv, struct sent_part *parts, size_t n,
			 const char *paused_until)
{
	if (cmd->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "conversation_id", conv);
		cJSON *arr = cJSON_AddArrayToObject(o, "messages");
		for (size_t i = 0; i < n; i++) {
			cJSON *m = cJSON_CreateObject();
			cJSON_AddStringToObject(m, "message_id", parts[i].message_id);
			cJSON_AddNumberToObject(m, "seq", parts[i].seq);
			cJSON_AddStringToObject(m, "status", parts[i].status);
			cJSON_AddItemToArray(arr, m);
		}
		if (paused_until)
			cJSON_AddStringToObject(o, "ai_paused_until", paused_until);
		else
			cJSON_AddNullToObject(o, "ai_paused_until");
		admin_out_json(stdout, o);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(parts[i].status, "sent") == 0)
			printf("%s\n", parts[i].message_id);
}

/* Sends the stored parts of a WhatsApp or Instagram conversation. */
static int send_parts(struct admin_cmd *cmd, const cJSON *stored, const struct send_req *rq,
		      struct sent_part *parts, size_t n)
{
	enum platform platform;
	platform_from_name(cJSON_GetStringValue(cJSON_GetObjectItem(stored, "platform")),
			   &platform);
	const char *customer = cJSON_GetStringValue(cJSON_GetObjectItem(stored, "customer"));
	const char *channel = cJSON_GetStringValue(cJSON_GetObjectItem(stored, "channel"));
	const char *token = cJSON_GetStringValue(cJSON_GetObjectItem(stored, "access_token"));
	char *url = graph_send_url(platform == PLATFORM_INSTAGRAM ? cmd->cfg.meta_instagram_url
								  : cmd->cfg.meta_whatsapp_url,
				   channel);
	char *failure = url ? NULL : xstrdup("channel id is not numeric: not sent");
	int rc = EXIT_OK;
	for (size_t i = 0; i < n && !rc; i++) {
		if (failure) {
			char *why =
			    i == 0 ? xstrdup(failure)
				   : xasprintf("not sent: an earlier part failed (%s)", failure);
			const char *p[] = {parts[i].message_id, why};
			rc = call(cmd, "SELECT parley_record_failed($1, $2)", 2, p);
			free(why);
			parts[i].status = "failed";
			continue;
		}
		char *body = rq->template_name
				 ? graph_template_body(customer, rq->template_name, rq->language,
						       rq->params, rq->n_params)
				 : graph_send_body(platform, customer, parts[i].text);
		char *pmid = NULL;
		char *why = send_one(cmd, url, token, body, &pmid, platform);
		free(body);
		if (why) {
			failure = why;
			const char *p[] = {parts[i].message_id, why};
			rc = call(cmd, "SELECT parley_record_failed($1, $2)", 2, p);
			parts[i].status = "failed";
			/* The parts after it go through the branch above. */
			continue;
		}
		const char *p[] = {parts[i].message_id, pmid};
		rc = call(cmd, "SELECT parley_record_sent($1, $2)", 2, p);
		if (!rc)
			parts[i].status = "sent";
		free(pmid);
	}
	if (!rc && failure) {
		admin_fail(cmd, "not sent: %s", failure);
		rc = EXIT_RUNTIME;
	}
	free(failure);
	free(url);
	return rc;
}

/* The refusals of parley_store_human_message, as one line each. */
static int refused(struct admin_cmd *cmd, const cJSON *out, const char *id)
{
	const char *err = cJSON_GetStringValue(cJSON_GetObjectItem(out, "error"));
	const char *closed = cJSON_GetStringValue(cJSON_GetObjectItem(out, "window_expires_at"));
	const char *platform = cJSON_GetStringValue(cJSON_GetObjectItem(out, "platform"));
	if (strcmp(err, "window_closed") == 0 && platform && strcmp(platform, "instagram") == 0)
		return admin_fail(
		    cmd,
		    "the customer's 24-hour window closed at %s UTC: Instagram refuses "
		    "a message now, and templates are WhatsApp only; wait for the "
		    "customer to write again",
		    closed);
	if (strcmp(err, "window_closed") == 0)
		return admin_fail(
		    cmd,
		    "the customer's 24-hour window closed at %s UTC: WhatsApp refuses a "
		    "free-form message now; send an approved template instead (parley "
		    "conversation send %s --template NAME --language CODE [--param TEXT]...)",
		    closed, id);
	if (strcmp(err, "archived") == 0)
		return admin_fail(cmd, "conversation '%s' is archived: nothing sent", id);
	if (strcmp(err, "template_platform") == 0) {
		admin_fail(cmd, "templates are WhatsApp only; conversation '%s' is on %s", id,
			   cJSON_GetStringValue(cJSON_GetObjectItem(out, "platform")));
		return EXIT_USAGE;
	}
	return admin_fail(cmd, "no conversation '%s'", id);
}

/* Stores the parts and sends them; the exit status. */
static int run_send(struct admin_cmd *cmd, const struct send_req *rq, const char *text)
{
	struct pgsync_error e;
	const char *p1[] = {rq->id, rq->tenant};
	PGresult *res = pgsync_exec(cmd->conn,
				    "SELECT p.platform FROM conversations c JOIN agents a USING "
				    "(agent_id) JOIN phone_numbers p ON p.id = a.phone_number_id"
				    " WHERE c.conversation_id = $1 AND ($2::text IS NULL OR "
				    "a.user_id = $2)",
				    2, p1, &e);
	if (!res)
		return admin_db_fail(cmd, &e);
	enum platform platform;
	bool known =
	    PQntuples(res) == 1 && platform_from_name(PQgetvalue(res, 0, 0), &platform) == 0;
	PQclear(res);
	if (!known)
		return admin_no_object(cmd, "conversation", rq->id, rq->tenant);
	if (rq->template_name && platform != PLATFORM_WHATSAPP) {
		admin_fail(cmd,
			   "templates are WhatsApp only; conversation '%s' is on %s (send text "
			   "with --text-file)",
			   rq->id, platform_name(platform));
		return EXIT_USAGE;
	}

	/* The parts: the text split as replies are, or the template's line. */
	cJSON *arr = cJSON_CreateArray();
	if (rq->template_name) {
		char *line = graph_template_text(rq->template_name, rq->params, rq->n_params);
		cJSON_AddItemToArray(arr, cJSON_CreateString(line));
		free(line);
	} else {
		char **split = NULL;
		size_t n = text_split(text, graph_max_chars(platform), &split);
		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(split[i]));
		text_split_free(split);
	}
	char *parts_json = json_print(arr);
	char pause[24];
	snprintf(pause, sizeof pause, "%ld", cmd->cfg.handoff_pause_minutes);
	const char *p2[] = {rq->id, rq->tenant, parts_json, rq->template_name ? "true" : "false",
			    rq->keep_ai ? NULL : pause};
	res = pgsync_exec(cmd->conn,
			  "SELECT parley_store_human_message($1, $2, $3::jsonb, $4::boolean, "
			  "$5::integer)",
			  5, p2, &e);
	free(parts_json);
	if (!res)
		return admin_db_fail(cmd, &e);
	cJSON *out = cJSON_Parse(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (!out)
		return admin_fail(cmd, "unexpected answer from the database");
	int rc;
	if (cJSON_GetObjectItem(out, "error")) {
		rc = refused(cmd, out, rq->id);
		cJSON_Delete(out);
		return rc;
	}
	const cJSON *stored = cJSON_GetObjectItem(out, "parts"), *it;
	size_t n = (size_t)cJSON_GetArraySize(stored), i = 0;
	struct sent_part *parts = xcalloc(n ? n : 1, sizeof *parts);
	cJSON_ArrayForEach(it, stored)
	{
		parts[i].message_id = cJSON_GetStringValue(cJSON_GetObjectItem(it, "message_id"));
		parts[i].text = cJSON_GetStringValue(cJSON_GetObjectItem(it, "text"));
		parts[i].seq = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(it, "seq"));
		parts[i].status = "pending";
		i++;
	}
	if (platform == PLATFORM_WEBCHAT) {
		/* Stored as sent: the widget's poll delivers it. */
		for (i = 0; i < n; i++)
			parts[i].status = "sent";
		rc = EXIT_OK;
	} else {
		rc = send_parts(cmd, out, rq, parts, n);
	}
	print_result(cmd, rq->id, parts, n,
		     cJSON_GetStringValue(cJSON_GetObjectItem(out, "paused_until")));
	free(parts);
	cJSON_Delete(out);
	return rc;
}

int conversation_send(struct admin_cmd *cmd, int argc, char **argv)
{
	struct send_req rq = {0};
	rq.params = xcalloc((size_t)argc + 1, sizeof *rq.params);
	const struct admin_opt opts[] = {
	    {"tenant", .value = &rq.tenant},
	    {"text-file", .value = &rq.text_file},
	    {"template", .value = &rq.template_name},
	    {"language", .value = &rq.language},
	    {"param", .values = rq.params, .count = &rq.n_params},
	    {"keep-ai", .flag = &rq.keep_ai},
	    {0},
	};
	const char *bad;
	int rc = admin_options(cmd, argc, argv, opts);
	if (rc != ADMIN_GO ||
	    (rc = admin_check_operand(cmd, argc, argv, "conversation", rq.tenant, &rq.id)))
		goto done;
	if (!rq.text_file == !rq.template_name) {
		rc = admin_usage_error(cmd,
				       "give either --text-file FILE (or -) or --template NAME");
		goto done;
	}
	if (rq.text_file && (rq.language || rq.n_params)) {
		rc = admin_usage_error(cmd, "--language and --param go with --template only");
		goto done;
	}
	if (rq.template_name) {
		if ((bad = graph_check_template_name(rq.template_name))) {
			rc = admin_usage_error(cmd, "--template '%s' %s", rq.template_name, bad);
			goto done;
		}
		if (!rq.language) {
			rc =
			    admin_usage_error(cmd, "--template needs --language CODE (e.g. en_US)");
			goto done;
		}
		if ((bad = graph_check_template_language(rq.language))) {
			rc = admin_usage_error(cmd, "--language '%s' %s", rq.language, bad);
			goto done;
		}
		if (rq.n_params > GRAPH_TEMPLATE_PARAMS_MAX) {
			rc = admin_usage_error(cmd, "at most %d --param values",
					       GRAPH_TEMPLATE_PARAMS_MAX);
			goto done;
		}
		for (size_t i = 0; i < rq.n_params; i++)
			if ((bad = graph_check_template_param(rq.params[i]))) {
				rc = admin_usage_error(cmd, "--param %zu %s", i + 1, bad);
				goto done;
			}
	}
	char *text = NULL;
	if (rq.text_file) {
		text = admin_read_message(rq.text_file, CONVERSATION_SEND_MAX_BYTES, &bad);
		if (!text && bad) {
			rc = admin_usage_error(cmd, "--text-file %s: %s", rq.text_file, bad);
			goto done;
		}
		if (!text) {
			rc = admin_fail(cmd, "cannot read %s: %s", rq.text_file, strerror(errno));
			goto done;
		}
	}
	/* The retries' jitter (retry_delay_ms) differs between runs. */
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	if (!(rc = admin_connect(cmd)))
		rc = run_send(cmd, &rq, text);
	free(text);
done:
	free(rq.params);
	return rc;
}
