#ifndef PARLEY_EXTRACT_WORKER_H
#define PARLEY_EXTRACT_WORKER_H
/*
 * Lead extraction (issue #8): claims conversations whose extraction is due
 * through the database (parley_claim_extractions, with a lease), asks
 * OpenAI for a structured lead record from the transcript (lead_extract.h),
 * and stores it as the conversation's latest extraction. An invalid or
 * refused answer stores nothing; the attempt is counted and retried later
 * with a backoff kept in the database. Everything that must survive a crash
 * or be shared between processes lives in the database; this module holds
 * only the jobs in flight.
 *
 * It uses at most max(1, openai.max_in_flight / 4) upstream slots at once,
 * so that replies always have most of them.
 */
struct app;
struct http_client;
struct extract_worker;
struct worker;

/*
 * Starts claiming due extractions. Returns NULL (after logging why) when
 * extraction cannot run: neither openai.model nor extraction.prompt_id is
 * set, so the request could name no model.
 */
struct extract_worker *extract_worker_start(struct app *app, struct http_client *http);
/* Its claim loop (worker.h), for shutdown as the reply worker's
 * (reply_worker.h). */
struct worker *extract_worker_loop(const struct extract_worker *w);
/* Frees everything; jobs still in flight are abandoned (their leases run
 * out and they are claimed again). NULL is fine. */
void extract_worker_free(struct extract_worker *w);

#endif
