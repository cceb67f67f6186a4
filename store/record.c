/* record.c: building, packing and unpacking journal records. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ww.h"
#include "store/record.h"

/*
 * protobuf-c reports an allocation failure and malformed input the same way
 * (NULL).  This allocator remembers a failed allocation so the two can be
 * told apart; it uses malloc/free so the result is freed by record_free().
 */
struct record_alloc_state {
	int failed;
};

static void *
record_alloc(void *data, size_t size)
{
	struct record_alloc_state *st = data;
	void *p;

	p = malloc(size == 0 ? 1 : size);
	if (p == NULL)
		st->failed = 1;
	return p;
}

static void
record_dealloc(void *data, void *p)
{
	(void)data;
	free(p);
}

Ww__Record *
record_new(Ww__Kind kind)
{
	Ww__Record *rec;

	rec = malloc(sizeof(*rec));
	if (rec == NULL)
		return NULL;
	ww__record__init(rec);
	rec->schema = RECORD_SCHEMA;
	rec->kind = kind;
	return rec;
}

void
record_free(Ww__Record *rec)
{
	if (rec != NULL)
		ww__record__free_unpacked(rec, NULL);
}

Ww__Message *
message_new(void)
{
	Ww__Message *msg;

	msg = malloc(sizeof(*msg));
	if (msg == NULL)
		return NULL;
	ww__message__init(msg);
	msg->recipients = malloc(sizeof(*msg->recipients));
	if (msg->recipients == NULL) {
		free(msg);
		return NULL;
	}
	ww__recipients__init(msg->recipients);
	return msg;
}

void
message_free(Ww__Message *msg)
{
	if (msg != NULL)
		ww__message__free_unpacked(msg, NULL);
}

/* Deep copy through the wire format: the copy is laid out like unpack's. */
int
message_copy(const Ww__Message *msg, Ww__Message **out)
{
	struct record_alloc_state st = {0};
	ProtobufCAllocator alloc = {record_alloc, record_dealloc, &st};
	uint8_t *buf = NULL;
	size_t len;
	int rc = WW_ENOMEM;

	*out = NULL;
	len = ww__message__get_packed_size(msg);
	buf = malloc(len == 0 ? 1 : len);
	if (buf == NULL)
		goto out;
	ww__message__pack(msg, buf);
	*out = ww__message__unpack(&alloc, len, buf);
	if (*out == NULL)
		goto out;
	/* An in-memory message may lack its Recipients; a copy never does. */
	if ((*out)->recipients == NULL) {
		(*out)->recipients = malloc(sizeof(*(*out)->recipients));
		if ((*out)->recipients == NULL) {
			message_free(*out);
			*out = NULL;
			goto out;
		}
		ww__recipients__init((*out)->recipients);
	}
	rc = WW_OK;
out:
	free(buf);
	return rc;
}

int
record_set_strn(char **field, const char *s, size_t len)
{
	char *copy;

	copy = malloc(len + 1);
	if (copy == NULL)
		return WW_ENOMEM;
	if (len > 0)
		memcpy(copy, s, len);
	copy[len] = '\0';
	if (*field != NULL && *field != protobuf_c_empty_string)
		free(*field);
	*field = copy;
	return WW_OK;
}

int
record_set_str(char **field, const char *s)
{
	if (s == NULL)
		s = "";
	return record_set_strn(field, s, strlen(s));
}

int
record_add_str(size_t *n, char ***arr, const char *s)
{
	char **grown;
	char *copy;

	copy = strdup(s != NULL ? s : "");
	if (copy == NULL)
		return WW_ENOMEM;
	grown = realloc(*arr, (*n + 1) * sizeof(**arr));
	if (grown == NULL) {
		free(copy);
		return WW_ENOMEM;
	}
	grown[*n] = copy;
	*arr = grown;
	(*n)++;
	return WW_OK;
}

int
record_set_bytes(ProtobufCBinaryData *field, const void *buf, size_t len)
{
	uint8_t *copy;

	copy = malloc(len == 0 ? 1 : len);
	if (copy == NULL)
		return WW_ENOMEM;
	if (len > 0)
		memcpy(copy, buf, len);
	free(field->data);
	field->data = copy;
	field->len = len;
	return WW_OK;
}

