/* SPDX-License-Identifier: MIT */
#include "jsonw.h"

void jw_init(struct jw *w, FILE *f)
{
	w->f = f;
	w->depth = 0;
	w->count[0] = 0;
}

static void put_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Separator and "key": for the next value at the current level. */
static void member(struct jw *w, const char *key)
{
	if (w->count[w->depth]++)
		fputc(',', w->f);
	if (key) {
		put_string(w->f, key);
		fputc(':', w->f);
	}
}

static void open_level(struct jw *w, const char *key, char c)
{
	member(w, key);
	fputc(c, w->f);
	if (w->depth < JW_MAX_DEPTH - 1)
		w->count[++w->depth] = 0;
}

static void close_level(struct jw *w, char c)
{
	fputc(c, w->f);
	if (w->depth > 0)
		w->depth--;
}

void jw_obj_begin(struct jw *w, const char *key) { open_level(w, key, '{'); }
void jw_obj_end(struct jw *w) { close_level(w, '}'); }
void jw_arr_begin(struct jw *w, const char *key) { open_level(w, key, '['); }
void jw_arr_end(struct jw *w) { close_level(w, ']'); }

void jw_str(struct jw *w, const char *key, const char *val)
{
	member(w, key);
	if (val)
		put_string(w->f, val);
	else
		fputs("null", w->f);
}

void jw_int(struct jw *w, const char *key, long long val)
{
	member(w, key);
	fprintf(w->f, "%lld", val);
}

void jw_uint(struct jw *w, const char *key, unsigned long long val)
{
	member(w, key);
	fprintf(w->f, "%llu", val);
}

void jw_bool(struct jw *w, const char *key, int val)
{
	member(w, key);
	fputs(val ? "true" : "false", w->f);
}

void jw_null(struct jw *w, const char *key)
{
	member(w, key);
	fputs("null", w->f);
}
