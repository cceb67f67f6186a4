/*
 * fuzz_http.c: the HTTP/1.1 request reader (proxy/http1.h) on arbitrary
 * bytes, fed in pieces whose sizes come from the input itself, so every
 * split point of every request is reachable.  Requests are consumed in a
 * loop as the connection would (pipelining).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ww.h"
#include "proxy/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_check(const struct http_request *r)
{
	/* Touch everything the exchange would read. */
	if (r->method == NULL || r->path == NULL || r->path[0] != '/')
		__builtin_trap();
	for (size_t i = 0; i < r->n_headers; i++)
		if (strlen(r->headers[i].name) + strlen(r->headers[i].value) >
		    64 * 1024)
			__builtin_trap();
	if (r->body_len > 0) {
		volatile uint8_t sink = r->body[0] ^ r->body[r->body_len - 1];
		(void)sink;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http1_limits lim = {4096, 8192, 16384};
	struct http1 *h = NULL;
	size_t off = 1, used;
	unsigned step;

	if (size < 1 || http1_new(&lim, &h) != WW_OK)
		return 0;
	step = data[0] ? data[0] : 1;
	for (int guard = 0; off < size && guard < 100000; guard++) {
		size_t n = size - off < step ? size - off : step;
		enum http1_event ev;

		ev = http1_feed(h, (const char *)data + off, n, &used);
		if (used > n)
			__builtin_trap();
		off += used;
		if (ev == HTTP1_REQUEST)
			fuzz_check(http1_request(h));
		else if (ev == HTTP1_ERROR)
			break;
		else if (ev == HTTP1_MORE && used == 0)
			break;
	}
	http1_free(h);
	return 0;
}
