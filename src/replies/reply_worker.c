#include "reply_worker.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "clock.h"
#include "db.h"
#include "db_batch.h"
#include "graph.h"
#include "handoff_tool.h"
#include "http_client.h"
#include "json.h"
#include "log.h"
#include "meeting_tools.h"
#include "metrics.h"
#include "openai.h"
#include "referral.h"
#include "reply_signals.h"
#include "strbuf.h"
#include "text_split.h"
#include "webchat.h"
#include "worker.h"
#include "xalloc.h"

/* How many conversations one claim takes at most. */
#define CLAIM_BATCH 64
/* Group commit of the store and record steps (db_batch.h): statements of
 * each kind running at once, and replies per statement at most. */
#define STEP_BATCH_IN_FLIGHT 2
#define STEP_BATCH_MAX       256
/* Without a notification, look for due work at least this often: leases of
 * crashed processes run out, and other processes' debounce ends. */
#define IDLE_POLL_MS     1000
#define GRAPH_TIMEOUT_MS 30000
/* How long a claim holds without renewal; renewed every third of it. */
#define LEASE_SECONDS 30

enum step {
	STEP_CALENDAR, /* does the tenant get the meeting tools? */
	STEP_CONVERSATION,
	STEP_SAVE_CONVERSATION,
	STEP_RESPONSE,
	STEP_TOOLS, /* run the model's function calls (escalate_to_human recorded
		     * first: parley_handoff), then STEP_RESPONSE again */
	STEP_STORE,
	STEP_MARK_SENDING,
	STEP_SEND,
	STEP_RECORD,
	STEP_REFUND, /* a failed reply's credits go back */
	STEP_FINISH,
};

struct part {
	char *message_id;
	char *text;
};

/* One conversation's reply in production; listed by the loop. */
struct job {
	struct worker_job job; /* first: the loop's part (worker.h) */
	struct reply_worker *w;
	char ctx[160]; /* log context */
	enum step step;
	char *conversation_id, *customer, *user_id, *prompt_id, *channel, *access_token;
	char *openai_conversation_id;
	enum platform platform;
	bool charged;
	int through;
	char **inputs;
	bool *assistant; /* per input: a person's message (openai_merge_inputs) */
	size_t n_inputs;
	char *ad_context; /* the turn's ads for the agent (referral.h), or NULL */
	char *reply;      /* the model's text until stored */
	/* From the claim, passed on every attempt to store the reply: a store
	 * whose answer was lost and that runs again finds the reply stored
	 * under it and returns those rows (migration 0016). */
	char *reply_token;
	/* meeting tools (meeting_tools.h): declared when the tenant's calendar
	 * is connected; each round of function calls is answered in the next
	 * request, at most replies.max_tool_rounds rounds */
	bool tools;
	int tool_rounds;
	struct openai_call *calls; /* the round to run */
	size_t n_calls;
	char *tool_items; /* function_call_output items for the next request */
	int interrupted;  /* calls of an interrupted reply answered */
	/* escalate_to_human (handoff_tool.h): offered with handoff.enabled;
	 * round_handed_off once this round's call is recorded, escalated once
	 * any was: this reply is then sent despite the pause it made. */
	bool round_handed_off, escalated;
	/* A pause landed while the reply was in production: the parts not yet
	 * sending are dropped (parley_mark_sending refused). */
	bool paused;
	struct part *parts;
	size_t n_parts, next_part, sent_parts, failed_part;
	char *pending_pmid; /* platform id of the part being recorded */
	char *failure;      /* why the reply failed, for the remaining parts */
	bool has_slot;      /* holds one of the worker's upstream slots */
	bool waiting;       /* claimed, waiting in w->waiting for a slot */
	struct job *wait_next;
	struct reply_signals *signals; /* read and typing (reply_signals.h) */
};

struct reply_worker {
	struct app *app;
	struct http_client *http;
	struct worker *loop; /* claims, wakes, leases (worker.h) */
	const char *owner;   /* the loop's */
	/* openai.max_in_flight slots: a job holds one from its first upstream
	 * call through its last send, so its own requests never queue behind
	 * other jobs' (a produced reply is sent at once, not after the next
	 * reply's OpenAI call). Claimed jobs beyond the slots wait here, ready
	 * to start the moment a slot frees. */
	int slots_held;
	struct job *waiting, *waiting_tail;
	struct db_batch *stores; /* parley_store_replies */
	/* The declared tools with escalate_to_human (handoff.enabled): alone,
	 * and after the meeting tools; made at first use. */
	char *tools_handoff, *tools_all;
	struct db_batch *finishes; /* parley_finish_sent_replies */
};

static void run(struct job *j);
static void go(struct job *j, enum step s);

static const char *step_name(enum step s)
{
	static const char *const names[] = {"calendar",     "conversation", "save-conversation",
					    "response",     "tools",        "store",
					    "mark-sending", "send",         "record",
					    "refund",       "finish"};
	return names[s];
}

static void count_reply(const char *outcome)
{
	char labels[64];
	snprintf(labels, sizeof labels, "outcome=\"%s\"", outcome);
	metrics_add("parley_replies_total", labels, 1);
}

/* ops->free_job (worker_job_free). */
static void free_job(struct worker_job *job)
{
	struct job *j = (struct job *)job;
	struct reply_worker *w = j->w;
	if (j->waiting) {
		struct job **p = &w->waiting;
		while (*p != j)
			p = &(*p)->wait_next;
		*p = j->wait_next;
		if (w->waiting_tail == j) {
			w->waiting_tail = NULL;
			for (struct job *q = w->waiting; q; q = q->wait_next)
				w->waiting_tail = q;
		}
	}
	if (j->has_slot)
		w->slots_held--;
	reply_signals_stop(j->signals);
	free(j->conversation_id);
	free(j->customer);
	free(j->user_id);
	free(j->prompt_id);
	free(j->channel);
	xfree_secret(j->access_token);
	free(j->openai_conversation_id);
	for (size_t i = 0; i < j->n_inputs; i++)
		free(j->inputs[i]);
	free(j->inputs);
	free(j->assistant);
	free(j->ad_context);
	free(j->reply);
	free(j->reply_token);
	openai_calls_free(j->calls, j->n_calls);
	free(j->tool_items);
	for (size_t i = 0; i < j->n_parts; i++) {
		free(j->parts[i].message_id);
		free(j->parts[i].text);
	}
	free(j->parts);
	free(j->pending_pmid);
	free(j->failure);
	free(j);
}

