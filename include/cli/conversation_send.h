#ifndef PARLEY_CONVERSATION_SEND_H
#define PARLEY_CONVERSATION_SEND_H
/*
 * `parley conversation send ID --text-file FILE|-` and `--template NAME
 * --language CODE [--param TEXT]...` (SPEC 9.3, 9.4; README, A person's
 * messages, echoes and templates): a person's message, stored as agent
 * messages with author 'human' (sql/functions/human.sql) and sent to the
 * customer through the same Graph format, splitting, retry policy and
 * delivery records as the AI's replies. The command blocks (it is not the
 * serve loop): it sends each part with http_sync.h and sleeps between
 * attempts.
 */
#include "admin_cli.h"

/* The "send" sub-command of `parley conversation`. */
int conversation_send(struct admin_cmd *cmd, int argc, char **argv);

/* Longest message a person may send at once, in bytes (it is split into
 * platform-sized parts). */
#define CONVERSATION_SEND_MAX_BYTES (64 * 1024)

#endif
