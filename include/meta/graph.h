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