/* Starts waiting jobs while slots are free. */
static void admit_waiting(struct reply_worker *w)
{
	while (!worker_closing(w->loop) && w->waiting &&
	       w->slots_held < w->app->cfg.openai_max_in_flight) {
		struct job *j = w->waiting;
		w->waiting = j->wait_next;
		if (!w->waiting)
			w->waiting_tail = NULL;
		j->waiting = false;
		j->wait_next = NULL;
		j->has_slot = true;
		w->slots_held++;
		go(j, j->step);
	}
}

/* A claimed job starts at step s once it has an upstream slot. */
static void admit(struct job *j, enum step s)
{
	struct reply_worker *w = j->w;
	j->step = s;
	j->waiting = true;
	if (w->waiting_tail)
		w->waiting_tail->wait_next = j;
	else
		w->waiting = j;
	w->waiting_tail = j;
	admit_waiting(w);
}

/* The job makes no more upstream calls: its slot goes to a waiting job. */
static void slot_release(struct job *j)
{
	if (!j->has_slot)
		return;
	j->has_slot = false;
	j->w->slots_held--;
	admit_waiting(j->w);
}

/* The job is over: make room and look for more. still_due: its
 * conversation may have work left (unknown, or customer messages that came
 * while it ran). */
static void job_end(struct job *j, bool still_due)
{
	struct reply_worker *w = j->w;
	worker_job_free(&j->job);
	admit_waiting(w);
	worker_job_ended(w->loop, still_due);
}

/* The job is over (failed or abandoned): its conversation may be due again. */
static void job_done(struct job *j)
{
	job_end(j, true);
}

/* The reply is produced (or failed): typing is no longer refreshed. */
static void signals_end(struct job *j)
{
	reply_signals_stop(j->signals);
	j->signals = NULL;
}

static void go(struct job *j, enum step s)
{
	j->step = s;
	j->job.attempt = 0;
	j->job.db_tries = 0;
	run(j);
}

static void reply_failed(struct job *j, const char *why);
static void db_refused(struct job *j, const char *err);

/*
 * A database step failed (worker_db_failed decides and logs): a transient
 * error is tried again a little later, and after too many tries the job is
 * left to lease expiry and recovery. Anything else would fail the same way
 * every time: the reply ends as failed at once (db_refused), and the worker
 * moves on.
 */
static void db_failed(struct job *j, const char *err)
{
	switch (worker_job_db_failed(&j->job, step_name(j->step), err)) {
	case WORKER_DB_DROP:
	case WORKER_DB_RETRY: return;
	case WORKER_DB_REFUSED: db_refused(j, err); return;
	case WORKER_DB_GIVE_UP:
		count_reply("abandoned");
		job_done(j);
		return;
	}
}

/*
 * A database step failed with an error that retrying cannot fix (a constraint
 * violation, a raised exception), logged with its SQLSTATE and counted: the
 * reply ends the way a final upstream refusal ends it — its stored parts
 * marked failed with the error, its credits given back unless a part was
 * recorded as sent (docs/architecture.md, A reply's path), its claim released.
 * A step of that ending that is refused too is skipped, down to the claim,
 * which at worst runs out.
 */
static void db_refused(struct job *j, const char *err)
{
	char *why = xasprintf("database error: %s", err);
	switch (j->step) {
	case STEP_MARK_SENDING:
		/* This part never left: it and the rest are recorded failed. */
		free(j->failure);
		j->failure = why;
		j->failed_part = j->next_part;
		go(j, STEP_RECORD);
		return;
	case STEP_RECORD:
		if (!j->failure) {
			/* The platform took this part, but its record is refused: it
			 * is recorded failed, with the reason, instead of sent, and
			 * the rest are not sent. */
			free(j->pending_pmid);
			j->pending_pmid = NULL;
			if (j->sent_parts > 0)
				j->sent_parts--;
			j->failure = xasprintf("accepted by the platform, but recording the send "
					       "failed: %s",
					       why);
			free(why);
			j->failed_part = j->next_part;
			go(j, STEP_RECORD);
			return;
		}
		/* Not even the failure can be recorded: the parts stay as they
		 * are (the next claim marks the one being sent failed, and sends
		 * those never started). */
		free(why);
		reply_failed(j, j->failure);
		return;
	case STEP_REFUND:
		log_error(j->ctx, "the failed reply's credits were not given back");
		free(why);
		go(j, STEP_FINISH);
		return;
	case STEP_FINISH:
		/* The claim runs out by itself. */
		free(why);
		count_reply("abandoned");
		job_done(j);
		return;
	default:
		/* Nothing of the reply was stored, or storing it is refused. */
		reply_failed(j, why);
		free(why);
		return;
	}
}

static void query(struct job *j, const char *sql, int n, const char *const *params, db_cb cb)
{
	db_query(j->w->app->db, sql, n, params, cb, j);
}

/* ---- steps ------------------------------------------------------------ */

static void on_finished(void *arg, PGresult *res, const char *err)
{
	(void)res;
	struct job *j = arg;
	if (err) {
		db_failed(j, err);
		return;
	}
	job_done(j);
}

