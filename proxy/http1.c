/*
 * http1.c: HTTP/1.1 requests from bytes, with http-parser.
 *
 * http-parser calls back with pieces of the request line and headers, as
 * they arrive, possibly split across reads.  The pieces are appended,
 * NUL-separated, to one buffer (hbuf) bounded by max_header_bytes; the
 * body goes to a second buffer bounded by the body limit of the target.
 * The parser is paused at the end of each message so pipelined requests
 * come out one at a time.
 */
#include "config.h"

#include <ctype.h>
#include <http_parser.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ww.h"
#include "proxy/http1.h"

#define HTTP1_MAX_HEADERS 100

enum http1_piece { PIECE_NONE, PIECE_URL, PIECE_FIELD, PIECE_VALUE };

struct http1_hdr {
	size_t name_off, value_off;
};

struct http1 {
	http_parser parser;
	struct http1_limits lim;

	char *hbuf; /* url, then name\0value\0 pairs */
	size_t hlen, hcap;
	enum http1_piece piece;
	struct http1_hdr hdrs[HTTP1_MAX_HEADERS];
	size_t nhdrs;

	uint8_t *body;
	size_t blen, bcap, body_limit;

	int started, headers_done, message_done, expect_continue;
	int continue_told, keep_alive;
	/* obs-fold scan (see http1_scan_fold) */
	int scan_started, scan_done, scan_lf, scan_lfcr;

	int err_status;
	long err_code;
	const char *err_msg;

	char *path, *query;
	struct http_header view[HTTP1_MAX_HEADERS];
	struct http_request req;
};

static struct http1 *
http1_of(http_parser *p)
{
	return (struct http1 *)p->data;
}

/* Record an error and stop the parser (callbacks return its result). */
static int
http1_set_error(struct http1 *h, int status, long code, const char *msg)
{
	if (h->err_status == 0) {
		h->err_status = status;
		h->err_code = code;
		h->err_msg = msg;
	}
	return -1;
}

static int
http1_bad(struct http1 *h, const char *msg)
{
	return http1_set_error(h, 400, HTTP1_ERRCODE_MALFORMED, msg);
}

static int
http1_too_large(struct http1 *h, const char *msg)
{
	return http1_set_error(h, 413, HTTP1_ERRCODE_TOO_LARGE, msg);
}

/* Append to hbuf; the header limit bounds it (with room for the NULs). */
static int
http1_hput(struct http1 *h, const char *at, size_t len)
{
	size_t need = h->hlen + len + 1;

	if (h->hlen + len + 2 * h->nhdrs > h->lim.max_header_bytes)
		return http1_too_large(h, "request headers too large");
	if (need > h->hcap) {
		size_t cap = h->hcap * 2 > need ? h->hcap * 2 : need + 256;
		char *n = realloc(h->hbuf, cap);

		if (n == NULL)
			return http1_set_error(h, 503, -1, "system busy");
		h->hbuf = n;
		h->hcap = cap;
	}
	memcpy(h->hbuf + h->hlen, at, len);
	h->hlen += len;
	return 0;
}

/* Close the piece being written and start kind (NUL-separated). */
static int
http1_switch(struct http1 *h, enum http1_piece kind)
{
	if (h->piece == kind)
		return 0;
	if (h->piece != PIECE_NONE && http1_hput(h, "", 1) != 0)
		return -1;
	h->piece = kind;
	if (kind == PIECE_FIELD) {
		if (h->nhdrs == HTTP1_MAX_HEADERS)
			return http1_too_large(h, "too many request headers");
		h->hdrs[h->nhdrs++].name_off = h->hlen;
	} else if (kind == PIECE_VALUE) {
		h->hdrs[h->nhdrs - 1].value_off = h->hlen;
	}
	return 0;
}

static int
http1_on_begin(http_parser *p)
{
	http1_of(p)->started = 1;
	return 0;
}

static int
http1_on_url(http_parser *p, const char *at, size_t len)
{
	struct http1 *h = http1_of(p);

	if (http1_switch(h, PIECE_URL) != 0)
		return -1;
	return http1_hput(h, at, len);
}

static int
http1_on_field(http_parser *p, const char *at, size_t len)
{
	struct http1 *h = http1_of(p);

	if (h->headers_done) /* a trailer: counted, not kept */
		return http1_hput(h, "", 0);
	if (h->piece == PIECE_FIELD)
		return http1_hput(h, at, len);
	if (http1_switch(h, PIECE_FIELD) != 0)
		return -1;
	return http1_hput(h, at, len);
}

