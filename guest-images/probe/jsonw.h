/* SPDX-License-Identifier: MIT */
/* Minimal streaming JSON writer (one line, no pretty printing). */
#ifndef PMU_JSONW_H
#define PMU_JSONW_H

#include <stdio.h>

#define JW_MAX_DEPTH 16

struct jw {
	FILE *f;
	int depth;
	int count[JW_MAX_DEPTH];	/* members written at each level */
};

void jw_init(struct jw *w, FILE *f);

/* key is NULL for array elements and for the top-level value. */
void jw_obj_begin(struct jw *w, const char *key);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w, const char *key);
void jw_arr_end(struct jw *w);
void jw_str(struct jw *w, const char *key, const char *val);	/* NULL -> null */
void jw_int(struct jw *w, const char *key, long long val);
void jw_uint(struct jw *w, const char *key, unsigned long long val);
void jw_bool(struct jw *w, const char *key, int val);
void jw_null(struct jw *w, const char *key);

#endif
