/*
 * fuzz_detect.c: every detector's validator on arbitrary bytes (they see
 * message text, i.e. outside input), on the whole input and on each
 * suffix's first 64 bytes (short inputs reach deeper branches).  A
 * validator must never read outside its input (the copy is exactly
 * sized, so ASan sees any over-read), never write more than
 * DETECT_CANON_MAX bytes and always NUL-end what it accepts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/detect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
validate_all(const char *s, size_t len)
{
	char *copy = malloc(len ? len : 1);
	char canon[DETECT_CANON_MAX];

	if (copy == NULL)
		return;
	memcpy(copy, s, len);
	for (size_t i = 0; i < detect_count(); i++) {
		const struct detector *d = detect_get(i);
		if (d->validate(copy, len, canon) &&
		    memchr(canon, '\0', sizeof(canon)) == NULL)
			abort();
	}
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;

	if (size > 65536)
		return 0;
	validate_all(s, size);
	for (size_t i = 0; i < size && i < 256; i++)
		validate_all(s + i, size - i < 64 ? size - i : 64);
	return 0;
}
