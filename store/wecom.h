/*
 * wecom.h: the WeCom API endpoint table and decoders
 * (../shared/wecom-api.md section 2).
 *
 * Turns one API request (path, query, body) into the message model, and
 * owns every JSON rewrite of a WeCom body (secret scrubbing, redaction).
 * Knows nothing of sockets: input is bytes, output is a Ww__Message.
 */
#ifndef WW_WECOM_H
#define WW_WECOM_H

#include <stddef.h>
#include <stdint.h>

#include "store/record.h"
#include "store/secret.h"

#define WECOM_MAX_JSON_DEPTH 32
#define WECOM_MAX_TEXT_PARTS 4096

enum wecom_class {
	WECOM_OTHER = 0,    /* under /cgi-bin/ but carries no message */
	WECOM_MESSAGE,      /* JSON body with message content: must decode */
	WECOM_UPLOAD,       /* multipart media upload */
	WECOM_GETTOKEN,     /* token exchange: learn identities */
	WECOM_NOT_API,      /* not under /cgi-bin/ */
};

/* Classify a request path (without query), e.g. "/cgi-bin/message/send". */
enum wecom_class wecom_classify(const char *path);

/*
 * Decode a request.  path is the URL path, query the raw query string
 * (may be NULL), body/len the request body.  On WW_OK *out is a new message
 * (free with message_free) whose endpoint is path below "/cgi-bin/", whose
 * body is the request body with body secrets replaced by digests, and whose
 * texts hold every human-readable string.  Endpoints that carry no message
 * give a message with endpoint set and no texts.  Invalid JSON, wrong types
 * or oversize fields return WW_EPARSE with the reason in err; *out is then
 * still a message with endpoint and decode_error set, so it can be
 * journaled.  Returns WW_ENOMEM on allocation failure (*out NULL).
 */
int wecom_decode(const struct secret *key, const char *path,
    const char *query, const uint8_t *body, size_t len, Ww__Message **out,
    char *err, size_t errlen);

/*
 * Copy query with the value of every secret parameter (access_token,
 * corpsecret, key, ...) replaced by its digest.  *out is malloc'ed.
 */
int wecom_scrub_query(const struct secret *key, const char *query, char **out);

/*
 * The body to forward after redaction: body (the original, as received)
 * with the string at texts[i].path replaced by redacted[i] for every i
 * where redacted[i] != NULL (n entries, n == msg->n_texts).  Output is
 * valid JSON in raw UTF-8 (no \u escapes: WeCom errcode 40033).  *out and
 * *outlen are malloc'ed.  WW_OK, WW_EPARSE, WW_ENOMEM.
 */
int wecom_redact_body(const uint8_t *body, size_t len, const Ww__Message *msg,
    char *const *redacted, size_t n, uint8_t **out, size_t *outlen);

/*
 * Read an upstream JSON answer: errcode, errmsg and msgid when present
 * (each out-pointer may be NULL; strings are malloc'ed).  WW_EPARSE when
 * it is not a JSON object.
 */
int wecom_parse_answer(const uint8_t *body, size_t len, int64_t *errcode,
    char **errmsg, char **msgid);

#endif
