/*
 * callback.c: WeCom callback XML into the message model (callback.h).
 *
 * One expat pass collects the leaf elements (path, text, and where the
 * text sits in the input, so secrets can be replaced in the stored body);
 * the decoder then maps them.  The JSON variant (wecom-api.md 5.7) fills
 * the same leaves from a jansson tree, its lowercase names mapped to the
 * XML ones.  Expat is told the input is UTF-8 whatever
 * the XML declaration says, and any DOCTYPE stops the parser: with no DTD
 * there is no entity to expand, internal or external.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>
#include <jansson.h>

#include "ww.h"
#include "store/callback.h"

#define PATH_MAX_LEN 512

struct field {
	char *path;  /* "Content", "ScanCodeInfo.ScanResult" */
	char *value; /* NUL-terminated text */
	size_t len;
	size_t start, end; /* the text's byte range in the input */
};

struct walk {
	XML_Parser p;
	struct field *fields;
	size_t n, cap;
	char path[PATH_MAX_LEN];
	size_t path_len[CALLBACK_MAX_DEPTH + 2];
	unsigned char has_child[CALLBACK_MAX_DEPTH + 2];
	int depth;
	char *text;
	size_t text_len, text_cap;
	size_t content_start;
	int failed;     /* WW_EPARSE or WW_ENOMEM once a handler gave up */
	json_t *json;   /* the JSON variant's tree, or NULL */
	int json_dirty; /* a secret in it was replaced by its digest */
	char err[160];
};

static void walk_stop(struct walk *w, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
walk_stop(struct walk *w, int rc, const char *fmt, ...)
{
	va_list ap;

	if (w->failed != 0)
		return;
	w->failed = rc;
	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
	XML_StopParser(w->p, XML_FALSE);
}

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct walk *w = ud;
	size_t len = w->depth > 0 ? w->path_len[w->depth] : 0,
	       nl = strlen(name);

	(void)attrs;
	if (w->failed != 0)
		return;
	if (w->depth == 0 && strcmp(name, "xml") != 0)
		return walk_stop(w, WW_EPARSE, "root element is not <xml>");
	if (w->depth >= CALLBACK_MAX_DEPTH)
		return walk_stop(w, WW_EPARSE, "nested deeper than %d",
		                 CALLBACK_MAX_DEPTH);
	w->has_child[w->depth] = 1;
	w->depth++;
	w->has_child[w->depth] = 0;
	if (w->depth > 1) {
		if (len + nl + 2 > PATH_MAX_LEN)
			return walk_stop(w, WW_EPARSE, "element path too long");
		if (len > 0)
			w->path[len++] = '.';
		memcpy(w->path + len, name, nl);
		len += nl;
		w->path[len] = '\0';
	}
	w->path_len[w->depth] = len;
	w->text_len = 0;
	w->content_start = (size_t)XML_GetCurrentByteIndex(w->p) +
	                   (size_t)XML_GetCurrentByteCount(w->p);
}

static void XMLCALL
on_text(void *ud, const XML_Char *s, int len)
{
	struct walk *w = ud;
	char *t;

	if (w->failed != 0 || len <= 0)
		return;
	if (w->text_len + (size_t)len + 1 > w->text_cap) {
		size_t cap = (w->text_len + (size_t)len + 1) * 2;

		t = realloc(w->text, cap);
		if (t == NULL)
			return walk_stop(w, WW_ENOMEM, "out of memory");
		w->text = t;
		w->text_cap = cap;
	}
	memcpy(w->text + w->text_len, s, (size_t)len);
	w->text_len += (size_t)len;
}

