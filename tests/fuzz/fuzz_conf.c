/* fuzz_conf.c: the configuration parser on arbitrary bytes. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ww.h"
#include "proxy/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *c = NULL;
	char err[4096];
	int rc;

	rc = conf_load_buf("fuzz.yaml", (const char *)data, size, &c, err,
	                   sizeof(err));
	/* Every failure explains itself; success leaves no message. */
	if (rc != WW_OK && (c != NULL || err[0] == '\0'))
		__builtin_trap();
	if (rc == WW_OK && (c == NULL || c->n_listen == 0))
		__builtin_trap();
	conf_unref(c);
	return 0;
}