static void finish(struct job *j)
{
	slot_release(j);
	j->step = STEP_FINISH;
	/* A webchat reply that ends without a message: the session's polls
	 * learn that agent_typing is over (webchat_poll.c). */
	bool webchat = j->platform == PLATFORM_WEBCHAT;
	if (j->failure && j->n_parts == 0) {
		/* Failed before anything was stored: the customer messages count
		 * as handled, or the conversation would be due again at once and
		 * a persistent upstream refusal would be asked forever. The next
		 * customer message starts a new reply. */
		char through[24];
		snprintf(through, sizeof through, "%d", j->through);
		const char *p[] = {j->conversation_id, j->w->owner, through, j->customer};
		query(j,
		      webchat ? "SELECT parley_skip_reply($1, $2, $3::integer), "
				"pg_notify('" WEBCHAT_NOTIFY_CHANNEL "', $4)"
			      : "SELECT parley_skip_reply($1, $2, $3::integer)",
		      webchat ? 4 : 3, p, on_finished);
		return;
	}
	const char *p[] = {j->conversation_id, j->w->owner, j->customer};
	query(j,
	      webchat ? "SELECT parley_finish_reply($1, $2), pg_notify('" WEBCHAT_NOTIFY_CHANNEL
			"', $3)"
		      : "SELECT parley_finish_reply($1, $2)",
	      webchat ? 3 : 2, p, on_finished);
}

static void on_refunded(void *arg, PGresult *res, const char *err)
{
	(void)res;
	struct job *j = arg;
	if (err) {
		db_failed(j, err);
		return;
	}
	j->charged = false;
	go(j, STEP_FINISH);
}

static void refund(struct job *j)
{
	char amount[24];
	snprintf(amount, sizeof amount, "%ld", j->w->app->cfg.replies_credits_per_reply);
	/* Applies once (migration 0016): run again after a lost answer, or
	 * after our claim ran out, it gives nothing back twice. */
	const char *p[] = {j->conversation_id, j->w->owner, j->user_id, amount};
	query(j, "SELECT parley_refund_reply($1, $2, $3, $4::integer)", 4, p, on_refunded);
}

/*
 * The reply failed for good. If none of it reached the customer (as far as the
 * database knows: no part recorded sent), the credits taken for it go back
 * (docs/architecture.md, A reply's path): whether they were taken by this job
 * or, for a resumed reply, by the process that stored it.
 */
static void reply_failed(struct job *j, const char *why)
{
	signals_end(j);
	if (!j->failure)
		j->failure = xstrdup(why);
	slot_release(j);
	count_reply(j->paused ? "paused" : "failed");
	if (j->sent_parts > 0 || (!j->charged && j->n_parts == 0)) {
		go(j, STEP_FINISH);
		return;
	}
	go(j, STEP_REFUND);
}

/*
 * An upstream call finished (worker_job_upstream): WORKER_UP_OK to go on;
 * WORKER_UP_RETRYING when a retry is scheduled (run() repeats the step);
 * WORKER_UP_FAILED when it failed for good, with the reason in j->failure.
 */
static enum worker_upstream upstream_outcome(struct job *j, const char *target,
					     const struct http_resp *resp, const char *err)
{
	char *why = NULL;
	enum worker_upstream o = worker_job_upstream(&j->job, target, resp, err,
						     j->w->app->cfg.replies_max_attempts, &why);
	if (o == WORKER_UP_FAILED) {
		log_error(j->ctx, "%s failed after %d attempt(s): %s", target, j->job.attempt + 1,
			  why);
		free(j->failure);
		j->failure = why;
	}
	return o;
}

static void http_post(struct job *j, const char *url, const char *bearer, const char *body,
		      long timeout_ms, bool priority, http_done_cb cb)
{
	worker_job_post(&j->job, j->w->http, url, bearer, body, timeout_ms, priority, cb);
}

static void on_conversation(void *arg, const struct http_resp *resp, const char *err);

static void on_conversation_saved(void *arg, PGresult *res, const char *err)
{
	(void)res;
	struct job *j = arg;
	if (err) {
		db_failed(j, err);
		return;
	}
	go(j, STEP_RESPONSE);
}

/* An OpenAI call finished: true to go on with its answer; false when the
 * job was freed (shutdown), a retry is scheduled, or the reply failed. */
static bool openai_answered(struct job *j, const struct http_resp *resp, const char *err)
{
	if (worker_job_closing(&j->job))
		return false;
	switch (upstream_outcome(j, "openai", resp, err)) {
	case WORKER_UP_RETRYING: return false;
	case WORKER_UP_FAILED: reply_failed(j, j->failure); return false;
	case WORKER_UP_OK: break;
	}
	return true;
}

static void on_conversation(void *arg, const struct http_resp *resp, const char *err)
{
	struct job *j = arg;
	if (!openai_answered(j, resp, err))
		return;
	char *id = openai_conversation_id(resp->body, resp->body_len);
	if (!id) {
		log_error(j->ctx, "OpenAI created a conversation without an id");
		reply_failed(j, "openai: conversation without an id");
		return;
	}
	j->openai_conversation_id = id;
	go(j, STEP_SAVE_CONVERSATION);
}

static void on_stored(void *arg, PGresult *res, int row, const char *err)
{
	struct job *j = arg;
	if (err) {
		db_failed(j, err);
		return;
	}
	if (PQgetisnull(res, row, 0)) {
		/* Our lease ran out and someone else has the conversation now:
		 * whatever we produced must not be sent. */
		log_warn(j->ctx, "claim lost before the reply was stored; dropping it");
		count_reply("lost_claim");
		job_done(j);
		return;
	}
	cJSON *arr = cJSON_Parse(PQgetvalue(res, row, 0));
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(arr, "paused"))) {
		/* The AI was paused in this conversation while the reply was
		 * produced: the store refused it, gave the credits back and
		 * released the claim, in one transaction (handoff.sql). */
		log_info(j->ctx,
			 "the conversation was paused while its reply was produced: "
			 "dropped%s",
			 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(arr, "refunded"))
			     ? ", credits given back"
			     : "");
		cJSON_Delete(arr);
		count_reply("paused");
		job_end(j, false);
		return;
	}
	size_t n = (size_t)cJSON_GetArraySize(arr);
	j->parts = xcalloc(n ? n : 1, sizeof *j->parts);
	cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		struct part *p = &j->parts[j->n_parts++];
		p->message_id =
		    xstrdup(cJSON_GetStringValue(cJSON_GetObjectItem(it, "message_id")));
		p->text = xstrdup(cJSON_GetStringValue(cJSON_GetObjectItem(it, "text")));
	}
	cJSON_Delete(arr);
	/* The charge stays on the conversation until a part is recorded sent
	 * (spent) or the reply fails for good (refunded): a crash in between
	 * leaves it for the next claim to settle (migration 0016). */
	/* Storing marked the first part as being sent. */
	signals_end(j);
	go(j, STEP_SEND);
}

