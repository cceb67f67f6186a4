/*
 * fuzz_sni.c: sni_parse() on hostile bytes.  Invariants: it never reads
 * past len (ASan), a found name is a NUL-terminated printable string
 * shorter than SNI_NAME_MAX, and any prefix of an input that gives an
 * answer other than SNI_MORE never gives an answer that needs more bytes
 * than the whole input had.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[SNI_NAME_MAX];
	enum sni_result r;
	uint8_t *copy;

	/* An exact-size copy so ASan sees any read past the end. */
	if ((copy = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	r = sni_parse(copy, size, name);
	if (r == SNI_FOUND) {
		size_t n = strlen(name);
		if (n == 0 || n >= SNI_NAME_MAX)
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)name[i] <= 0x20 ||
			    (unsigned char)name[i] >= 0x7f)
				abort();
	} else if (name[0] != '\0') {
		abort();
	}
	/* More bytes never turn a final answer into SNI_MORE. */
	if (r != SNI_MORE && size > 0 && size < SNI_RECORD_MAX) {
		uint8_t *more = malloc(size + 1);
		if (more != NULL) {
			memcpy(more, data, size);
			more[size] = 0;
			if (sni_parse(more, size + 1, name) == SNI_MORE)
				abort();
			free(more);
		}
	}
	free(copy);
	return 0;
}