static int
walk_add(struct walk *w, size_t end)
{
	struct field *f;

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;

		f = realloc(w->fields, cap * sizeof(*f));
		if (f == NULL)
			return WW_ENOMEM;
		w->fields = f;
		w->cap = cap;
	}
	f = &w->fields[w->n];
	memset(f, 0, sizeof(*f));
	f->path = strdup(w->path);
	f->value = malloc(w->text_len + 1);
	if (f->path == NULL || f->value == NULL) {
		free(f->path);
		free(f->value);
		return WW_ENOMEM;
	}
	if (w->text_len > 0)
		memcpy(f->value, w->text, w->text_len);
	f->value[w->text_len] = '\0';
	f->len = w->text_len;
	f->start = w->content_start;
	f->end = end < w->content_start ? w->content_start : end;
	w->n++;
	return WW_OK;
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
	struct walk *w = ud;

	(void)name;
	if (w->failed != 0)
		return;
	if (w->depth > 1 && !w->has_child[w->depth]) {
		if (w->n >= CALLBACK_MAX_FIELDS)
			return walk_stop(w, WW_EPARSE, "more than %d elements",
			                 CALLBACK_MAX_FIELDS);
		if (walk_add(w, (size_t)XML_GetCurrentByteIndex(w->p)) != WW_OK)
			return walk_stop(w, WW_ENOMEM, "out of memory");
	}
	w->depth--;
	w->path[w->depth > 0 ? w->path_len[w->depth] : 0] = '\0';
	w->text_len = 0;
}

static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
           const XML_Char *pubid, int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	walk_stop(ud, WW_EPARSE, "DOCTYPE refused");
}

static void XMLCALL
on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
          int value_len, const XML_Char *base, const XML_Char *sysid,
          const XML_Char *pubid, const XML_Char *notation)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	walk_stop(ud, WW_EPARSE, "entity declaration refused");
}

static void
walk_clear(struct walk *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->fields[i].path);
		free(w->fields[i].value);
	}
	free(w->fields);
	free(w->text);
	if (w->p != NULL)
		XML_ParserFree(w->p);
	json_decref(w->json);
	memset(w, 0, sizeof(*w));
}

static int walk_json(struct walk *w, const uint8_t *buf, size_t len, char *err,
                     size_t errlen);

/* Parse xml (or JSON: it starts with '{') into w (walk_clear it always). */
static int
walk_run(struct walk *w, const uint8_t *xml, size_t len, char *err,
         size_t errlen)
{
	size_t i = 0;

	memset(w, 0, sizeof(*w));
	if (len > CALLBACK_MAX_XML)
		return ww_fail(WW_EPARSE, err, errlen, "XML over %u bytes",
		               CALLBACK_MAX_XML);
	while (i < len && strchr(" \t\r\n", xml[i]) != NULL && xml[i] != 0)
		i++;
	if (i < len && xml[i] == '{')
		return walk_json(w, xml, len, err, errlen);
	w->p = XML_ParserCreate("UTF-8");
	if (w->p == NULL)
		return ww_fail(WW_ENOMEM, err, errlen, "out of memory");
	XML_SetUserData(w->p, w);
	XML_SetElementHandler(w->p, on_start, on_end);
	XML_SetCharacterDataHandler(w->p, on_text);
	XML_SetStartDoctypeDeclHandler(w->p, on_doctype);
	XML_SetEntityDeclHandler(w->p, on_entity);
	XML_SetParamEntityParsing(w->p, XML_PARAM_ENTITY_PARSING_NEVER);
	if (XML_Parse(w->p, (const char *)xml, (int)len, XML_TRUE) !=
	    XML_STATUS_OK) {
		if (w->failed != 0)
			return ww_fail(w->failed, err, errlen, "%s", w->err);
		return ww_fail(WW_EPARSE, err, errlen, "XML line %lu: %s",
		               (unsigned long)XML_GetCurrentLineNumber(w->p),
		               XML_ErrorString(XML_GetErrorCode(w->p)));
	}
	return WW_OK;
}