static void store(struct job *j)
{
	char **parts = NULL;
	size_t n = text_split(j->reply, graph_max_chars(j->platform), &parts);
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(parts[i]));
	text_split_free(parts);
	char *json = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	char through[24];
	snprintf(through, sizeof through, "%d", j->through);
	const char *values[] = {j->conversation_id, through, json, j->reply_token,
				j->escalated ? "t" : "f"};
	db_batch_add(j->w->stores, values, NULL, on_stored, j);
	free(json);
}

/* What the model reads for a call whose reply was cut off (a crash in the
 * middle of a tool round): the tool may or may not have acted. */
#define INTERRUPTED_OUTPUT                                                                         \
	"{\"ok\":false,\"error\":\"interrupted\",\"message\":\"This call was interrupted before "  \
	"it finished. Call the tool again if it is still needed.\"}"

/*
 * A conversation can hold a function call no request answered: a process
 * died in the middle of a tool round, and OpenAI refuses every later
 * request until the call is answered. Answer it and ask again; true when
 * that is under way.
 */
static bool answer_interrupted(struct job *j, const struct http_resp *resp, const char *err)
{
	if (err || resp->status != 400 || worker_closing(j->w->loop) ||
	    j->interrupted >= OPENAI_MAX_CALLS)
		return false;
	char *call_id = openai_unanswered_call(resp->body, resp->body_len);
	if (!call_id)
		return false;
	log_warn(j->ctx, "the conversation has an unanswered function call from an interrupted "
			 "reply; answering it");
	char *items = openai_items_add_output(j->tool_items, call_id, INTERRUPTED_OUTPUT);
	free(call_id);
	free(j->tool_items);
	j->tool_items = items;
	j->interrupted++;
	worker_count_upstream("openai", resp, err, clock_mono() - j->job.call_started);
	run(j);
	return true;
}

static void on_response(void *arg, const struct http_resp *resp, const char *err)
{
	struct job *j = arg;
	if (answer_interrupted(j, resp, err))
		return;
	if (!openai_answered(j, resp, err))
		return;
	const char *why = NULL;
	char *text = NULL;
	struct openai_call *calls = NULL;
	size_t n_calls = 0;
	enum openai_outcome o =
	    openai_response_read(resp->body, resp->body_len, &text, &calls, &n_calls, &why);
	if (o == OPENAI_CALLS) {
		if ((j->tools || j->w->app->cfg.handoff_enabled) &&
		    j->tool_rounds < j->w->app->cfg.replies_max_tool_rounds) {
			j->calls = calls;
			j->n_calls = n_calls;
			go(j, STEP_TOOLS);
			return;
		}
		/* Tools not offered, or calls after the last round (whose request
		 * said tool_choice "none"): there is no answer to send. */
		openai_calls_free(calls, n_calls);
		o = OPENAI_FINAL;
		why = j->tools || j->w->app->cfg.handoff_enabled
			  ? "the model kept calling tools after replies.max_tool_rounds"
			  : "the model called a tool it was not offered";
	}
	if (o == OPENAI_RETRYABLE &&
	    worker_job_retry(&j->job, "openai", why, j->w->app->cfg.replies_max_attempts))
		return;
	if (o != OPENAI_TEXT || !*text) {
		log_error(j->ctx, "openai: %s", why ? why : "empty reply");
		free(text);
		reply_failed(j, why ? why : "empty reply");
		return;
	}
	j->reply = text;
	go(j, STEP_STORE);
}

#define PAUSED_FAILURE "not sent: the AI was paused in this conversation"

static void on_marked(void *arg, PGresult *res, const char *err)
{
	struct job *j = arg;
	if (err) {
		db_failed(j, err);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		/* A pause landed between two parts: this one and the rest are
		 * recorded as not sent; the parts sent stay sent. */
		log_info(j->ctx, "the conversation was paused: %zu of %zu part(s) not sent",
			 j->n_parts - j->next_part, j->n_parts);
		j->paused = true;
		free(j->failure);
		j->failure = xstrdup(PAUSED_FAILURE);
		j->failed_part = j->next_part;
		go(j, STEP_RECORD);
		return;
	}
	go(j, STEP_SEND);
}

/*
 * Graph answered a send with a platform id that the database holds for
 * another message already (holder, from parley_record_sent): the send was
 * recorded as sent without the id, which stays with holder (migration
 * 0015). Logged and counted; the reply goes on.
 */
static void note_collision(struct job *j, PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return;
	log_warn(j->ctx,
		 "graph returned a platform message id already recorded for message %s; "
		 "this part is recorded as sent without it",
		 PQgetvalue(res, row, col));
	metrics_add("parley_platform_id_collisions_total", NULL, 1);
}

static void on_recorded(void *arg, PGresult *res, const char *err)
{
	struct job *j = arg;
	if (err) {
		db_failed(j, err);
		return;
	}
	if (!j->failure)
		note_collision(j, res, 0, 0);
	j->next_part++;
	free(j->pending_pmid);
	j->pending_pmid = NULL;
	if (j->failure) {
		/* The reply failed: the remaining parts are not sent either. */
		if (j->next_part < j->n_parts) {
			go(j, STEP_RECORD);
			return;
		}
		reply_failed(j, j->failure);
		return;
	}
	/* The last part is recorded by on_recorded_last, so more follow. */
	go(j, STEP_MARK_SENDING);
}

static void on_recorded_last(void *arg, PGresult *res, int row, const char *err)
{
	struct job *j = arg;
	if (err) {
		db_failed(j, err); /* runs record() again: both or neither happened */
		return;
	}
	note_collision(j, res, row, 1);
	count_reply("sent");
	log_info(j->ctx, "reply sent in %zu message(s)", j->n_parts);
	/* Customer messages that came while the reply was produced keep the
	 * conversation due: it is answered next. */
	job_end(j, strcmp(PQgetvalue(res, row, 0), "t") == 0);
}

