/*
 * fuzz_connect.c: connect_parse() on hostile request heads.  Invariants:
 * no read past len (ASan), an accepted head has a host of printable
 * bytes, a port in 1..65535 and a NUL-terminated auth value; a refusal
 * carries a status of 400 or 405 and a reason.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "proxy/connect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct connect_req r;
	char *copy;

	if (size > CONNECT_MAX_HEAD || (copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	if (connect_parse(copy, size, &r) == WW_OK) {
		size_t n = strlen(r.host);
		if (n == 0 || n >= sizeof(r.host) || r.port == 0 ||
		    r.port > 65535 || strlen(r.auth) >= sizeof(r.auth))
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)r.host[i] <= 0x20 ||
			    (unsigned char)r.host[i] >= 0x7f)
				abort();
	} else if ((r.status != 400 && r.status != 405) || r.error == NULL) {
		abort();
	}
	free(copy);
	return 0;
}
