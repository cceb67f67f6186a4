/* refuse.c: WeCom-shaped refusal answers. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ww.h"
#include "proxy/refuse.h"

struct refusal {
	struct http_response resp;
	struct http_header headers[2];
	char errcode[24];
	char *body;
};

/* "<errmsg>, hint: [<hint>]" in the grammar WeCom's own errmsg uses. */
static char *
refuse_text(const char *errmsg, const char *hint)
{
	size_t len = strlen(errmsg) + (hint != NULL ? strlen(hint) : 0) + 16;
	char *s = malloc(len);

	if (s == NULL)
		return NULL;
	if (hint != NULL)
		snprintf(s, len, "%s, hint: [%s]", errmsg, hint);
	else
		snprintf(s, len, "%s", errmsg);
	return s;
}

static char *
refuse_body(long errcode, const char *errmsg, const char *hint)
{
	char *text = refuse_text(errmsg, hint), *body = NULL;
	json_t *msg, *o;

	if (text == NULL)
		return NULL;
	msg = json_string(text);
	if (msg == NULL) /* not UTF-8: say something generic instead */
		msg = json_string("refused by the compliance gateway");
	free(text);
	o = json_object();
	if (o != NULL && msg != NULL &&
	    json_object_set_new(o, "errcode", json_integer(errcode)) == 0 &&
	    json_object_set(o, "errmsg", msg) == 0)
		body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(msg);
	json_decref(o);
	return body;
}

int
refuse_new(int http_status, long errcode, const char *errmsg, const char *hint,
           struct refusal **out)
{
	struct refusal *r;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return WW_ENOMEM;
	r->body = refuse_body(errcode, errmsg != NULL ? errmsg : "", hint);
	if (r->body == NULL) {
		free(r);
		return WW_ENOMEM;
	}
	snprintf(r->errcode, sizeof(r->errcode), "%ld", errcode);
	r->headers[0].name = "Content-Type";
	r->headers[0].value = "application/json; charset=UTF-8";
	r->headers[1].name = "Error-Code";
	r->headers[1].value = r->errcode;
	r->resp.status = http_status;
	r->resp.headers = r->headers;
	r->resp.n_headers = WW_NELEM(r->headers);
	r->resp.body = (const uint8_t *)r->body;
	r->resp.body_len = strlen(r->body);
	*out = r;
	return WW_OK;
}

void
refuse_free(struct refusal *r)
{
	if (r == NULL)
		return;
	free(r->body);
	free(r);
}

const struct http_response *
refuse_response(const struct refusal *r)
{
	return &r->resp;
}