int
message_add_text(Ww__Message *msg, const char *path, const char *text,
                 size_t len)
{
	Ww__TextPart *part, **grown;
	int rc = WW_ENOMEM;

	part = malloc(sizeof(*part));
	if (part == NULL)
		return WW_ENOMEM;
	ww__text_part__init(part);
	if (record_set_str(&part->path, path) != WW_OK ||
	    record_set_strn(&part->text, text, len) != WW_OK)
		goto out;
	grown = realloc(msg->texts, (msg->n_texts + 1) * sizeof(*grown));
	if (grown == NULL)
		goto out;
	grown[msg->n_texts++] = part;
	msg->texts = grown;
	part = NULL;
	rc = WW_OK;
out:
	if (part != NULL)
		ww__text_part__free_unpacked(part, NULL);
	return rc;
}

int
message_add_attachment(Ww__Message *msg, Ww__Attachment **out)
{
	Ww__Attachment *att, **grown;

	*out = NULL;
	att = malloc(sizeof(*att));
	if (att == NULL)
		return WW_ENOMEM;
	ww__attachment__init(att);
	grown = realloc(msg->attachments,
	                (msg->n_attachments + 1) * sizeof(*grown));
	if (grown == NULL) {
		free(att);
		return WW_ENOMEM;
	}
	grown[msg->n_attachments++] = att;
	msg->attachments = grown;
	*out = att;
	return WW_OK;
}

int
record_pack(const Ww__Record *rec, uint8_t **out, size_t *outlen)
{
	size_t len;

	*out = NULL;
	*outlen = 0;
	len = ww__record__get_packed_size(rec);
	*out = malloc(len == 0 ? 1 : len);
	if (*out == NULL)
		return WW_ENOMEM;
	*outlen = ww__record__pack(rec, *out);
	return WW_OK;
}

static void
record_reason(char *err, size_t errlen, const char *reason)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", reason);
}

int
record_unpack(const uint8_t *buf, size_t len, Ww__Record **out, char *err,
              size_t errlen)
{
	struct record_alloc_state st = {0};
	ProtobufCAllocator alloc = {record_alloc, record_dealloc, &st};
	Ww__Record *rec;
	char why[128];

	*out = NULL;
	if (len > RECORD_MAX_PACKED) {
		snprintf(why, sizeof(why), "record of %zu bytes exceeds %u",
		         len, RECORD_MAX_PACKED);
		record_reason(err, errlen, why);
		return WW_ELIMIT;
	}
	if (len == 0) {
		record_reason(err, errlen, "empty record");
		return WW_ECORRUPT;
	}
	rec = ww__record__unpack(&alloc, len, buf);
	if (rec == NULL) {
		record_reason(err, errlen,
		              st.failed ? "out of memory"
		                        : "not a protobuf record");
		return st.failed ? WW_ENOMEM : WW_ECORRUPT;
	}
	if (rec->schema == 0 || rec->kind == WW__KIND__KIND_UNSPECIFIED) {
		record_reason(err, errlen,
		              "no schema version or kind: "
		              "not a record");
		record_free(rec);
		return WW_ECORRUPT;
	}
	if (rec->schema != RECORD_SCHEMA) {
		snprintf(why, sizeof(why), "schema version %u (expected %u)",
		         rec->schema, RECORD_SCHEMA);
		record_reason(err, errlen, why);
		record_free(rec);
		return WW_EVERSION;
	}
	*out = rec;
	return WW_OK;
}

static const char *const record_kinds[] = {
    "UNSPECIFIED", "REQUEST", "OUTCOME",    "TUNNEL",
    "CALLBACK",    "POLICY",  "CHECKPOINT",
};

static const char *const record_actions[] = {
    "allow",
    "alert",
    "redact",
    "block",
};

const char *
record_kind_name(Ww__Kind kind)
{
	if ((unsigned)kind < WW_NELEM(record_kinds))
		return record_kinds[kind];
	return "UNKNOWN";
}

int
record_kind_parse(const char *s)
{
	/* 0 (UNSPECIFIED) is not a kind anyone asks for. */
	for (size_t i = 1; s != NULL && i < WW_NELEM(record_kinds); i++)
		if (strcasecmp(s, record_kinds[i]) == 0)
			return (int)i;
	return -1;
}

const char *
record_action_name(Ww__Action action)
{
	if ((unsigned)action < WW_NELEM(record_actions))
		return record_actions[action];
	return "unknown";
}

int
record_action_parse(const char *s)
{
	for (size_t i = 0; s != NULL && i < WW_NELEM(record_actions); i++)
		if (strcasecmp(s, record_actions[i]) == 0)
			return (int)i;
	return -1;
}
