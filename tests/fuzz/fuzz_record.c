/*
 * fuzz_record.c: everything that parses stored journal bytes: the record
 * unpacker (store/record.h), the chain's wire-level reader and the
 * checkpoint line parser (store/chain.h).  None may crash, leak or read
 * out of bounds, whatever the input.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "store/chain.h"
#include "store/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Ww__Record *rec = NULL;
	struct chain_fields f;
	struct chain_line l;
	char err[256], line[CHAIN_LINE_MAX];
	uint8_t *packed = NULL;
	size_t len = 0;

	if (record_unpack(data, size, &rec, err, sizeof(err)) == WW_OK) {
		if (record_pack(rec, &packed, &len) == WW_OK)
			free(packed);
		record_free(rec);
	}
	if (chain_parse(data, size, &f, err, sizeof(err)) == WW_OK) {
		/* The hash is the 35-byte trailer, inside the input. */
		if (f.hashed_len + CHAIN_TRAILER_LEN != size ||
		    f.hash != data + size - RECORD_HASH_LEN)
			abort();
		if (f.prev_hash != NULL &&
		    f.prev_hash + f.prev_hash_len > data + size)
			abort();
	}
	if (chain_line_parse((const char *)data, size, &l, err, sizeof(err)) ==
	    WW_OK) {
		/* What parses formats back and parses the same. */
		struct chain_line again;
		chain_line_format(&l, line);
		if (chain_line_parse(line, strlen(line), &again, NULL, 0) !=
		        WW_OK ||
		    memcmp(&l, &again, sizeof(l)) != 0)
			abort();
	}
	return 0;
}
