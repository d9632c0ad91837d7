#ifndef PARLEY_COLUMNS_H
#define PARLEY_COLUMNS_H
/*
 * Widths, in characters as PostgreSQL counts them for VARCHAR(n) (code points,
 * not bytes), of the columns that values from outside land in or are compared
 * with. The schema (sql/schema.sql) is the truth; these copy it so that a
 * value which cannot fit is dealt with in C, per value, before it reaches the
 * database: one value too wide would otherwise fail the whole statement and
 * with it every webhook stored together (docs/protocol.md, Skipped events).
 * tests/integration/test_field_widths.sh checks them against the schema.
 */

/* conversations.customer_phone: the WhatsApp wa_id, the IGSID, the webchat session. */
#define COLUMN_CUSTOMER_PHONE_WIDTH 50
/* conversations.customer_name: the WhatsApp profile name. */
#define COLUMN_CUSTOMER_NAME_WIDTH 255
/* messages.platform_message_id, message_delivery_status.platform_message_id,
 * pending_delivery_status.platform_message_id: a wamid or mid. */
#define COLUMN_PLATFORM_MESSAGE_ID_WIDTH 512
/* messages.reply_to: the wamid or mid a message answers. */
#define COLUMN_REPLY_TO_WIDTH 512
/* phone_numbers.meta_phone_number_id: the phone_number_id, IG account or widget id. */
#define COLUMN_META_PHONE_NUMBER_ID_WIDTH 100
/* messages.kind */
#define COLUMN_KIND_WIDTH 32
/* webhook_raw.object */
#define COLUMN_WEBHOOK_OBJECT_WIDTH 64

#endif
