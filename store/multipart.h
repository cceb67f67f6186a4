/*
 * multipart.h: a strict, bounded multipart/form-data parser (RFC 7578,
 * RFC 2046 section 5.1) for WeCom media uploads (wecom-api.md 2.10).
 *
 * The whole body is in memory; parts point into it.  Strict means: CRLF
 * line ends only, no header folding, exactly one Content-Disposition of
 * type form-data with a name per part, a closing delimiter, and no
 * duplicate parameters.  Anything else is WW_EPARSE with a reason.
 */
#ifndef WW_MULTIPART_H
#define WW_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define MULTIPART_MAX_PARTS 64
#define MULTIPART_MAX_HEADER 8192 /* bytes of headers in one part */
#define MULTIPART_MAX_BOUNDARY 70 /* RFC 2046 */

struct multipart_part {
	const char *name;         /* the form field name, e.g. "media" */
	const char *filename;     /* NULL when the part carries no filename */
	const char *content_type; /* NULL when absent */
	const uint8_t *data;      /* borrowed: points into the parsed body */
	size_t len;
};

struct multipart; /* opaque: a parsed form */

/*
 * Parse body (len bytes) according to content_type, the request's
 * Content-Type header ("multipart/form-data; boundary=...").  On WW_OK
 * *out is the parsed form: free it with multipart_free(); the parts' data
 * pointers borrow from body, which must outlive *out.  WW_EPARSE (reason
 * in err), WW_ELIMIT (more than MULTIPART_MAX_PARTS parts or an oversize
 * header block, reason in err), WW_ENOMEM.
 */
int multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                    struct multipart **out, char *err, size_t errlen);

/* Number of parts, and part i (borrowed; lives as long as m). */
size_t multipart_count(const struct multipart *m);
const struct multipart_part *multipart_get(const struct multipart *m, size_t i);

void multipart_free(struct multipart *m);

/*
 * The boundary parameter of a multipart/form-data Content-Type, unquoted,
 * into buf (at least MULTIPART_MAX_BOUNDARY + 1 bytes).  WW_OK or
 * WW_EPARSE when content_type is not multipart/form-data with a valid
 * boundary.
 */
int multipart_boundary(const char *content_type, char *buf, size_t size);

#endif
