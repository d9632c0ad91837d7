#ifndef PARLEY_HANDOFF_TOOL_H
#define PARLEY_HANDOFF_TOOL_H
/*
 * The agent's escalate_to_human function tool (SPEC 9.3; README, Handing
 * over to a person). Declared in every reply request when handoff.enabled,
 * beside the meeting tools when those are offered. When the model calls
 * it, the reply worker records the handoff (parley_handoff: the
 * conversation is paused until resumed, with the reason) and answers the
 * call with HANDOFF_TOOL_OUTPUT; the model's final text is still sent.
 * Pure: no I/O; every returned string is new and owned by the caller.
 */
#include <stdbool.h>
#include <stddef.h>

#include "openai.h"

#define HANDOFF_TOOL        "escalate_to_human"
#define HANDOFF_TOOL_OUTPUT "{\"ok\":true}"
/* conversations.ai_paused_reason is varchar(500): characters, not bytes. */
#define HANDOFF_REASON_MAX_CHARS 500
/* The reason recorded when the model gave none (or no usable one). */
#define HANDOFF_REASON_DEFAULT "the agent asked for a person (no reason given)"

/* tools (a JSON array of tool declarations, or NULL for none) with the
 * escalate_to_human declaration appended. */
char *handoff_tool_declare(const char *tools);

/* Whether call is an escalate_to_human call. */
bool handoff_tool_is_call(const struct openai_call *call);

/*
 * The reason of an escalate_to_human call's arguments ({"reason":
 * string}): surrounding white space trimmed, ill-formed UTF-8 replaced,
 * cut to HANDOFF_REASON_MAX_CHARS characters at a character boundary.
 * Arguments that are not such an object, or an empty reason, give
 * HANDOFF_REASON_DEFAULT: the model asked for a person, and that is
 * honoured whatever it wrote.
 */
char *handoff_tool_reason(const char *arguments);

#endif