static void record(struct job *j)
{
	struct part *p = &j->parts[j->next_part];
	/* Nothing more goes upstream: the last part, or the rest of a failed
	 * reply. Its slot serves the next reply while this one is recorded. */
	if (j->failure || j->next_part + 1 == j->n_parts)
		slot_release(j);
	if (j->failure) {
		/* The part that failed gets the platform's error; the ones after it
		 * were never sent, and say why. */
		char *why = j->next_part > j->failed_part && !j->paused
				? xasprintf("not sent: an earlier part failed (%s)", j->failure)
				: xstrdup(j->failure);
		const char *params[] = {p->message_id, why};
		query(j, "SELECT parley_record_failed($1, $2)", 2, params, on_recorded);
		free(why);
		return;
	}
	/* A webchat reply is readable as soon as it is recorded: the
	 * notification wakes the session's polls in every process. */
	bool webchat = j->platform == PLATFORM_WEBCHAT;
	if (j->next_part + 1 == j->n_parts) {
		/* The last part: record it and end the claim in one transaction,
		 * with other replies' last parts. */
		const char *values[] = {p->message_id, j->pending_pmid, j->conversation_id,
					webchat ? j->customer : NULL};
		db_batch_add(j->w->finishes, values, NULL, on_recorded_last, j);
		return;
	}
	const char *params[] = {p->message_id, j->pending_pmid, j->customer};
	query(j,
	      webchat ? "SELECT parley_record_sent($1, $2), pg_notify('" WEBCHAT_NOTIFY_CHANNEL
			"', $3)"
		      : "SELECT parley_record_sent($1, $2)",
	      webchat ? 3 : 2, params, on_recorded);
}

/* Meta's error code of a failed send ("131047"), "http_<status>" without
 * one, or the transport error's kind. */
static void meta_error_code(const struct http_resp *resp, const char *err, char *out, size_t len)
{
	if (err) {
		snprintf(out, len, "%s", http_err_kind_name(resp->err_kind));
		return;
	}
	cJSON *root = cJSON_ParseWithLength(resp->body, resp->body_len);
	cJSON *code = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(root, "error"), "code");
	if (cJSON_IsNumber(code))
		snprintf(out, len, "%d", code->valueint);
	else
		snprintf(out, len, "http_%ld", resp->status);
	cJSON_Delete(root);
}

static void count_send_failure(const struct http_resp *resp, const char *err)
{
	char code[32];
	meta_error_code(resp, err, code, sizeof code);
	char labels[64];
	snprintf(labels, sizeof labels, "code=\"%s\"", code);
	metrics_add("parley_send_failures_total", labels, 1);
}

static void on_sent(void *arg, const struct http_resp *resp, const char *err)
{
	struct job *j = arg;
	if (worker_job_closing(&j->job))
		return;
	switch (upstream_outcome(j, "graph", resp, err)) {
	case WORKER_UP_RETRYING: return;
	case WORKER_UP_FAILED:
		count_send_failure(resp, err);
		j->failed_part = j->next_part;
		go(j, STEP_RECORD);
		return;
	case WORKER_UP_OK: break;
	}
	char labels[64];
	snprintf(labels, sizeof labels, "platform=\"%s\",direction=\"outbound\"",
		 platform_name(j->platform));
	metrics_add("parley_messages_total", labels, 1);
	char *pmid = graph_sent_message_id(j->platform, resp->body, resp->body_len);
	if (!pmid)
		log_warn(j->ctx, "graph accepted the message but returned no id");
	j->pending_pmid = pmid;
	j->sent_parts++;
	go(j, STEP_RECORD);
}

static void send_part(struct job *j)
{
	struct part *p = &j->parts[j->next_part];
	if (j->platform == PLATFORM_WEBCHAT) {
		/* Webchat replies are read through the widget's poll
		 * (docs/architecture.md, Webchat). */
		j->sent_parts++;
		go(j, STEP_RECORD);
		return;
	}
	const struct config *cfg = &j->w->app->cfg;
	char *url = graph_send_url(j->platform == PLATFORM_INSTAGRAM ? cfg->meta_instagram_url
								     : cfg->meta_whatsapp_url,
				   j->channel);
	if (!url) {
		/* Retrying cannot fix the channel's row: the send fails for good,
		 * and the id is not repeated (it may be anything). */
		log_error(j->ctx, "not sent: the channel's meta_phone_number_id is not Meta's "
				  "numeric id; fix the phone_numbers row");
		metrics_add("parley_send_failures_total", "code=\"invalid_channel_id\"", 1);
		free(j->failure);
		j->failure = xstrdup("channel id is not numeric: not sent");
		j->failed_part = j->next_part;
		go(j, STEP_RECORD);
		return;
	}
	char *body = graph_send_body(j->platform, j->customer, p->text);
	/* A produced reply goes out before new replies are started. */
	http_post(j, url, j->access_token, body, GRAPH_TIMEOUT_MS, true, on_sent);
	free(body);
	free(url);
}

static enum step first_step(struct job *j)
{
	if (meeting_tools_enabled(j->w->app->meetings))
		return STEP_CALENDAR;
	return j->openai_conversation_id ? STEP_RESPONSE : STEP_CONVERSATION;
}

static void on_offered(void *arg, bool offer)
{
	struct job *j = arg;
	if (worker_job_closing(&j->job))
		return;
	j->tools = offer;
	go(j, j->openai_conversation_id ? STEP_RESPONSE : STEP_CONVERSATION);
}

/* What the model reads for a call of a tool it was not offered (a meeting
 * tool without a connected calendar). */
#define UNKNOWN_TOOL_OUTPUT                                                                        \
	"{\"ok\":false,\"error\":\"unknown_tool\",\"message\":\"There is no such tool.\"}"

