/*
 * fuzz_wecom.c: libFuzzer target for the WeCom decoder.
 *
 * Input: one byte choosing the endpoint, then the request body.  Every
 * decoded message is packed as a record, redacted and decoded again; the
 * answer reader (as each kind of answer) and the query scrubber get the
 * same bytes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "store/record.h"
#include "store/secret.h"
#include "store/wecom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = {
    "/cgi-bin/message/send",
    "/cgi-bin/message/update_template_card",
    "/cgi-bin/appchat/create",
    "/cgi-bin/appchat/send",
    "/cgi-bin/linkedcorp/message/send",
    "/cgi-bin/externalcontact/message/send",
    "/cgi-bin/externalcontact/add_msg_template",
    "/cgi-bin/externalcontact/send_welcome_msg",
    "/cgi-bin/externalcontact/group_welcome_template/add",
    "/cgi-bin/externalcontact/add_moment_task",
    "/cgi-bin/kf/send_msg",
    "/cgi-bin/kf/send_msg_on_event",
    "/cgi-bin/webhook/send",
    "/cgi-bin/exmail/app/compose_send",
    "/cgi-bin/kf/sync_msg",
    "/cgi-bin/service/get_suite_token",
};

static void
redact_all(const uint8_t *body, size_t len, const Ww__Message *msg,
           const struct secret *key, const char *path)
{
	char **red = calloc(msg->n_texts + 1, sizeof(*red));
	Ww__Message *again = NULL;
	uint8_t *out = NULL;
	size_t outlen;
	char err[256];

	if (red == NULL)
		return;
	for (size_t i = 0; i < msg->n_texts; i++)
		red[i] = (char *)"[x]";
	if (wecom_redact_body(body, len, msg, red, msg->n_texts, &out,
	                      &outlen) == WW_OK) {
		/* A redacted body must decode to the same paths. */
		if (wecom_decode(key, path, NULL, out, outlen, &again, err,
		                 sizeof(err)) != WW_OK ||
		    again->n_texts != msg->n_texts)
			abort();
		message_free(again);
	}
	free(out);
	free(red);
}

/*
 * The answer reader, for each kind of request: with and without a key it
 * reads the same fields; a journal copy is the body itself or a scrubbed
 * re-serialization that reads back as JSON.
 */
static void
answers(const struct secret *key, const uint8_t *data, size_t size)
{
	static const enum wecom_class cls[] = {WECOM_MESSAGE, WECOM_GETTOKEN,
	                                       WECOM_UPLOAD};
	struct wecom_answer a, b, c;
	char *q, *sq;

	for (size_t i = 0; i < WW_NELEM(cls); i++) {
		int rc = wecom_read_answer(key, cls[i], data, size, &a);

		if (wecom_read_answer(NULL, cls[i], data, size, &b) != rc ||
		    a.errcode != b.errcode ||
		    (a.errmsg == NULL) != (b.errmsg == NULL) ||
		    (a.msgid == NULL) != (b.msgid == NULL) ||
		    (a.media_id == NULL) != (b.media_id == NULL) ||
		    b.journal != NULL || b.has_token)
			abort();
		if (rc == WW_OK &&
		    (a.journal == NULL ||
		     (a.scrubbed == NULL &&
		      (a.journal != data || a.journal_len != size)) ||
		     (a.scrubbed != NULL && a.journal != a.scrubbed)))
			abort();
		if (a.scrubbed != NULL && a.journal_len <= WECOM_MAX_BODY) {
			if (wecom_read_answer(NULL, cls[i], a.scrubbed,
			                      a.journal_len, &c) != WW_OK ||
			    c.errcode != a.errcode)
				abort();
			wecom_answer_cleanup(&c);
		}
		wecom_answer_cleanup(&a);
		wecom_answer_cleanup(&b);
	}
	q = strndup((const char *)data, size);
	if (q != NULL && wecom_scrub_query(key, q, &sq) == WW_OK)
		free(sq);
	free(q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char k[] = "fuzz-key";
	struct secret *key = NULL;
	Ww__Message *msg = NULL;
	Ww__Record *rec;
	const char *path;
	uint8_t *packed;
	size_t plen;
	char err[256];

	if (size < 1 || secret_new(k, sizeof(k) - 1, &key) != WW_OK)
		return 0;
	path = paths[data[0] % WW_NELEM(paths)];
	if (wecom_decode(key, path, "access_token=T&key=K", data + 1, size - 1,
	                 &msg, err, sizeof(err)) == WW_OK &&
	    msg->n_texts > 0)
		redact_all(data + 1, size - 1, msg, key, path);
	rec = record_new(WW__KIND__REQUEST);
	if (rec != NULL && msg != NULL) {
		rec->message = msg;
		msg = NULL;
		if (record_pack(rec, &packed, &plen) == WW_OK)
			free(packed);
	}
	record_free(rec);
	message_free(msg);
	answers(key, data + 1, size - 1);
	secret_free(key);
	return 0;
}
