/*
 * sni.h: the server name of a TLS ClientHello, read from bytes that were
 * only peeked at (MSG_PEEK), so that a passed-through connection reaches
 * the real server untouched (issue 6, transparent mode).
 *
 * Strict and bounded: one TLS record of at most 16 KiB + 5 bytes, which
 * must hold the whole ClientHello (RFC 8446 section 5.1 allows one to
 * span records; no client we know does, and refusing it keeps the peek
 * bounded).  Every length is checked against the one that encloses it;
 * a second server_name extension, a name with a NUL or a byte outside
 * printable ASCII, or a name of 254 bytes or more is malformed.
 */
#ifndef WW_SNI_H
#define WW_SNI_H

#include <stddef.h>
#include <stdint.h>

#define SNI_RECORD_MAX (16384 + 5) /* the most sni_parse() ever needs */
#define SNI_NAME_MAX 254           /* with the NUL (hostlist.h) */

enum sni_result {
	SNI_FOUND,   /* name holds the host_name */
	SNI_NONE,    /* a well-formed ClientHello without a host_name */
	SNI_MORE,    /* not enough bytes yet: peek again when more arrive */
	SNI_NOT_TLS, /* the first bytes are not a TLS handshake record */
	SNI_BAD,     /* a TLS record, but not a well-formed ClientHello */
};

/* Parse buf[0..len); name (SNI_NAME_MAX bytes) is "" unless SNI_FOUND. */
enum sni_result sni_parse(const uint8_t *buf, size_t len,
                          char name[SNI_NAME_MAX]);

/* "found", "none", "more", "not TLS", "malformed ClientHello". */
const char *sni_result_name(enum sni_result r);

#endif
