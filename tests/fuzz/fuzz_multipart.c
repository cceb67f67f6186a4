/*
 * fuzz_multipart.c: libFuzzer target for the multipart/form-data parser
 * and upload decoding.
 *
 * Input: a Content-Type line, '\n', then the body.  Every part must lie
 * inside the body.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "store/multipart.h"
#include "store/record.h"
#include "store/secret.h"
#include "store/wecom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_parts(const struct multipart *m, const uint8_t *body, size_t len)
{
	for (size_t i = 0; i < multipart_count(m); i++) {
		const struct multipart_part *p = multipart_get(m, i);

		if (p == NULL || p->name == NULL || p->data < body ||
		    p->data + p->len > body + len)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char k[] = "fuzz-key";
	const uint8_t *nl = memchr(data, '\n', size < 256 ? size : 256);
	struct secret *key = NULL;
	struct multipart *m = NULL;
	Ww__Message *msg = NULL;
	const uint8_t *body;
	char ct[257], err[256];
	size_t len;

	if (nl == NULL)
		return 0;
	memcpy(ct, data, (size_t)(nl - data));
	ct[nl - data] = '\0';
	body = nl + 1;
	len = size - (size_t)(body - data);
	if (multipart_parse(ct, body, len, &m, err, sizeof(err)) == WW_OK)
		check_parts(m, body, len);
	multipart_free(m);
	if (secret_new(k, sizeof(k) - 1, &key) != WW_OK)
		return 0;
	(void)wecom_decode_upload(key, "/cgi-bin/media/upload",
	                          "access_token=T&type=file", ct, body, len,
	                          &msg, err, sizeof(err));
	message_free(msg);
	secret_free(key);
	return 0;
}
