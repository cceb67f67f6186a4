/*
 * fuzz_export.c: the export forms over whatever a journal file may hold.
 * Input that unpacks as a record (the stored bytes a reader hands on) is
 * rendered in every form; the JSON forms must parse, and the human forms
 * must never carry a raw escape or control byte to the auditor's
 * terminal.  The input is also fed to the time parser of the options.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ww.h"
#include "store/export.h"
#include "store/filter.h"
#include "store/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_json(struct export *e, const Ww__Record *rec, struct export_buf *b)
{
	json_error_t jerr;
	json_t *v;

	export_buf_reset(b);
	if (export_json(e, rec, rec, b) != WW_OK)
		return;
	/* \u0000 and integers past 2^63 are valid JSON, if not jansson's. */
	v = json_loadb(b->data, b->len,
	               JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
	if (v == NULL) {
		fprintf(stderr, "invalid JSON (%s at %d): %s\n", jerr.text,
		        jerr.position, b->data);
		abort();
	}
	json_decref(v);
}

/* No byte below 0x20 but the layout's newlines, no DEL. */
static void
fuzz_safe(const struct export_buf *b)
{
	for (size_t i = 0; i < b->len; i++) {
		unsigned char c = (unsigned char)b->data[i];
		if ((c < 0x20 && c != '\n') || c == 0x7f)
			abort();
	}
}

static void
fuzz_render(const Ww__Record *rec)
{
	struct export *full = NULL, *plain = NULL;
	struct export_buf b;

	export_buf_init(&b);
	if (export_new(EXPORT_FULL, &full) != WW_OK ||
	    export_new(0, &plain) != WW_OK)
		goto out;
	fuzz_json(full, rec, &b);
	fuzz_json(plain, rec, &b);
	export_buf_reset(&b);
	export_csv(plain, rec, NULL, &b);
	export_buf_reset(&b);
	export_line(plain, rec, NULL, &b);
	export_show(plain, rec, NULL, &b);
	export_transcript(plain, rec, NULL, &b);
	if (b.err == WW_OK)
		fuzz_safe(&b);
	export_buf_reset(&b);
	export_conversation_key(rec, &b);
out:
	export_buf_cleanup(&b);
	export_free(full);
	export_free(plain);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Ww__Record *rec = NULL;
	char err[256], *s;
	int64_t t;

	if (record_unpack(data, size, &rec, err, sizeof(err)) == WW_OK) {
		fuzz_render(rec);
		record_free(rec);
	}
	if (size < 256 && (s = malloc(size + 1)) != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		(void)filter_parse_time(s, 0, &t);
		free(s);
	}
	return 0;
}
