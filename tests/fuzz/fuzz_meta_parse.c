/*
 * libFuzzer target for the webhook path before storage: signature check and
 * parse of the same bytes, as the daemon does them. Besides not crashing or
 * leaking, every batch must hold only what meta_parse.h promises.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "meta_parse.h"
#include "utf8.h"
#include "webhook_sig.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	json_init();
	return 0;
}

static void check_text(const char *s, size_t max)
{
	if (!s || strlen(s) > max)
		abort();
}

/* NULL or at most width characters (code points, as PostgreSQL counts them). */
static void check_width(const char *s, size_t width)
{
	if (s && utf8_count(s, strlen(s)) > width)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *const secrets[] = {"fuzz-secret", "other-secret", NULL};
	const char *body = (const char *)data;

	/* The first line doubles as a header, so the parser of it gets exercised too. */
	const uint8_t *nl = memchr(data, '\n', size < 128 ? size : 128);
	if (nl) {
		size_t hlen = (size_t)(nl - data);
		char *header = malloc(hlen + 1);
		memcpy(header, data, hlen);
		header[hlen] = '\0';
		if (webhook_sig_verify(header, nl + 1, size - hlen - 1, secrets)) {
			/* Forging HMAC-SHA256 by fuzzing would be news. */
			char *mine = webhook_sig_header("fuzz-secret", nl + 1, size - hlen - 1);
			char *other = webhook_sig_header("other-secret", nl + 1, size - hlen - 1);
			if (strcasecmp(mine, header) != 0 && strcasecmp(other, header) != 0)
				abort();
			free(mine);
			free(other);
		}
		free(header);
	}
	char *sig = webhook_sig_header("fuzz-secret", body, size);
	if (!webhook_sig_verify(sig, body, size, secrets))
		abort();
	free(sig);

	struct meta_batch b;
	const char *err = meta_parse(body, size, &b);
	if (err && (b.n_messages || b.n_statuses || b.n_notes))
		abort();
	for (size_t i = 0; i < b.n_messages; i++) {
		const struct meta_message *m = &b.messages[i];
		check_text(m->text, META_TEXT_MAX);
		check_text(m->kind, COLUMN_KIND_WIDTH);
		check_text(m->channel_id, COLUMN_META_PHONE_NUMBER_ID_WIDTH);
		check_text(m->customer_id, COLUMN_CUSTOMER_PHONE_WIDTH);
		check_text(m->platform_message_id, COLUMN_PLATFORM_MESSAGE_ID_WIDTH);
		check_width(m->reply_to, COLUMN_REPLY_TO_WIDTH);
		check_width(m->profile_name, COLUMN_CUSTOMER_NAME_WIDTH);
		if (m->referral) {
			size_t present = 0;
			for (size_t k = 0; k < META_REFERRAL_FIELDS; k++) {
				const char *v = meta_referral_get(m->referral, k);
				if (v) {
					check_text(v, META_REFERRAL_URL_MAX);
					present++;
				}
			}
			if (present == 0)
				abort();
		}
	}
	for (size_t i = 0; i < b.n_statuses; i++) {
		check_text(b.statuses[i].channel_id, COLUMN_META_PHONE_NUMBER_ID_WIDTH);
		check_text(b.statuses[i].platform_message_id, COLUMN_PLATFORM_MESSAGE_ID_WIDTH);
	}
	check_width(b.object, COLUMN_WEBHOOK_OBJECT_WIDTH);
	if (b.n_notes > META_NOTES_MAX + 1)
		abort();
	meta_batch_free(&b);
	return 0;
}