static int
http1_on_value(http_parser *p, const char *at, size_t len)
{
	struct http1 *h = http1_of(p);

	if (h->headers_done)
		return 0;
	if (http1_switch(h, PIECE_VALUE) != 0)
		return -1;
	return http1_hput(h, at, len);
}

static const char *
http1_trim(const char *s, size_t *len)
{
	size_t n = strlen(s);

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	*len = n;
	return s;
}

/*
 * An RFC 9110 field name is a token.  http-parser, built non-strict (as
 * distributions ship it), lets a space into a name, so that
 * "Transfer-Encoding : chunked" became an unknown header and the chunked
 * body was read as the next request: RFC 9112 §5.1 says reject it (400).
 */
static int
http1_is_token(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) &&
		    strchr("!#$%&'*+-.^_`|~", *s) == NULL)
			return 0;
	return 1;
}

/* RFC 9112 §6.3: the framing headers must leave no room for doubt. */
static int
http1_check_framing(struct http1 *h)
{
	int ncl = 0, nte = 0, host = 0;

	for (size_t i = 0; i < h->nhdrs; i++) {
		const char *name = h->hbuf + h->hdrs[i].name_off;
		const char *val = h->hbuf + h->hdrs[i].value_off;
		size_t n;

		if (!http1_is_token(name))
			return http1_bad(h, "malformed header name");
		val = http1_trim(val, &n);
		if (strcasecmp(name, "content-length") == 0) {
			if (++ncl > 1)
				return http1_bad(h, "duplicate Content-Length");
			if (n == 0 || n > 18 || strspn(val, "0123456789") != n)
				return http1_bad(h, "malformed Content-Length");
		} else if (strcasecmp(name, "transfer-encoding") == 0) {
			if (++nte > 1 || n != 7 ||
			    strncasecmp(val, "chunked", 7))
				return http1_bad(
				    h, "unsupported Transfer-Encoding");
		} else if (strcasecmp(name, "host") == 0) {
			host++;
		} else if (strcasecmp(name, "expect") == 0) {
			if (n != 12 || strncasecmp(val, "100-continue", 12))
				return http1_set_error(h, 417,
				                       HTTP1_ERRCODE_MALFORMED,
				                       "unsupported Expect");
			h->expect_continue = 1;
		}
	}
	if (ncl > 0 && nte > 0)
		return http1_bad(h,
		                 "both Content-Length and Transfer-Encoding");
	if (host != 1 && h->parser.http_major == 1 && h->parser.http_minor >= 1)
		return http1_bad(h, "exactly one Host header required");
	return 0;
}

static int
http1_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode src[0..len) into a new string; no controls allowed. */
static int
http1_decode_path(const char *src, size_t len, char **out)
{
	char *d = malloc(len + 1);
	size_t o = 0;

	if (d == NULL)
		return WW_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)src[i];

		if (c == '%') {
			int hi = i + 2 < len ? http1_hexval(src[i + 1]) : -1;
			int lo = hi >= 0 ? http1_hexval(src[i + 2]) : -1;

			if (lo < 0) {
				free(d);
				return WW_EPARSE;
			}
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x21 || c == 0x7f) {
			free(d);
			return WW_EPARSE;
		}
		d[o++] = (char)c;
	}
	d[o] = '\0';
	*out = d;
	return WW_OK;
}

/* Split the target (origin- or absolute-form) into path and query. */
static int
http1_target(struct http1 *h)
{
	const char *url = h->hbuf; /* the URL is the first piece */
	size_t len = strlen(url);
	struct http_parser_url u;
	int rc;

	http_parser_url_init(&u);
	if (len == 0 || http_parser_parse_url(url, len, 0, &u) != 0)
		return http1_bad(h, "malformed request target");
	if (!(u.field_set & (1 << UF_PATH)))
		rc = http1_decode_path("/", 1, &h->path);
	else
		rc = http1_decode_path(url + u.field_data[UF_PATH].off,
		                       u.field_data[UF_PATH].len, &h->path);
	if (rc == WW_ENOMEM)
		return http1_set_error(h, 503, -1, "system busy");
	if (rc != WW_OK || h->path[0] != '/')
		return http1_bad(h, "malformed request path");
	if (u.field_set & (1 << UF_QUERY)) {
		h->query = strndup(url + u.field_data[UF_QUERY].off,
		                   u.field_data[UF_QUERY].len);
		if (h->query == NULL)
			return http1_set_error(h, 503, -1, "system busy");
	}
	return 0;
}

