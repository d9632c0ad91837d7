#ifndef PARLEY_ADMIN_OUT_H
#define PARLEY_ADMIN_OUT_H
/*
 * Output of the administration commands. Every view is a query result whose
 * column names are the JSON keys, so that the table a person reads and the
 * JSON a script reads (--json) cannot drift apart: JSON types come from the
 * column types (integers and numerics as numbers, booleans, json/jsonb
 * nested, NULL as null, the rest as strings); tables show the same cells
 * aligned, NULL as "-", booleans as yes/no, and control characters as
 * blanks so that each row stays on one line.
 */
#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include <stdio.h>

/* Row `row` as a JSON object; caller cJSON_Delete-s it. */
cJSON *admin_out_object(const PGresult *res, int row);

/* Every row, as a JSON array of objects; caller cJSON_Delete-s it. */
cJSON *admin_out_array(const PGresult *res);

/* Prints v on one line, then cJSON_Delete-s it. */
void admin_out_json(FILE *f, cJSON *v);

/* Prints the first ncols columns (0: all) as a table: a header line of the
 * column names ('_' shown as a blank), then one line per row. */
void admin_out_table(FILE *f, const PGresult *res, int ncols);

/* Prints the first ncols columns (0: all) of row `row` as "name  value"
 * lines, names aligned. */
void admin_out_fields(FILE *f, const PGresult *res, int row, int ncols);

#endif
