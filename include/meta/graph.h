#ifndef PARLEY_GRAPH_H
#define PARLEY_GRAPH_H
/*
 * The Graph API send format (docs/protocol.md, Graph sends): request bodies
 * for a WhatsApp or Instagram text message, and the platform message id in the
 * answer. Pure; returned strings are owned by the caller.
 */
#include <stdbool.h>
#include <stddef.h>

#include "platform.h"

/* Characters one message may hold: WhatsApp 4096, Instagram 1000. */
size_t graph_max_chars(enum platform p);
/*
 * {base}/{channel}/messages, or NULL when channel is not Meta's numeric id
 * (1 to 100 digits): phone_numbers rows can be written by hand, and a "/",
 * "?", "#" or ".." in an id would send the message and the channel's access
 * token to another Graph path.
 */
char *graph_send_url(const char *base, const char *channel);
char *graph_send_body(enum platform p, const char *to, const char *text);
/*
 * WhatsApp message templates (SPEC 9.4, docs/protocol.md, Templates): the
 * only messages allowed outside the 24-hour window.
 *
 * graph_check_template_name: Meta's rule for template names, 1 to 512
 * lowercase letters, digits and underscores. graph_check_template_language:
 * a language code such as "en", "en_US", "pt_BR", "zh_Hant_HK": 2 or 3
 * lowercase letters, then up to two "_" parts of 2 to 4 letters or digits.
 * graph_check_template_param: a body parameter as Meta accepts it: not
 * empty, valid UTF-8, at most GRAPH_TEMPLATE_PARAM_MAX characters, no
 * control characters (new lines and tabs included) and no more than four
 * spaces in a row (Meta error 132018). Each returns NULL when fine, else a
 * static message naming the rule.
 */
#define GRAPH_TEMPLATE_PARAM_MAX  1024
#define GRAPH_TEMPLATE_PARAMS_MAX 100
const char *graph_check_template_name(const char *name);
const char *graph_check_template_language(const char *code);
const char *graph_check_template_param(const char *param);
/*
 * {"messaging_product":"whatsapp","to":…,"type":"template","template":
 * {"name":…,"language":{"code":…},"components":[{"type":"body","parameters":
 * [{"type":"text","text":…},…]}]}}; without "components" when n_params is 0.
 */
char *graph_template_body(const char *to, const char *name, const char *language,
			  const char *const *params, size_t n_params);
/* What the transcript keeps of it: "[template NAME] p1 | p2" ("[template
 * NAME]" without parameters). */
char *graph_template_text(const char *name, const char *const *params, size_t n_params);

/*
 * Conversation signals (docs/protocol.md, Read receipts and typing), to the
 * same {base}/{channel}/messages path as sends. WhatsApp: a read receipt
 * for the received message message_id,
 * {"messaging_product":"whatsapp","status":"read","message_id":…}, with
 * "typing_indicator":{"type":"text"} added when typing (Meta shows typing
 * only in this form: there is no typing without marking read).
 * Instagram: {"recipient":{"id":to},"sender_action":action}, action
 * "mark_seen", "typing_on" or "typing_off".
 */
char *graph_read_body(const char *message_id, bool typing);
char *graph_sender_action_body(const char *to, const char *action);
/* WhatsApp messages[0].id, Instagram message_id; NULL when absent. */
char *graph_sent_message_id(enum platform p, const char *body, size_t len);

#endif