static int
name_in(const char *path, const char *const *list, size_t n)
{
	const char *dot = strrchr(path, '.');
	const char *last = dot != NULL ? dot + 1 : path;

	for (size_t i = 0; i < n; i++)
		if (strcmp(last, list[i]) == 0)
			return 1;
	return 0;
}

static const char *const secret_names[] = {
    "WelcomeCode",   "ResponseCode",  "Token", "AuthCode",
    "SuiteTicket",   "PermanentCode", "Code",  "response_url",
    "response_code", "token",
};

/* Ids, enums, numbers and coordinates: not human text. */
static const char *const opaque_names[] = {
    "ToUserName",     "FromUserName",   "CreateTime",
    "MsgType",        "MsgId",          "AgentID",
    "MediaId",        "ThumbMediaId",   "Format",
    "Event",          "ChangeType",     "UserID",
    "ExternalUserID", "OpenKfId",       "ChatId",
    "TaskId",         "CardType",       "Location_X",
    "Location_Y",     "Scale",          "Precision",
    "Latitude",       "Longitude",      "AppType",
    "EventKey",       "JobId",          "JobType",
    "ErrCode",        "UpdateDetail",   "JoinScene",
    "QuitScene",      "MemChangeCnt",   "Id",
    "Status",         "Gender",         "Department",
    "MainDepartment", "IsLeaderInDept", "SuiteId",
    "InfoType",       "TimeStamp",      "AuthCorpId",
    "PicMd5Sum",      "Count",          "OptionId",
    "QuestionKey",    "Type",           "ScanType",
    "FailReason",     "Source",         "Encrypt",
    "MsgSignature",   "Nonce",          "Seq",
    "NewUserID",      "SpNo",           "StatuChangeEvent",
    "TemplateId",     "ThirdNo",        "OpenSpName",
    "chattype",       "userid",         "corpid",
    "aibotid",        "msgid",          "chatid",
};

/* JSON names (5.7, AI bots) mapped to the XML ones. */
static const char *const json_alias[][2] = {
    {"tousername", "ToUserName"},    {"encrypt", "Encrypt"},
    {"agentid", "AgentID"},          {"msgsignature", "MsgSignature"},
    {"timestamp", "TimeStamp"},      {"nonce", "Nonce"},
    {"msgtype", "MsgType"},          {"msgid", "MsgId"},
    {"from.userid", "FromUserName"}, {"chatid", "ChatId"},
    {"aibotid", "ToUserName"},       {"event.eventtype", "Event"},
};

static int
json_leaf(struct walk *w, json_t *v)
{
	char num[32];
	const char *text = num;

	if (json_is_string(v)) {
		text = json_string_value(v);
		w->text_len = json_string_length(v);
	} else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		         json_integer_value(v));
	} else if (json_is_real(v)) {
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
	} else if (json_is_boolean(v)) {
		snprintf(num, sizeof(num), "%s",
		         json_is_true(v) ? "true" : "false");
	} else {
		return WW_OK; /* null */
	}
	if (!json_is_string(v))
		w->text_len = strlen(num);
	if (w->n >= CALLBACK_MAX_FIELDS)
		return WW_EPARSE;
	free(w->text);
	w->text = malloc(w->text_len + 1);
	if (w->text == NULL)
		return WW_ENOMEM;
	memcpy(w->text, text, w->text_len);
	w->text_cap = w->text_len + 1;
	for (size_t i = 0; i < WW_NELEM(json_alias); i++) {
		if (strcmp(w->path, json_alias[i][0]) == 0) {
			char saved[PATH_MAX_LEN];
			int rc;

			memcpy(saved, w->path, sizeof(saved));
			snprintf(w->path, sizeof(w->path), "%s",
			         json_alias[i][1]);
			rc = walk_add(w, 0);
			memcpy(w->path, saved, sizeof(saved));
			return rc;
		}
	}
	return walk_add(w, 0);
}