/* An escalate_to_human call, and the tool offered (handoff.enabled): with
 * the tool off, such a call is answered like any tool not offered. */
static bool is_handoff(const struct job *j, const struct openai_call *c)
{
	return j->w->app->cfg.handoff_enabled && handoff_tool_is_call(c);
}

/* items (the meeting tools' outputs, or NULL) with the outputs of the
 * round's calls that the meeting tools did not run: {"ok":true} for
 * escalate_to_human (recorded already), unknown_tool for the rest when the
 * meeting tools were not offered. */
static char *local_outputs(const struct job *j, char *items)
{
	for (size_t i = 0; i < j->n_calls; i++) {
		const struct openai_call *c = &j->calls[i];
		bool handoff = is_handoff(j, c);
		if (!handoff && j->tools)
			continue;
		char *more = openai_items_add_output(
		    items, c->call_id, handoff ? HANDOFF_TOOL_OUTPUT : UNKNOWN_TOOL_OUTPUT);
		free(items);
		items = more;
	}
	return items;
}

/* The round's outputs are ready: the next request carries them. */
static void tools_answered(struct job *j, char *items)
{
	openai_calls_free(j->calls, j->n_calls);
	j->calls = NULL;
	j->n_calls = 0;
	free(j->tool_items);
	j->tool_items = items;
	j->tool_rounds++;
	j->round_handed_off = false;
	go(j, STEP_RESPONSE);
}

static void on_tools_done(void *arg, char *items)
{
	struct job *j = arg;
	if (worker_closing(j->w->loop) || !items) {
		free(items);
		worker_job_free(&j->job);
		return;
	}
	tools_answered(j, local_outputs(j, items));
}

static void on_handed_off(void *arg, PGresult *res, const char *err)
{
	(void)res;
	struct job *j = arg;
	if (err) {
		db_failed(j, err); /* runs the round again: parley_handoff twice is once */
		return;
	}
	j->round_handed_off = true;
	j->escalated = true;
	log_info(j->ctx, "the agent handed the conversation to a person; the AI is paused until "
			 "it is resumed");
	metrics_add("parley_handoffs_total", "source=\"tool\"", 1);
	go(j, STEP_TOOLS);
}

/*
 * A round of function calls: an escalate_to_human call is recorded first
 * (parley_handoff, with the first such call's reason), then the meeting
 * tools run the calls meant for them; every call is answered.
 */
static void run_tools(struct job *j)
{
	log_debug(j->ctx, "running %zu tool call(s), round %d", j->n_calls, j->tool_rounds + 1);
	size_t n_meeting = 0;
	const struct openai_call *handoff = NULL;
	for (size_t i = 0; i < j->n_calls; i++) {
		if (is_handoff(j, &j->calls[i]))
			handoff = handoff ? handoff : &j->calls[i];
		else
			n_meeting++;
	}
	if (handoff && !j->round_handed_off) {
		char *reason = handoff_tool_reason(handoff->arguments);
		const char *p[] = {j->conversation_id, reason};
		query(j, "SELECT parley_handoff($1, $2)", 2, p, on_handed_off);
		free(reason);
		return;
	}
	if (!j->tools || n_meeting == 0) {
		tools_answered(j, local_outputs(j, NULL));
		return;
	}
	if (n_meeting == j->n_calls) {
		meeting_tools_run(j->w->app->meetings, j->user_id, j->conversation_id, j->ctx,
				  j->calls, j->n_calls, on_tools_done, j);
		return;
	}
	struct openai_call *meeting = xcalloc(n_meeting, sizeof *meeting);
	size_t k = 0;
	for (size_t i = 0; i < j->n_calls; i++)
		if (!is_handoff(j, &j->calls[i]))
			meeting[k++] = j->calls[i]; /* shallow: meeting_tools_run copies */
	meeting_tools_run(j->w->app->meetings, j->user_id, j->conversation_id, j->ctx, meeting,
			  n_meeting, on_tools_done, j);
	free(meeting);
}

/* The tools array of a request (JSON text owned by the worker), or NULL. */
static const char *declared_tools(struct job *j)
{
	struct reply_worker *w = j->w;
	const char *meeting = j->tools ? meeting_tools_declarations(w->app->meetings) : NULL;
	if (!w->app->cfg.handoff_enabled)
		return meeting;
	char **slot = meeting ? &w->tools_all : &w->tools_handoff;
	if (!*slot)
		*slot = handoff_tool_declare(meeting);
	return *slot;
}

/* Runs the job's current step; every step ends in exactly one callback. */
static void run(struct job *j)
{
	const struct config *cfg = &j->w->app->cfg;
	switch (j->step) {
	case STEP_CALENDAR:
		meeting_tools_offer(j->w->app->meetings, j->user_id, on_offered, j);
		return;
	case STEP_CONVERSATION: {
		char *url = xasprintf("%s/conversations", cfg->openai_url);
		char *body = openai_conversation_request();
		http_post(j, url, cfg->openai_api_key, body, cfg->openai_timeout_seconds * 1000,
			  false, on_conversation);
		free(body);
		free(url);
		return;
	}
	case STEP_SAVE_CONVERSATION: {
		const char *p[] = {j->conversation_id, j->openai_conversation_id};
		query(j,
		      "UPDATE conversations SET openai_conversation_id = $2 WHERE conversation_id "
		      "= $1",
		      2, p, on_conversation_saved);
		return;
	}
	case STEP_RESPONSE: {
		char *url = xasprintf("%s/responses", cfg->openai_url);
		const char *tools = declared_tools(j);
		struct openai_turn t = {
		    .prompt_id = j->prompt_id,
		    .conversation_id = j->openai_conversation_id,
		    .model = cfg->openai_model,
		    .items = j->tool_items,
		    /* After a tool round only the outputs go: the customer's
		     * messages are in the conversation already. */
		    .inputs = (const char *const *)j->inputs,
		    .n_inputs = j->tool_rounds ? 0 : j->n_inputs,
		    .assistant = j->assistant,
		    .context = j->ad_context,
		    .tools = tools,
		    /* After the last round the model must answer in words. */
		    .tool_choice = !tools                                           ? NULL
				   : j->tool_rounds >= cfg->replies_max_tool_rounds ? "none"
										    : "auto",
		};
		char *body = openai_turn_request(&t);
		http_post(j, url, cfg->openai_api_key, body, cfg->openai_timeout_seconds * 1000,
			  false, on_response);
		free(body);
		free(url);
		return;
	}
	case STEP_TOOLS: run_tools(j); return;
	case STEP_STORE: store(j); return;
	case STEP_MARK_SENDING: {
		const char *p[] = {j->parts[j->next_part].message_id, j->escalated ? "t" : "f"};
		/* Committed before the send: after a crash this tells "maybe sent".
		 * Refused once the conversation is paused (handoff.sql). */
		query(j, "SELECT parley_mark_sending($1, $2::boolean)", 2, p, on_marked);
		return;
	}
	case STEP_SEND: send_part(j); return;
	case STEP_RECORD: record(j); return;
	case STEP_REFUND: refund(j); return;
	case STEP_FINISH: finish(j); return;
	}
}