/* Media uploads may be larger than any JSON body (wecom-api.md §2). */
static size_t
http1_body_limit(const struct http1 *h)
{
	if (strncmp(h->path, "/cgi-bin/media/", 15) == 0 ||
	    strstr(h->path, "webhook/upload_media") != NULL)
		return h->lim.max_upload_bytes;
	return h->lim.max_body_bytes;
}

static int
http1_on_headers(http_parser *p)
{
	struct http1 *h = http1_of(p);

	if (h->hlen == 0)
		return http1_bad(h, "malformed request");
	if (http1_switch(h, PIECE_NONE) != 0)
		return -1;
	h->headers_done = 1;
	if (p->method == HTTP_CONNECT || p->upgrade)
		return http1_bad(h, "CONNECT and Upgrade are not supported");
	if (http1_check_framing(h) != 0 || http1_target(h) != 0)
		return -1;
	h->body_limit = http1_body_limit(h);
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > h->body_limit)
		return http1_too_large(h, "request body too large");
	return 0;
}

static int
http1_on_body(http_parser *p, const char *at, size_t len)
{
	struct http1 *h = http1_of(p);

	if (len > h->body_limit - h->blen)
		return http1_too_large(h, "request body too large");
	if (h->blen + len > h->bcap) {
		size_t cap = h->bcap * 2 > h->blen + len ? h->bcap * 2
		                                         : h->blen + len + 4096;
		uint8_t *n;

		if (cap > h->body_limit)
			cap = h->body_limit;
		if ((n = realloc(h->body, cap)) == NULL)
			return http1_set_error(h, 503, -1, "system busy");
		h->body = n;
		h->bcap = cap;
	}
	memcpy(h->body + h->blen, at, len);
	h->blen += len;
	return 0;
}

static int
http1_on_complete(http_parser *p)
{
	struct http1 *h = http1_of(p);

	h->message_done = 1;
	h->keep_alive = http_should_keep_alive(p);
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http1_settings = {
    .on_message_begin = http1_on_begin,
    .on_url = http1_on_url,
    .on_header_field = http1_on_field,
    .on_header_value = http1_on_value,
    .on_headers_complete = http1_on_headers,
    .on_body = http1_on_body,
    .on_message_complete = http1_on_complete,
};

int
http1_new(const struct http1_limits *lim, struct http1 **out)
{
	struct http1 *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (h == NULL)
		return WW_ENOMEM;
	h->lim = *lim;
	http_parser_init(&h->parser, HTTP_REQUEST);
	h->parser.data = h;
	*out = h;
	return WW_OK;
}

static void
http1_reset_message(struct http1 *h)
{
	free(h->path);
	free(h->query);
	h->path = h->query = NULL;
	h->hlen = 0;
	h->nhdrs = 0;
	h->piece = PIECE_NONE;
	h->blen = 0;
	/* A big upload's buffer is not kept for the next small request. */
	if (h->bcap > 65536) {
		free(h->body);
		h->body = NULL;
		h->bcap = 0;
	}
	h->started = h->headers_done = h->message_done = 0;
	h->expect_continue = h->continue_told = h->keep_alive = 0;
	h->scan_started = h->scan_done = h->scan_lf = h->scan_lfcr = 0;
}

void
http1_free(struct http1 *h)
{
	if (h == NULL)
		return;
	http1_reset_message(h);
	free(h->hbuf);
	free(h->body);
	free(h);
}

/*
 * Refuse obs-fold (RFC 9112 §5.2): a header line starting with SP or HT.
 * Scans ahead of the parser up to the empty line ending the headers;
 * empty lines before the request line (RFC 9112 §2.2) are skipped.
 */
static int
http1_scan_fold(struct http1 *h, const char *data, size_t len)
{
	for (size_t i = 0; i < len && !h->scan_done; i++) {
		char c = data[i];

		if (!h->scan_started) {
			h->scan_started = c != '\r' && c != '\n';
			continue;
		}
		if (h->scan_lf) {
			h->scan_lf = 0;
			if (c == ' ' || c == '\t')
				return http1_bad(h, "obs-fold header line");
			if (c == '\n')
				h->scan_done = 1;
			h->scan_lfcr = c == '\r';
			continue;
		}
		if (h->scan_lfcr && c == '\n') {
			h->scan_done = 1;
			continue;
		}
		h->scan_lfcr = 0;
		h->scan_lf = c == '\n';
	}
	return 0;
}

static void
http1_build(struct http1 *h)
{
	for (size_t i = 0; i < h->nhdrs; i++) {
		h->view[i].name = h->hbuf + h->hdrs[i].name_off;
		h->view[i].value = h->hbuf + h->hdrs[i].value_off;
	}
	h->req = (struct http_request){
	    .method = http_method_str((enum http_method)h->parser.method),
	    .path = h->path,
	    .query = h->query,
	    .headers = h->view,
	    .n_headers = h->nhdrs,
	    .body = h->body,
	    .body_len = h->blen,
	};
}

static enum http1_event
http1_failed(struct http1 *h)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&h->parser);

	if (h->err_status != 0)
		return HTTP1_ERROR;
	if (e == HPE_HEADER_OVERFLOW)
		http1_too_large(h, "request headers too large");
	else
		http1_bad(h, http_errno_description(e));
	return HTTP1_ERROR;
}