/* Secrets in the tree become their digests (the stored body). */
static int
json_scrub(struct walk *w, const struct secret *key, json_t *v)
{
	char dg[SECRET_DIGEST_LEN];

	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    !name_in(w->path, secret_names, WW_NELEM(secret_names)))
		return WW_OK;
	secret_digest(key, json_string_value(v), json_string_length(v), dg);
	w->json_dirty = 1;
	return json_string_set(v, dg) == 0 ? WW_OK : WW_ENOMEM;
}

static int
json_walk(struct walk *w, const struct secret *key, json_t *v, int depth)
{
	size_t len = strlen(w->path), i;
	const char *k;
	json_t *c;
	int rc;

	if (depth > CALLBACK_MAX_DEPTH)
		return WW_EPARSE;
	/* key: the scrubbing pass; NULL: the pass that collects leaves */
	if (!json_is_object(v) && !json_is_array(v))
		return key != NULL ? json_scrub(w, key, v) : json_leaf(w, v);
	json_object_foreach(v, k, c)
	{
		if (snprintf(w->path + len, sizeof(w->path) - len, "%s%s",
		             len > 0 ? "." : "",
		             k) >= (int)(sizeof(w->path) - len))
			return WW_EPARSE;
		if ((rc = json_walk(w, key, c, depth + 1)) != WW_OK)
			return rc;
		w->path[len] = '\0';
	}
	json_array_foreach(v, i, c)
	{
		if (snprintf(w->path + len, sizeof(w->path) - len, "[%zu]",
		             i) >= (int)(sizeof(w->path) - len))
			return WW_EPARSE;
		if ((rc = json_walk(w, key, c, depth + 1)) != WW_OK)
			return rc;
		w->path[len] = '\0';
	}
	return WW_OK;
}

static int
walk_json(struct walk *w, const uint8_t *buf, size_t len, char *err,
          size_t errlen)
{
	json_error_t je;
	int rc;

	w->json =
	    json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	if (w->json == NULL || !json_is_object(w->json))
		return ww_fail(WW_EPARSE, err, errlen, "JSON: %s",
		               w->json == NULL ? je.text : "not an object");
	rc = json_walk(w, NULL, w->json, 0);
	if (rc == WW_EPARSE)
		return ww_fail(rc, err, errlen,
		               "JSON deeper than %d, more than "
		               "%d fields or too long a name",
		               CALLBACK_MAX_DEPTH, CALLBACK_MAX_FIELDS);
	return rc != WW_OK ? ww_fail(rc, err, errlen, "out of memory") : WW_OK;
}

static const struct field *
find(const struct walk *w, const char *path)
{
	for (size_t i = 0; i < w->n; i++)
		if (strcmp(w->fields[i].path, path) == 0)
			return &w->fields[i];
	return NULL;
}

static const char *
value_of(const struct walk *w, const char *path)
{
	const struct field *f = find(w, path);

	return f != NULL ? f->value : "";
}