/* ---- claiming --------------------------------------------------------- */

static void start_job(void *ctx, const cJSON *o)
{
	struct reply_worker *w = ctx;
	struct job *j = xcalloc(1, sizeof *j);
	j->w = w;
	worker_job_add(w->loop, &j->job, j->ctx);
	j->conversation_id = json_dup_string(o, "conversation_id");
	j->customer = json_dup_string(o, "customer");
	j->user_id = json_dup_string(o, "user_id");
	j->prompt_id = json_dup_string(o, "prompt_id");
	j->channel = json_dup_string(o, "channel");
	j->access_token = json_dup_string(o, "access_token");
	j->openai_conversation_id = json_dup_string(o, "openai_conversation_id");
	j->charged = cJSON_IsTrue(cJSON_GetObjectItem(o, "charged"));
	j->through = cJSON_GetObjectItem(o, "through")->valueint;
	j->reply_token = json_dup_string(o, "reply_token");
	char *platform = json_dup_string(o, "platform");
	if (platform_from_name(platform, &j->platform) < 0)
		j->platform = PLATFORM_WHATSAPP;
	snprintf(j->ctx, sizeof j->ctx, "conv=%s tenant=%s platform=%s", j->conversation_id,
		 j->user_id ? j->user_id : "?", platform ? platform : "?");
	free(platform);

	/* Claimed again while this process is still at its earlier reply: that
	 * job could not renew its lease (the database was away longer than the
	 * lease, e.g. during a failover) and this process's own claim took the
	 * conversation back. Both jobs would hold the one lease (same owner) and
	 * pass its checks, so both would store and send a reply to the same
	 * messages. The earlier job goes on (it renews and releases the lease);
	 * this one is dropped, the lease left as it is. */
	for (struct job *o2 = (struct job *)worker_jobs(w->loop); o2;
	     o2 = (struct job *)o2->job.next) {
		if (o2 != j && o2->conversation_id && j->conversation_id &&
		    strcmp(o2->conversation_id, j->conversation_id) == 0) {
			log_warn(j->ctx, "claimed again while its earlier reply is still in "
					 "progress here; the earlier one goes on");
			worker_job_free(&j->job);
			return;
		}
	}

	if (cJSON_IsTrue(cJSON_GetObjectItem(o, "no_credits"))) {
		/* The claim found too few credits and already released it. */
		log_warn(j->ctx, "tenant has too few credits: no reply");
		metrics_add("parley_credit_refusals_total", NULL, 1);
		count_reply("no_credits");
		metrics_add("parley_replies_skipped_total", "reason=\"no_credits\"", 1);
		worker_job_free(&j->job);
		return;
	}
	const char *skipped = cJSON_GetStringValue(cJSON_GetObjectItem(o, "skipped"));
	if (skipped) {
		/* Paused, or the 24-hour window closed (SPEC 9.2, 9.3): the claim
		 * charged nothing, dropped what was unsent and released it. */
		char labels[64];
		log_info(j->ctx, "%s: no reply",
			 strcmp(skipped, "paused") == 0 ? "the AI is paused"
							: "the 24-hour window has closed");
		count_reply(skipped);
		snprintf(labels, sizeof labels, "reason=\"%s\"", skipped);
		metrics_add("parley_replies_skipped_total", labels, 1);
		worker_job_free(&j->job);
		return;
	}

	/* The unanswered customer messages, and what a person wrote since the
	 * agent's last turn (parley_claim_replies), in sequence order. */
	j->n_inputs =
	    openai_merge_inputs(cJSON_GetObjectItem(o, "inputs"), cJSON_GetObjectItem(o, "human"),
				&j->inputs, &j->assistant);
	cJSON *it;
	/* The ads these messages came from (parley_claim_replies, 0014). */
	j->ad_context = referral_agent_context(cJSON_GetObjectItem(o, "referrals"));

	cJSON *unsent = cJSON_GetObjectItem(o, "unsent");
	size_t n_unsent = (size_t)cJSON_GetArraySize(unsent);
	if (n_unsent) {
		/* A reply stored by a process that died before sending it. */
		j->parts = xcalloc(n_unsent, sizeof *j->parts);
		cJSON_ArrayForEach(it, unsent)
		{
			j->parts[j->n_parts].message_id = json_dup_string(it, "message_id");
			j->parts[j->n_parts].text = json_dup_string(it, "text");
			j->n_parts++;
		}
		log_info(j->ctx, "resuming %zu unsent message(s)", n_unsent);
		admit(j, STEP_MARK_SENDING);
		return;
	}
	/* The claim took the credits (parley_claim_replies). */
	log_debug(j->ctx, "producing a reply to %zu message(s)", j->n_inputs);
	/* Read and typing go out now, and nothing waits for them. */
	j->signals = reply_signals_start(
	    w->app->base, w->http, &w->app->cfg,
	    &(struct reply_signals_target){
		.platform = j->platform,
		.channel = j->channel,
		.access_token = j->access_token,
		.customer = j->customer,
		.message_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "read_id")),
		.ctx = j->ctx});
	admit(j, first_step(j));
}

