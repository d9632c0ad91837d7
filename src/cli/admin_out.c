/*
 * Tables and JSON for the administration commands: see include/cli/admin_out.h.
 */
#include "admin_out.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "utf8.h"
#include "xalloc.h"

/* Type OIDs (pg_type.h; fixed since forever). */
#define OID_BOOL    16
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_JSON    114
#define OID_NUMERIC 1700
#define OID_JSONB   3802

static cJSON *cell_json(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return cJSON_CreateNull();
	const char *v = PQgetvalue(res, row, col);
	switch (PQftype(res, col)) {
	case OID_BOOL: return cJSON_CreateBool(v[0] == 't');
	case OID_INT2:
	case OID_INT4:
	case OID_INT8:
	case OID_NUMERIC: return cJSON_CreateNumber(strtod(v, NULL));
	case OID_JSON:
	case OID_JSONB: {
		cJSON *j = cJSON_Parse(v);
		return j ? j : cJSON_CreateString(v);
	}
	default: return cJSON_CreateString(v);
	}
}

cJSON *admin_out_object(const PGresult *res, int row)
{
	cJSON *o = cJSON_CreateObject();
	for (int c = 0; c < PQnfields(res); c++)
		cJSON_AddItemToObject(o, PQfname(res, c), cell_json(res, row, c));
	return o;
}

cJSON *admin_out_array(const PGresult *res)
{
	cJSON *a = cJSON_CreateArray();
	for (int r = 0; r < PQntuples(res); r++)
		cJSON_AddItemToArray(a, admin_out_object(res, r));
	return a;
}

void admin_out_json(FILE *f, cJSON *v)
{
	char *s = json_print(v);
	fprintf(f, "%s\n", s);
	free(s);
}

/* A cell as shown to a person: "-" for NULL, yes/no, blanks for controls. */
static char *cell_text(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return xstrdup("-");
	const char *v = PQgetvalue(res, row, col);
	if (PQftype(res, col) == OID_BOOL)
		return xstrdup(v[0] == 't' ? "yes" : "no");
	char *s = xstrdup(v);
	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return s;
}

static char *header_text(const PGresult *res, int col)
{
	char *s = xstrdup(PQfname(res, col));
	for (char *p = s; *p; p++)
		if (*p == '_')
			*p = ' ';
	return s;
}

/* Columns on a terminal: UTF-8 characters, not bytes (wide characters are
 * rare enough in ids and names to count as one). */
static size_t width(const char *s)
{
	return utf8_count(s, strlen(s));
}

static void put_padded(FILE *f, const char *s, size_t w, bool last)
{
	fputs(s, f);
	if (last)
		return;
	for (size_t n = width(s); n < w + 2; n++)
		fputc(' ', f);
}

static int columns(const PGresult *res, int ncols)
{
	int n = PQnfields(res);
	return ncols > 0 && ncols < n ? ncols : n;
}

void admin_out_table(FILE *f, const PGresult *res, int ncols)
{
	int nc = columns(res, ncols), nr = PQntuples(res);
	/* cells[r][c], row 0 the header */
	char **cells = xcalloc((size_t)(nr + 1) * (size_t)nc, sizeof *cells);
	size_t *w = xcalloc((size_t)nc, sizeof *w);
	for (int r = 0; r <= nr; r++)
		for (int c = 0; c < nc; c++) {
			char *s = r == 0 ? header_text(res, c) : cell_text(res, r - 1, c);
			cells[r * nc + c] = s;
			if (width(s) > w[c])
				w[c] = width(s);
		}
	for (int r = 0; r <= nr; r++) {
		for (int c = 0; c < nc; c++)
			put_padded(f, cells[r * nc + c], w[c], c == nc - 1);
		fputc('\n', f);
	}
	for (int i = 0; i < (nr + 1) * nc; i++)
		free(cells[i]);
	free(cells);
	free(w);
}

void admin_out_fields(FILE *f, const PGresult *res, int row, int ncols)
{
	int nc = columns(res, ncols);
	size_t w = 0;
	for (int c = 0; c < nc; c++) {
		char *h = header_text(res, c);
		if (width(h) > w)
			w = width(h);
		free(h);
	}
	for (int c = 0; c < nc; c++) {
		char *h = header_text(res, c), *v = cell_text(res, row, c);
		put_padded(f, h, w, false);
		fprintf(f, "%s\n", v);
		free(h);
		free(v);
	}
}
