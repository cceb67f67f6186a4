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
#define WECOM_MAX_BODY (8u << 20) /* JSON bodies; wecom-api.md 4.2 */

/*
 * Install the allocation functions jansson uses process wide (once; later
 * calls do nothing).  Decoders parse into a per-call arena through them;
 * outside a decoder they are plain malloc and free, so other jansson
 * users are unaffected.  Every wecom_* entry point calls it; a program
 * that uses jansson from several threads should call it before starting
 * them, since json_set_alloc_funcs() is not thread safe.  A program that
 * sets its own jansson allocator after this (tests) turns the arena off.
 */
void wecom_init(void);

enum wecom_class {
	WECOM_OTHER = 0, /* under /cgi-bin/ but carries no message */
	WECOM_MESSAGE,   /* JSON body with message content: must decode */
	WECOM_UPLOAD,    /* multipart media upload */
	WECOM_GETTOKEN,  /* token exchange: learn identities */
	WECOM_NOT_API,   /* not under /cgi-bin/ */
};

/*
 * Classify a request path (without query), e.g. "/cgi-bin/message/send".
 * Repeated and trailing slashes and "." segments are ignored and names
 * compare case-insensitively.  A path under /cgi-bin/ that cannot be
 * compared safely (percent-escapes, "..", backslashes, ';') is
 * WECOM_MESSAGE: it is decoded generically rather than let through.
 */
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
 *
 * Details:
 * - Text paths: object keys joined by '.', array indexes as "[N]", e.g.
 *   "news.articles[0].title"; a '.', '[', ']' or '\\' inside a key is
 *   escaped with a backslash.  wecom_redact_body() reads the same syntax.
 *   Texts come in document order: every non-empty string leaf (the
 *   generic walker) except opaque ids and enums (media_id, task_id, msgid,
 *   agentid, appid, id, question_key, type, color, ...), recipients and
 *   secrets; the typed per-msgtype field maps check types (text.content
 *   must be a string...), take template_card/taskcard callback keys out
 *   and keep human fields under opaque names (content_item[].key).
 *   Unknown msgtypes, and unknown endpoints whose body has a "msgtype",
 *   are scanned generically.
 * - sender: the member or account that speaks, when the body names one
 *   (add_msg_template "sender", kf "open_kfid"), the robot key digest for
 *   webhook/send, else "agent:N" when an agentid is given, else empty.
 * - token_digest: digest of access_token (or suite_/provider_access_token,
 *   or the webhook key); for gettoken, corp_id is the corpid and app the
 *   digest of corpsecret.
 * - Body secrets (wecom-api.md 1.4), at any depth: welcome_code, code,
 *   response_code, provider_secret, suite_secret, suite_ticket,
 *   permanent_code, auth_code, pre_auth_code, secret, token, corpsecret,
 *   access_token, suite_access_token, provider_access_token.  They are
 *   never texts.
 * - body: the original bytes when they hold no secret; otherwise the JSON
 *   re-serialized (compact, raw UTF-8) with each secret value replaced by
 *   its digest.  When the body is not valid JSON (or too big or too deep)
 *   body is left empty, since secrets could not be located in it.
 * - Duplicate object keys, invalid UTF-8, integers beyond 64 bits, NUL
 *   characters, bodies over WECOM_MAX_BODY, nesting deeper than
 *   WECOM_MAX_JSON_DEPTH and more than WECOM_MAX_TEXT_PARTS texts are
 *   WW_EPARSE.
 * - WECOM_UPLOAD paths give endpoint and token only: use
 *   wecom_decode_upload().  WECOM_OTHER / WECOM_NOT_API paths do not fail
 *   on their body (WW_OK; body stored only when it is JSON), unless it is
 *   a JSON object with a "msgtype" whose generic scan fails.
 */
int wecom_decode(const struct secret *key, const char *path, const char *query,
                 const uint8_t *body, size_t len, Ww__Message **out, char *err,
                 size_t errlen);

/*
 * Copy query with the value of every secret parameter replaced by its
 * digest: access_token, corpsecret, key, suite_access_token,
 * provider_access_token, code, js_code, secret, ticket, auth_code (names
 * percent-decoded and compared case-insensitively; the digest is of the
 * percent-decoded value).  *out is malloc'ed.  WW_OK or WW_ENOMEM.
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
                      char *const *redacted, size_t n, uint8_t **out,
                      size_t *outlen);

/*
 * What the gateway reads of an upstream JSON answer (wecom-api.md 3.1),
 * from one parse.  Strings are NUL-terminated and owned by the struct;
 * journal may point into the caller's body (see below).
 */
struct wecom_answer {
	int64_t errcode;      /* 0 when absent or not an integer */
	char *errmsg, *msgid; /* NULL when absent or not strings */
	/* token answers (WECOM_GETTOKEN: gettoken, service/get_*_token) */
	int has_token; /* a non-empty access_token, suite_access_token or
	                  provider_access_token (the first that is a string) */
	char token_digest[SECRET_DIGEST_LEN];
	int64_t expires_in; /* 0 when absent */
	/* uploads (WECOM_UPLOAD): "media_id", else "url" (uploadimg), when
	   a non-empty string; else NULL */
	char *media_id;
	/* the answer fit for the journal (Outcome.response_body): the body
	   itself when it holds no secret (journal == body: no copy, valid as
	   long as the caller's body), else the JSON re-serialized (compact,
	   raw UTF-8) with access_token, suite_access_token,
	   provider_access_token, permanent_code, ticket and response_code
	   values replaced by digests, except empty strings and nulls
	   (journal == scrubbed, owned) */
	const uint8_t *journal;
	size_t journal_len;
	uint8_t *scrubbed;
};

/*
 * Read an upstream answer to a request of class cls.  key digests the
 * token and the scrubbed secrets; with key NULL (no journal) only errcode,
 * errmsg, msgid and media_id are read (no token, journal NULL).  *out is
 * always initialized: release it with wecom_answer_cleanup() whatever the
 * result.  WW_OK; WW_EPARSE when body is not a JSON object (or is over
 * WECOM_MAX_BODY, deeper than WECOM_MAX_JSON_DEPTH, has duplicate keys):
 * *out is then empty; WW_ENOMEM (*out empty).
 */
int wecom_read_answer(const struct secret *key, enum wecom_class cls,
                      const uint8_t *body, size_t len,
                      struct wecom_answer *out);

/* Free what a holds and zero it (a itself is the caller's). */
void wecom_answer_cleanup(struct wecom_answer *a);

/*
 * Decode a multipart/form-data media upload (WECOM_UPLOAD paths:
 * media/upload, media/uploadimg, media/upload_attachment,
 * webhook/upload_media).  content_type is the request's Content-Type
 * header.  *out gets one attachment per file part (name, size, SHA-256,
 * content type, kind from the query's type/media_type, or "image" for
 * uploadimg) and each file name as a text part at path "<field>.filename"
 * (normally "media.filename").  Message.body stays empty (file bytes are
 * not journaled; the SHA-256 identifies them).  Errors as wecom_decode().
 */
int wecom_decode_upload(const struct secret *key, const char *path,
                        const char *query, const char *content_type,
                        const uint8_t *body, size_t len, Ww__Message **out,
                        char *err, size_t errlen);

#endif