/* Up to openai.max_in_flight jobs hold slots and as many more wait,
 * claimed and ready, so that a freed slot is used at once instead of after
 * a claim's commit. Bounded, so that one process does not hoard work that
 * another could start sooner. */
static long room(void *ctx)
{
	struct reply_worker *w = ctx;
	long room = 2 * w->app->cfg.openai_max_in_flight - worker_active(w->loop);
	/* While claimed work still waits, a claim for the one or two places
	 * that a finishing job just made would cost a transaction each: wait
	 * until a claim's worth has freed up. */
	if (w->waiting && room < CLAIM_BATCH)
		return 0;
	return room;
}

/* The claim also takes each reply's credits: one commit for the batch. */
static void claim_params(void *ctx, struct worker_params *p)
{
	worker_param_long(p, ((struct reply_worker *)ctx)->app->cfg.replies_credits_per_reply);
}

/* The conversation becomes due once its debounce is over. */
static long notify_delay_ms(void *ctx)
{
	return ((struct reply_worker *)ctx)->app->cfg.replies_debounce_ms + 10;
}

static void hand_back(void *ctx);

static void run_job(struct worker_job *job)
{
	run((struct job *)job);
}

static const struct worker_ops ops = {
    .name = "replies",
    .step_prefix = "",
    /* Claimed work waits for a slot (admit), and is handed back at a stop. */
    .claim_sql = "SELECT parley_claim_replies($1, $2::integer, $3::integer, $4::integer)",
    .claim_params = claim_params,
    .room = room,
    .claim_batch = CLAIM_BATCH,
    .start_job = start_job,
    .next_due_sql = "SELECT parley_next_reply_ms()",
    /* A notification wakes every process; the poll is the safety net. */
    .notify_channel = "parley_reply_due",
    .notify_delay_ms = notify_delay_ms,
    .poll_ms = IDLE_POLL_MS,
    .renew_sql = "SELECT parley_renew_reply_leases($1, $2::integer)",
    .lease_seconds = LEASE_SECONDS,
    .hand_back = hand_back,
    .run_job = run_job,
    .free_job = free_job,
};

/* A group-committed step: sql takes the worker's owner, then credits when
 * not NULL (replies.credits_per_reply), then the columns. */
static struct db_batch *step_batch(struct reply_worker *w, const char *sql, const char *credits,
				   const enum db_batch_type *cols, int ncols)
{
	const char *fixed[] = {w->owner, credits};
	return db_batch_new(w->app->db, &(struct db_batch_config){
					    .sql = sql,
					    .fixed = fixed,
					    .nfixed = credits ? 2 : 1,
					    .columns = cols,
					    .ncols = ncols,
					    .max_in_flight = STEP_BATCH_IN_FLIGHT,
					    .max_items = STEP_BATCH_MAX,
					});
}

struct reply_worker *reply_worker_start(struct app *app, struct http_client *http)
{
	struct reply_worker *w = xcalloc(1, sizeof *w);
	w->app = app;
	w->http = http;
	/* The loop starts claiming from the loop, after this returns. */
	w->loop = worker_new(&ops, w, app->base, app->db);
	w->owner = worker_owner_of(w->loop);
	metrics_declare("parley_handoffs_total", METRIC_COUNTER,
			"Conversations handed to a person, by source (tool: the agent's "
			"escalate_to_human).");
	reply_signals_declare_metrics();
	static const enum db_batch_type store_cols[] = {
	    DB_BATCH_TEXT, DB_BATCH_TEXT, DB_BATCH_JSONB, DB_BATCH_TEXT, DB_BATCH_TEXT};
	static const enum db_batch_type finish_cols[] = {DB_BATCH_TEXT, DB_BATCH_TEXT,
							 DB_BATCH_TEXT, DB_BATCH_TEXT};
	/* (conversation, through, parts, token, escalated) and (message,
	 * platform id, conversation, webchat session or NULL) per reply; the
	 * store gives a paused conversation's credits back (handoff.sql). */
	char credits[24];
	snprintf(credits, sizeof credits, "%ld", app->cfg.replies_credits_per_reply);
	w->stores = step_batch(w,
			       "SELECT parley_store_replies($1, $2::integer, $3::text[],"
			       " $4::text[]::integer[], $5::jsonb[], $6::text[],"
			       " $7::text[]::boolean[])",
			       credits, store_cols, 5);
	w->finishes = step_batch(w,
				 "SELECT due, pmid_holder FROM parley_finish_sent_replies($1,"
				 " $2::text[], $3::text[], $4::text[], $5::text[])",
				 NULL, finish_cols, 4);
	return w;
}

static void on_handed_back(void *arg, PGresult *res, const char *err)
{
	(void)res;
	struct job *j = arg;
	/* On failure the lease runs out instead; the claim's charge stays on
	 * the conversation, so whoever takes it next does not charge again. */
	if (err)
		log_warn(j->ctx, "handing back a claim failed: %s", err);
	worker_job_free(&j->job);
}

/* Shutdown: claimed jobs still waiting for a slot end their claims
 * (worker_stop). */
static void hand_back(void *ctx)
{
	struct reply_worker *w = ctx;
	while (w->waiting) {
		struct job *j = w->waiting;
		w->waiting = j->wait_next;
		j->waiting = false;
		j->wait_next = NULL;
		const char *p[] = {j->conversation_id, w->owner};
		query(j, "SELECT parley_finish_reply($1, $2)", 2, p, on_handed_back);
	}
	w->waiting_tail = NULL;
}

struct worker *reply_worker_loop(const struct reply_worker *w)
{
	return w->loop;
}

void reply_worker_free(struct reply_worker *w)
{
	if (!w)
		return;
	worker_close(w->loop);
	/* Queued steps fail with "shutting down", which frees their jobs. */
	db_batch_free(w->stores);
	db_batch_free(w->finishes);
	worker_free(w->loop);
	free(w->tools_handoff);
	free(w->tools_all);
	free(w);
}
