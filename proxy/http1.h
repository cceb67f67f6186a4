/*
 * http1.h: the HTTP/1.1 request reader, without sockets.
 *
 * conn.c feeds it the bytes a client sent; it answers with one event at a
 * time (a whole request, a request for "100 Continue", or an error to
 * answer and close on).  Being socket-free, it is what the unit tests and
 * the fuzz target drive directly.
 *
 * It is strict where leniency lets two parsers disagree (RFC 9112 §6.3,
 * §5.2; request smuggling): a request with both Content-Length and
 * Transfer-Encoding, a duplicate or malformed Content-Length, a
 * Transfer-Encoding other than "chunked", an obs-folded header line or a
 * missing Host are refused with 400.  Absolute-form targets are accepted
 * but their host is ignored: the gateway only ever talks to its configured
 * upstream.
 */
#ifndef WW_HTTP1_H
#define WW_HTTP1_H

#include <stddef.h>

#include "proxy/exchange.h"

/* Gateway-private errcodes (wwgate(8), "ERROR CODES"). */
#define HTTP1_ERRCODE_MALFORMED 985011 /* 400 */
#define HTTP1_ERRCODE_TOO_LARGE 985012 /* 413 */
#define HTTP1_ERRCODE_TIMEOUT 985013   /* 408 */

struct http1; /* opaque: the reader of one connection */

struct http1_limits {
	size_t max_header_bytes; /* request line and headers */
	size_t max_body_bytes;   /* decoded body, most endpoints */
	size_t max_upload_bytes; /* decoded body, media uploads */
};

enum http1_event {
	HTTP1_MORE = 0, /* every byte consumed; feed more */
	HTTP1_CONTINUE, /* headers read, client waits for 100 Continue */
	HTTP1_REQUEST,  /* a whole request: see http1_request() */
	HTTP1_ERROR,    /* see http1_error(); answer it, then close */
};

enum http1_phase {
	HTTP1_IDLE = 0, /* between requests: no byte of the next one yet */
	HTTP1_HEADERS,  /* inside a request line or headers */
	HTTP1_BODY,     /* inside a body */
};

/* A new reader with a copy of lim.  WW_OK or WW_ENOMEM. */
int http1_new(const struct http1_limits *lim, struct http1 **out);
void http1_free(struct http1 *h); /* NULL is a no-op */

/*
 * Read from data[0..len) up to the next event; *used says how many bytes
 * were consumed (the rest belongs to a later call: pipelined requests).
 * After HTTP1_REQUEST or HTTP1_CONTINUE, call again with the rest.  After
 * HTTP1_ERROR every call returns HTTP1_ERROR.
 */
enum http1_event http1_feed(struct http1 *h, const char *data, size_t len,
                            size_t *used);

/*
 * The request of the last HTTP1_REQUEST; borrowed, valid until the next
 * http1_feed() or http1_free().
 */
const struct http_request *http1_request(const struct http1 *h);

/* Whether the connection may carry another request after this one. */
int http1_keep_alive(const struct http1 *h);

/* The HTTP version of the last request: 10 for 1.0, 11 for 1.1. */
int http1_version(const struct http1 *h);

/* Where the reader is (for the connection's timeouts). */
enum http1_phase http1_phase(const struct http1 *h);

/* The error of the last HTTP1_ERROR: HTTP status, errcode, static text. */
void http1_error(const struct http1 *h, int *status, long *errcode,
                 const char **msg);

/*
 * Put an error into h as if the input had caused it (e.g. a timeout): the
 * reader is then stuck in HTTP1_ERROR.
 */
void http1_fail(struct http1 *h, int status, long errcode, const char *msg);

/*
 * Write a WeCom-shaped JSON body {"errcode":N,"errmsg":"MSG"} into buf.
 * msg must not need escaping (static texts).  Returns the length.
 */
size_t http1_error_body(char *buf, size_t len, long errcode, const char *msg);

/* "OK", "Bad Request", ... for the status line. */
const char *http1_reason(int status);

#endif