/* JSON: the tree re-serialized when a secret was in it, else the input. */
static int
scrubbed_json(const struct secret *key, struct walk *w, const uint8_t *buf,
              size_t len, Ww__Message *msg)
{
	char *out;
	int rc;

	w->path[0] = '\0';
	rc = json_walk(w, key, w->json, 0);
	if (rc != WW_OK || !w->json_dirty)
		return rc != WW_OK ? rc
		                   : record_set_bytes(&msg->body, buf, len);
	out = json_dumps(w->json, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (out == NULL)
		return WW_ENOMEM;
	rc = record_set_bytes(&msg->body, out, strlen(out));
	free(out);
	return rc;
}

/* The input with every secret's text replaced by its digest. */
static int
scrubbed_body(const struct secret *key, const struct walk *w,
              const uint8_t *xml, size_t len, Ww__Message *msg)
{
	size_t cap = len + 1, n = 0, at = 0;
	uint8_t *b;
	int rc;

	if (w->json != NULL)
		return scrubbed_json(key, (struct walk *)w, xml, len, msg);

	for (size_t i = 0; i < w->n; i++)
		if (name_in(w->fields[i].path, secret_names,
		            WW_NELEM(secret_names)))
			cap += SECRET_DIGEST_LEN;
	b = malloc(cap);
	if (b == NULL)
		return WW_ENOMEM;
	for (size_t i = 0; i < w->n; i++) {
		const struct field *f = &w->fields[i];
		char dg[SECRET_DIGEST_LEN];

		if (!name_in(f->path, secret_names, WW_NELEM(secret_names)) ||
		    f->len == 0 || f->start < at || f->end > len)
			continue;
		secret_digest(key, f->value, f->len, dg);
		memcpy(b + n, xml + at, f->start - at);
		n += f->start - at;
		memcpy(b + n, dg, strlen(dg));
		n += strlen(dg);
		at = f->end;
	}
	memcpy(b + n, xml + at, len - at);
	n += len - at;
	rc = record_set_bytes(&msg->body, b, n);
	free(b);
	return rc;
}

static int
add_media(Ww__Message *msg, const char *id, const char *kind)
{
	Ww__Attachment *a;
	int rc;

	if (id[0] == '\0')
		return WW_OK;
	rc = message_add_attachment(msg, &a);
	if (rc == WW_OK)
		rc = record_set_str(&a->media_id, id);
	if (rc == WW_OK)
		rc = record_set_str(&a->kind, kind);
	return rc;
}

static int
set_parties(const struct walk *w, Ww__Message *msg, Ww__Direction direction)
{
	Ww__Recipients *r = msg->recipients;
	const char *agent = value_of(w, "AgentID");
	const char *to = value_of(w, "ToUserName");
	char buf[64];
	int rc = WW_OK;

	msg->direction = direction;
	msg->agent_id = strtoll(agent, NULL, 10);
	if (direction == WW__DIRECTION__INBOUND)
		rc = record_set_str(&msg->corp_id, to);
	else
		rc = record_set_str(&msg->corp_id, value_of(w, "FromUserName"));
	if (rc == WW_OK)
		rc = record_set_str(&msg->sender, value_of(w, "FromUserName"));
	snprintf(buf, sizeof(buf), "agent:%s", agent);
	if (rc == WW_OK && (agent[0] != '\0' || to[0] != '\0'))
		rc = record_add_str(&r->n_users, &r->users,
		                    direction == WW__DIRECTION__INBOUND &&
		                            agent[0] != '\0'
		                        ? buf
		                        : to);
	if (rc == WW_OK && find(w, "ExternalUserID") != NULL)
		rc = record_add_str(&r->n_external_users, &r->external_users,
		                    value_of(w, "ExternalUserID"));
	if (rc == WW_OK && find(w, "OpenKfId") != NULL)
		rc = record_add_str(&r->n_kf_ids, &r->kf_ids,
		                    value_of(w, "OpenKfId"));
	if (rc == WW_OK && find(w, "ChatId") != NULL)
		rc = record_set_str(&r->chat_id, value_of(w, "ChatId"));
	return rc;
}

static int
set_content(const struct walk *w, Ww__Message *msg)
{
	const char *type = value_of(w, "MsgType");
	const char *event = value_of(w, "Event");
	char ep[160];
	int rc;

	if (strcmp(type, "event") == 0)
		snprintf(ep, sizeof(ep), "callback/event/%.100s", event);
	else
		snprintf(ep, sizeof(ep), "callback");
	rc = record_set_str(&msg->endpoint, ep);
	if (rc == WW_OK)
		rc = record_set_str(&msg->msgtype, type);
	for (size_t i = 0; rc == WW_OK && i < w->n; i++) {
		const struct field *f = &w->fields[i];

		if (name_in(f->path, secret_names, WW_NELEM(secret_names)))
			continue;
		if (name_in(f->path, (const char *const[]){"MediaId"}, 1))
			rc = add_media(msg, f->value, type);
		else if (name_in(f->path, (const char *const[]){"ThumbMediaId"},
		                 1))
			rc = add_media(msg, f->value, "thumb");
		else if (f->len > 0 && !name_in(f->path, opaque_names,
		                                WW_NELEM(opaque_names)))
			rc = message_add_text(msg, f->path, f->value, f->len);
	}
	return rc;
}

static int
decode_failed(Ww__Direction direction, Ww__Message **out, int rc,
              const char *reason)
{
	Ww__Message *msg = message_new();

	if (msg == NULL)
		return WW_ENOMEM;
	msg->direction = direction;
	if (record_set_str(&msg->endpoint, "callback") != WW_OK ||
	    record_set_str(&msg->decode_error, reason) != WW_OK) {
		message_free(msg);
		return WW_ENOMEM;
	}
	*out = msg;
	return rc;
}

int
callback_decode(const struct secret *key, const uint8_t *xml, size_t len,
                Ww__Direction direction, Ww__Message **out, char *err,
                size_t errlen)
{
	struct walk w;
	Ww__Message *msg = NULL;
	char why[200] = "";
	int rc;

	*out = NULL;
	rc = walk_run(&w, xml, len, why, sizeof(why));
	if (rc == WW_OK && find(&w, "MsgType") == NULL)
		rc = ww_fail(WW_EPARSE, why, sizeof(why), "no MsgType");
	if (rc == WW_EPARSE) {
		walk_clear(&w);
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s", why);
		return decode_failed(direction, out, rc, why);
	}
	if (rc != WW_OK)
		goto out;
	rc = WW_ENOMEM;
	msg = message_new();
	if (msg == NULL)
		goto out;
	rc = set_parties(&w, msg, direction);
	if (rc == WW_OK)
		rc = set_content(&w, msg);
	if (rc == WW_OK)
		rc = scrubbed_body(key, &w, xml, len, msg);
	if (rc == WW_OK) {
		*out = msg;
		msg = NULL;
	}
out:
	if (rc != WW_OK && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", why[0] ? why : ww_strerror(rc));
	message_free(msg);
	walk_clear(&w);
	return rc;
}

static int
take(const struct walk *w, const char *path, char **out)
{
	const struct field *f = find(w, path);

	*out = NULL;
	if (f == NULL)
		return WW_OK;
	*out = strdup(f->value);
	return *out != NULL ? WW_OK : WW_ENOMEM;
}

int
callback_parse_envelope(const uint8_t *xml, size_t len,
                        struct callback_envelope *env, char *err, size_t errlen)
{
	struct walk w;
	int rc;

	memset(env, 0, sizeof(*env));
	rc = walk_run(&w, xml, len, err, errlen);
	if (rc == WW_OK && find(&w, "Encrypt") == NULL)
		rc = ww_fail(WW_EPARSE, err, errlen, "no <Encrypt>");
	if (rc == WW_OK)
		rc = take(&w, "Encrypt", &env->encrypt);
	if (rc == WW_OK)
		rc = take(&w, "ToUserName", &env->to_user);
	if (rc == WW_OK)
		rc = take(&w, "AgentID", &env->agent_id);
	if (rc == WW_OK)
		rc = take(&w, "MsgSignature", &env->msg_signature);
	if (rc == WW_OK)
		rc = take(&w, "TimeStamp", &env->timestamp);
	if (rc == WW_OK)
		rc = take(&w, "Nonce", &env->nonce);
	if (rc != WW_OK)
		callback_envelope_clear(env);
	walk_clear(&w);
	return rc;
}

void
callback_envelope_clear(struct callback_envelope *env)
{
	free(env->to_user);
	free(env->agent_id);
	free(env->encrypt);
	free(env->msg_signature);
	free(env->timestamp);
	free(env->nonce);
	memset(env, 0, sizeof(*env));
}