enum http1_event
http1_feed(struct http1 *h, const char *data, size_t len, size_t *used)
{
	size_t n;
	enum http_errno e;

	*used = 0;
	if (h->err_status != 0)
		return HTTP1_ERROR;
	if (h->message_done) {
		http1_reset_message(h);
		http_parser_pause(&h->parser, 0);
	}
	if (len == 0)
		return HTTP1_MORE; /* http-parser takes 0 bytes as EOF */
	if (!h->headers_done && http1_scan_fold(h, data, len) != 0)
		return HTTP1_ERROR;
	n = http_parser_execute(&h->parser, &http1_settings, data, len);
	*used = n;
	e = HTTP_PARSER_ERRNO(&h->parser);
	if (h->message_done && (e == HPE_PAUSED || e == HPE_OK)) {
		http1_build(h);
		return HTTP1_REQUEST;
	}
	if (e != HPE_OK || n != len)
		return http1_failed(h);
	if (h->headers_done && h->expect_continue && !h->continue_told) {
		h->continue_told = 1;
		return HTTP1_CONTINUE;
	}
	return HTTP1_MORE;
}

const struct http_request *
http1_request(const struct http1 *h)
{
	return &h->req;
}

int
http1_keep_alive(const struct http1 *h)
{
	return h->keep_alive;
}

int
http1_version(const struct http1 *h)
{
	return h->parser.http_major * 10 + h->parser.http_minor;
}

enum http1_phase
http1_phase(const struct http1 *h)
{
	if (!h->started || h->message_done)
		return HTTP1_IDLE;
	return h->headers_done ? HTTP1_BODY : HTTP1_HEADERS;
}

void
http1_error(const struct http1 *h, int *status, long *errcode, const char **msg)
{
	*status = h->err_status;
	*errcode = h->err_code;
	*msg = h->err_msg != NULL ? h->err_msg : "";
}

void
http1_fail(struct http1 *h, int status, long errcode, const char *msg)
{
	http1_set_error(h, status, errcode, msg);
}

size_t
http1_error_body(char *buf, size_t len, long errcode, const char *msg)
{
	int n = snprintf(buf, len, "{\"errcode\":%ld,\"errmsg\":\"%s\"}",
	                 errcode, msg);

	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

const char *
http1_reason(int status)
{
	static const struct {
		int status;
		const char *reason;
	} reasons[] = {
	    {100, "Continue"},
	    {200, "OK"},
	    {204, "No Content"},
	    {301, "Moved Permanently"},
	    {302, "Found"},
	    {304, "Not Modified"},
	    {400, "Bad Request"},
	    {401, "Unauthorized"},
	    {403, "Forbidden"},
	    {404, "Not Found"},
	    {405, "Method Not Allowed"},
	    {408, "Request Timeout"},
	    {413, "Content Too Large"},
	    {417, "Expectation Failed"},
	    {429, "Too Many Requests"},
	    {500, "Internal Server Error"},
	    {502, "Bad Gateway"},
	    {503, "Service Unavailable"},
	    {504, "Gateway Timeout"},
	};

	for (size_t i = 0; i < WW_NELEM(reasons); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return status >= 200 && status < 300 ? "OK" : "Status";
}
