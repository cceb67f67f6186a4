/*
 * wwpolicy: the security officers' tool (wwpolicy(1); the language is
 * wwpolicy(5)).  check, test, explain and bench a policy file with the
 * very engine the gateway runs: messages are decoded by store/'s WeCom
 * decoder and judged by policy_judge(), nothing is re-implemented here.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <yaml.h>

#include "ww.h"
#include "policy/detect.h"
#include "policy/normalize.h"
#include "policy/policy.h"
#include "store/record.h"
#include "store/secret.h"
#include "store/wecom.h"

#define WWP_MAX_INPUT (64u << 20) /* policy, test, body and corpus files */
#define MAX_YAML_DEPTH 64         /* body mappings in test files */
#define MAX_BODY_NODES 100000 /* YAML nodes in one test body (alias bombs) */

/* Exit codes: 0 success, 1 a check or test failed, 2 usage or I/O. */
enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
    "usage: wwpolicy check POLICY\n"
    "       wwpolicy test POLICY TESTFILE...\n"
    "       wwpolicy explain POLICY (--endpoint E --body JSON | --body-file F"
    " | --record FILE#N) [--json]\n"
    "       wwpolicy bench POLICY [--corpus FILE] [--seconds N]\n"
    "       wwpolicy --help | --version\n";

static const char help_text[] =
    "wwpolicy checks, tests and explains wwgate compliance policies.\n"
    "\n"
    "A policy (the language: wwpolicy(5); a commented starter policy:\n"
    "contrib/policy/default.yaml):\n"
    "    version: 1\n"
    "    lists:\n"
    "      deal_names: [凤凰项目, \"project falcon\"]\n"
    "    rules:\n"
    "      - id: no-deal-names\n"
    "        match:\n"
    "          any:\n"
    "            - list: deal_names\n"
    "              ignore_separators: true   # also \"凤-凰-项-目\"\n"
    "            - detector: cn_resident_id  # validated, see below\n"
    "              min_count: 2\n"
    "        unless: {keywords: [已公告]}\n"
    "        action: block                   # alert | redact | block\n"
    "        mode: enforce                   # or monitor: report only\n"
    "        message: 项目名称保密，消息已拦截\n"
    "\n"
    "  check POLICY\n"
    "      Parse and compile POLICY.  Prints a one-line summary, or every\n"
    "      error as FILE:LINE: rule ID: what is wrong (exit 1).\n"
    "        wwpolicy check /etc/wwgate/policy.yaml\n"
    "\n"
    "  test POLICY TESTFILE...\n"
    "      Run test cases: each names a message and the verdict expected.\n"
    "      Prints a diff per failing case and 'N passed, N failed'.\n"
    "        tests:\n"
    "          - name: blocks the secret project name\n"
    "            endpoint: message/send\n"
    "            body: {\"touser\": \"lisi\", \"msgtype\": \"text\",\n"
    "                   \"agentid\": 1000002,\n"
    "                   \"text\": {\"content\": \"这是机密文件\"}}\n"
    "            expect: {action: block, rules: [no-secret-projects]}\n"
    "          - name: a message from the journal\n"
    "            record: export.jsonl#12   # line 12 of `wwjournal export`\n"
    "            expect: {action: allow, monitor_rules: [big-transfer]}\n"
    "      body is the raw WeCom API body (a YAML mapping or a JSON\n"
    "      string), decoded exactly as the gateway decodes it.  rules and\n"
    "      monitor_rules are compared as sets; a key left out is not\n"
    "      checked.\n"
    "        wwpolicy test policy.yaml policy.tests.yaml\n"
    "\n"
    "  explain POLICY --endpoint E --body JSON [--json]\n"
    "  explain POLICY --endpoint E --body-file F [--json]\n"
    "  explain POLICY --record FILE#N [--json]\n"
    "      Show the verdict, every rule that matched or was excluded by its\n"
    "      'unless', and each hit in the original text, marked [[like "
    "this]].\n"
    "        wwpolicy explain policy.yaml --endpoint message/send \\\n"
    "          --body '{\"touser\":\"lisi\",\"msgtype\":\"text\",\"agentid\":1,"
    "\"text\":{\"content\":\"卡号6222021234567890128\"}}'\n"
    "\n"
    "  bench POLICY [--corpus FILE] [--seconds N]\n"
    "      Judge a corpus for N seconds (default 3) on one thread: MB/s,\n"
    "      messages/s and latency percentiles.  Default corpus: generated\n"
    "      mixed Chinese/English messages.  FILE: one message per line,\n"
    "      either plain text or a `wwjournal export` JSON line.\n"
    "\n"
    "Exit status: 0 success, 1 a check or a test failed, 2 usage or I/O "
    "error.\n"
    "See wwpolicy(1) and, for the language, wwpolicy(5).\n";

/* ---------------------------------------------------------------- files */

/* Read path into a new NUL-ended buffer (*len without the NUL). */
static int
read_file(const char *path, char **out, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc = WW_EIO;

	*out = NULL;
	if (fp == NULL) {
		fprintf(stderr, "wwpolicy: %s: %s\n", path, strerror(errno));
		return errno == ENOENT ? WW_ENOTFOUND : WW_EIO;
	}
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *nb;
			cap = cap ? cap * 2 : 65536;
			if ((nb = realloc(buf, cap)) == NULL) {
				rc = WW_ENOMEM;
				goto out;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, fp);
		n += r;
		if (n > WWP_MAX_INPUT) {
			fprintf(stderr, "wwpolicy: %s: larger than %u bytes\n",
			        path, WWP_MAX_INPUT);
			rc = WW_ELIMIT;
			goto out;
		}
		if (r == 0)
			break;
	}
	if (ferror(fp)) {
		fprintf(stderr, "wwpolicy: %s: %s\n", path, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	rc = WW_OK;
out:
	free(buf);
	fclose(fp);
	return rc;
}

/* Line lineno (1-based) of path, without its newline, malloc'ed. */
static int
read_line(const char *path, long lineno, char **out)
{
	FILE *fp = fopen(path, "rb");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = -1;

	*out = NULL;
	if (fp == NULL)
		return errno == ENOENT ? WW_ENOTFOUND : WW_EIO;
	for (long i = 0; i < lineno; i++)
		if ((n = getline(&line, &cap, fp)) < 0)
			break;
	fclose(fp);
	if (n < 0) {
		free(line);
		return WW_ENOTFOUND;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	*out = line;
	return WW_OK;
}

/* "dir/of/base" + rel, unless rel is absolute. */
static char *
path_relative(const char *base, const char *rel)
{
	const char *slash = strrchr(base, '/');
	size_t dl = slash != NULL ? (size_t)(slash - base) + 1 : 0;
	char *p;

	if (rel[0] == '/' || dl == 0)
		return strdup(rel);
	if ((p = malloc(dl + strlen(rel) + 1)) == NULL)
		return NULL;
	memcpy(p, base, dl);
	strcpy(p + dl, rel);
	return p;
}

/* ---------------------------------------------------------------- policy */

static int
load_policy(const char *path, struct policy **out)
{
	struct policy_errors *errs = NULL;
	int rc = policy_load_file(path, out, &errs);

	if (rc != WW_OK) {
		size_t n = errs != NULL ? policy_errors_count(errs) : 0;
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "%s\n", policy_errors_get(errs, i));
		if (n == 0)
			fprintf(stderr, "%s: %s\n", path, ww_strerror(rc));
	}
	policy_errors_free(errs);
	return rc;
}

/* What the tool shows about each rule, read from the policy's YAML. */
struct rule_meta {
	char *id;
	char *action;
	char *mode;
	char *description;
	int line;
};

struct policy_meta {
	struct rule_meta *rules;
	size_t n;
};

static void
policy_meta_cleanup(struct policy_meta *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->rules[i].id);
		free(m->rules[i].action);
		free(m->rules[i].mode);
		free(m->rules[i].description);
	}
	free(m->rules);
	m->rules = NULL;
	m->n = 0;
}

static yaml_node_t *
map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		if (k != NULL && k->type == YAML_SCALAR_NODE &&
		    strcmp((char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

static const char *
scalar(yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE
	           ? (const char *)n->data.scalar.value
	           : NULL;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static int
yaml_load_buf(const char *text, size_t len, yaml_document_t *doc)
{
	yaml_parser_t parser;
	int ok;

	if (!yaml_parser_initialize(&parser))
		return WW_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	ok = yaml_parser_load(&parser, doc);
	yaml_parser_delete(&parser);
	if (!ok)
		return WW_EPARSE;
	if (yaml_document_get_root_node(doc) == NULL) {
		yaml_document_delete(doc);
		return WW_EPARSE;
	}
	return WW_OK;
}

/* Rule ids, actions, modes and descriptions (the policy compiled, so the
 * document is well-formed; what is missing stays NULL). */
static int
policy_meta_load(const char *text, size_t len, struct policy_meta *m)
{
	yaml_document_t doc;
	yaml_node_t *rules;
	int rc;

	memset(m, 0, sizeof(*m));
	if ((rc = yaml_load_buf(text, len, &doc)) != WW_OK)
		return rc;
	rules = map_get(&doc, yaml_document_get_root_node(&doc), "rules");
	if (rules != NULL && rules->type == YAML_SEQUENCE_NODE) {
		size_t cap = (size_t)(rules->data.sequence.items.top -
		                      rules->data.sequence.items.start);
		m->rules = calloc(cap ? cap : 1, sizeof(*m->rules));
		if (m->rules == NULL) {
			rc = WW_ENOMEM;
			goto out;
		}
		for (yaml_node_item_t *it = rules->data.sequence.items.start;
		     it < rules->data.sequence.items.top; it++) {
			yaml_node_t *r = yaml_document_get_node(&doc, *it);
			struct rule_meta *rm = &m->rules[m->n++];
			rm->id = dup_or_null(scalar(map_get(&doc, r, "id")));
			rm->action =
			    dup_or_null(scalar(map_get(&doc, r, "action")));
			rm->mode =
			    dup_or_null(scalar(map_get(&doc, r, "mode")));
			rm->description = dup_or_null(
			    scalar(map_get(&doc, r, "description")));
			rm->line = (int)r->start_mark.line + 1;
		}
	}
out:
	yaml_document_delete(&doc);
	return rc;
}

static const struct rule_meta *
policy_meta_find(const struct policy_meta *m, const char *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->rules[i].id != NULL && strcmp(m->rules[i].id, id) == 0)
			return &m->rules[i];
	return NULL;
}

/* ------------------------------------------- the policy without unless */

struct outbuf {
	char *p;
	size_t n, cap;
};

static int
outbuf_write(void *data, unsigned char *buf, size_t size)
{
	struct outbuf *o = data;

	if (o->n + size + 1 > o->cap) {
		size_t cap = (o->n + size + 1) * 2;
		char *np = realloc(o->p, cap);
		if (np == NULL)
			return 0;
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->n, buf, size);
	o->n += size;
	o->p[o->n] = '\0';
	return 1;
}

enum emit_ctx { EMIT_ANY, EMIT_ROOT, EMIT_RULES, EMIT_RULE };

static int emit_node(yaml_emitter_t *em, yaml_document_t *doc, yaml_node_t *n,
                     enum emit_ctx ctx, int depth);

static int
emit_mapping(yaml_emitter_t *em, yaml_document_t *doc, yaml_node_t *n,
             enum emit_ctx ctx, int depth)
{
	yaml_event_t ev;

	yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
	                                    n->data.mapping.style);
	if (!yaml_emitter_emit(em, &ev))
		return 0;
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     p < n->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		const char *ks = scalar(k);
		enum emit_ctx vctx = EMIT_ANY;
		if (ctx == EMIT_RULE && ks != NULL && strcmp(ks, "unless") == 0)
			continue;
		if (ctx == EMIT_ROOT && ks != NULL && strcmp(ks, "rules") == 0)
			vctx = EMIT_RULES;
		if (!emit_node(em, doc, k, EMIT_ANY, depth + 1) ||
		    !emit_node(em, doc, yaml_document_get_node(doc, p->value),
		               vctx, depth + 1))
			return 0;
	}
	yaml_mapping_end_event_initialize(&ev);
	return yaml_emitter_emit(em, &ev);
}

static int
emit_node(yaml_emitter_t *em, yaml_document_t *doc, yaml_node_t *n,
          enum emit_ctx ctx, int depth)
{
	yaml_event_t ev;

	if (n == NULL || depth > 200)
		return 0;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		yaml_scalar_event_initialize(
		    &ev, NULL, NULL, n->data.scalar.value,
		    (int)n->data.scalar.length, 1, 1, n->data.scalar.style);
		return yaml_emitter_emit(em, &ev);
	case YAML_SEQUENCE_NODE:
		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
		                                     n->data.sequence.style);
		if (!yaml_emitter_emit(em, &ev))
			return 0;
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++)
			if (!emit_node(em, doc,
			               yaml_document_get_node(doc, *it),
			               ctx == EMIT_RULES ? EMIT_RULE : EMIT_ANY,
			               depth + 1))
				return 0;
		yaml_sequence_end_event_initialize(&ev);
		return yaml_emitter_emit(em, &ev);
	case YAML_MAPPING_NODE:
		return emit_mapping(em, doc, n, ctx, depth);
	default:
		return 0;
	}
}

/*
 * The policy text with every rule's "unless" removed, so that judging
 * with both tells which rules their exception excluded -- through the
 * public policy API only.  *out is malloc'ed.
 */
static int
policy_strip_unless(const char *text, size_t len, char **out, size_t *outlen)
{
	yaml_document_t doc;
	yaml_emitter_t em;
	yaml_event_t ev;
	struct outbuf o = {0};
	int rc, ok;

	*out = NULL;
	if ((rc = yaml_load_buf(text, len, &doc)) != WW_OK)
		return rc;
	if (!yaml_emitter_initialize(&em)) {
		yaml_document_delete(&doc);
		return WW_ENOMEM;
	}
	yaml_emitter_set_output(&em, outbuf_write, &o);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ok = yaml_emitter_emit(&em, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	ok = ok && emit_node(&em, &doc, yaml_document_get_root_node(&doc),
	                     EMIT_ROOT, 0);
	yaml_document_end_event_initialize(&ev, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	yaml_stream_end_event_initialize(&ev);
	ok = ok && yaml_emitter_emit(&em, &ev);
	ok = ok && yaml_emitter_flush(&em);
	yaml_emitter_delete(&em);
	yaml_document_delete(&doc);
	if (!ok || o.p == NULL) {
		free(o.p);
		return WW_ENOMEM;
	}
	*out = o.p;
	*outlen = o.n;
	return WW_OK;
}

/* ------------------------------------------------------------- messages */

static json_t *yaml_to_json(yaml_document_t *doc, yaml_node_t *n, int depth,
                            size_t *budget);

/* A plain YAML scalar as JSON would read it: null, bool, number, else a
 * string; a quoted scalar is always a string. */
static json_t *
yaml_scalar_to_json(yaml_node_t *n)
{
	const char *s = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	char *end;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(s, len);
	if (strcmp(s, "null") == 0 || strcmp(s, "~") == 0 || len == 0)
		return json_null();
	if (strcmp(s, "true") == 0)
		return json_true();
	if (strcmp(s, "false") == 0)
		return json_false();
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end == '\0' && errno == 0)
		return json_integer(v);
	double d = strtod(s, &end);
	if (*end == '\0' && errno == 0)
		return json_real(d);
	return json_stringn(s, len);
}

static json_t *
yaml_to_json(yaml_document_t *doc, yaml_node_t *n, int depth, size_t *budget)
{
	json_t *j = NULL, *v;

	/* The budget stops alias bombs: aliases share nodes, so a small file
	 * can name a billion of them. */
	if (n == NULL || depth > MAX_YAML_DEPTH || *budget == 0)
		return NULL;
	(*budget)--;
	if (n->type == YAML_SCALAR_NODE)
		return yaml_scalar_to_json(n);
	if (n->type == YAML_SEQUENCE_NODE) {
		j = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     j != NULL && it < n->data.sequence.items.top; it++) {
			v = yaml_to_json(doc, yaml_document_get_node(doc, *it),
			                 depth + 1, budget);
			if (v == NULL || json_array_append_new(j, v) != 0) {
				json_decref(j);
				j = NULL;
			}
		}
		return j;
	}
	j = json_object();
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
	     j != NULL && p < n->data.mapping.pairs.top; p++) {
		const char *k = scalar(yaml_document_get_node(doc, p->key));
		v = yaml_to_json(doc, yaml_document_get_node(doc, p->value),
		                 depth + 1, budget);
		if (k == NULL || v == NULL ||
		    json_object_set_new(j, k, v) != 0) {
			json_decref(v);
			json_decref(j);
			j = NULL;
		}
	}
	return j;
}

/* One key for the decoder's secret digests: tests never see real ones. */
static int
tool_secret(struct secret **out)
{
	static const unsigned char key[SECRET_KEY_LEN] =
	    "wwpolicy test key, not secret";

	return secret_new(key, sizeof(key), out);
}

/*
 * Decode body as the gateway decodes a request to /cgi-bin/ENDPOINT.
 * err gets the decoder's reason on failure.
 */
static int
message_from_body(const char *endpoint, const char *body, size_t len,
                  Ww__Message **out, char *err, size_t errlen)
{
	struct secret *key = NULL;
	char *path = NULL;
	int rc;

	*out = NULL;
	while (*endpoint == '/')
		endpoint++;
	if (strncmp(endpoint, "cgi-bin/", 8) == 0)
		endpoint += 8;
	if ((rc = tool_secret(&key)) != WW_OK)
		goto out;
	if ((path = malloc(strlen(endpoint) + 10)) == NULL) {
		rc = WW_ENOMEM;
		goto out;
	}
	sprintf(path, "/cgi-bin/%s", endpoint);
	err[0] = '\0';
	rc = wecom_decode(key, path, NULL, (const uint8_t *)body, len, out, err,
	                  errlen);
	if (rc != WW_OK) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s", ww_strerror(rc));
		message_free(*out);
		*out = NULL;
	}
out:
	free(path);
	secret_free(key);
	return rc;
}

static int
add_json_strs(json_t *arr, size_t *n, char ***v)
{
	size_t i;
	json_t *s;
	int rc = WW_OK;

	json_array_foreach(arr, i, s)
	{
		if (json_is_string(s) &&
		    (rc = record_add_str(n, v, json_string_value(s))) != WW_OK)
			break;
	}
	return rc;
}

static int
recipients_from_json(json_t *r, const char *chat_id, Ww__Recipients *rc_)
{
	int rc = WW_OK;

	if (json_is_object(r)) {
		rc = add_json_strs(json_object_get(r, "users"), &rc_->n_users,
		                   &rc_->users);
		if (rc == WW_OK)
			rc = add_json_strs(json_object_get(r, "parties"),
			                   &rc_->n_parties, &rc_->parties);
		if (rc == WW_OK)
			rc = add_json_strs(json_object_get(r, "tags"),
			                   &rc_->n_tags, &rc_->tags);
		if (rc == WW_OK)
			rc = add_json_strs(json_object_get(r, "external_users"),
			                   &rc_->n_external_users,
			                   &rc_->external_users);
		if (rc == WW_OK)
			rc = add_json_strs(json_object_get(r, "kf_ids"),
			                   &rc_->n_kf_ids, &rc_->kf_ids);
		if (rc == WW_OK)
			rc = add_json_strs(json_object_get(r, "chat_ids"),
			                   &rc_->n_chat_ids, &rc_->chat_ids);
		if (rc == WW_OK)
			rc = add_json_strs(json_object_get(r, "mentioned"),
			                   &rc_->n_mentioned, &rc_->mentioned);
		rc_->all = json_is_true(json_object_get(r, "all"));
	}
	if (rc == WW_OK && chat_id != NULL)
		rc = record_set_str(&rc_->chat_id, chat_id);
	return rc;
}

static int
set_json_str(char **field, json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? record_set_str(field, s) : WW_OK;
}

/*
 * Rebuild the judged message from one `wwjournal export` JSON line: the
 * endpoint, direction, msgtype, sender, recipients and text parts are
 * everything the policy looks at.
 */
static int
message_from_export(const char *line, Ww__Message **out, char *err,
                    size_t errlen)
{
	json_error_t je;
	json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &je), *t;
	Ww__Message *m = NULL;
	size_t i;
	int rc = WW_EPARSE;

	*out = NULL;
	if (!json_is_object(o)) {
		snprintf(err, errlen, "not a JSON object: %s", je.text);
		goto out;
	}
	if ((m = message_new()) == NULL) {
		rc = WW_ENOMEM;
		goto out;
	}
	const char *dir = json_string_value(json_object_get(o, "direction"));
	m->direction = dir != NULL && strcmp(dir, "inbound") == 0
	                   ? WW__DIRECTION__INBOUND
	                   : WW__DIRECTION__OUTBOUND;
	if ((rc = set_json_str(&m->endpoint, o, "endpoint")) != WW_OK ||
	    (rc = set_json_str(&m->msgtype, o, "msgtype")) != WW_OK ||
	    (rc = set_json_str(&m->sender, o, "sender")) != WW_OK ||
	    (rc = recipients_from_json(
	         json_object_get(o, "recipients"),
	         json_string_value(json_object_get(o, "chat_id")),
	         m->recipients)) != WW_OK)
		goto out;
	json_array_foreach(json_object_get(o, "texts"), i, t)
	{
		const char *path =
		    json_string_value(json_object_get(t, "path"));
		json_t *text = json_object_get(t, "text");
		if (!json_is_string(text))
			continue;
		rc = message_add_text(m, path != NULL ? path : "",
		                      json_string_value(text),
		                      json_string_length(text));
		if (rc != WW_OK)
			goto out;
	}
	*out = m;
	m = NULL;
	rc = WW_OK;
out:
	message_free(m);
	json_decref(o);
	return rc;
}

/* "FILE#N", FILE relative to base's directory (base may be NULL). */
static int
message_from_record(const char *base, const char *spec, Ww__Message **out,
                    char *err, size_t errlen)
{
	const char *hash = strrchr(spec, '#');
	char *file = NULL, *path = NULL, *line = NULL, *end;
	long lineno;
	int rc = WW_EINVAL;

	*out = NULL;
	if (hash == NULL || hash == spec) {
		snprintf(err, errlen, "record: expected FILE#LINE, got \"%s\"",
		         spec);
		return WW_EINVAL;
	}
	lineno = strtol(hash + 1, &end, 10);
	if (*end != '\0' || lineno < 1) {
		snprintf(err, errlen, "record: bad line number in \"%s\"",
		         spec);
		return WW_EINVAL;
	}
	if ((file = strndup(spec, (size_t)(hash - spec))) == NULL ||
	    (path = base != NULL ? path_relative(base, file) : strdup(file)) ==
	        NULL) {
		rc = WW_ENOMEM;
		goto out;
	}
	if ((rc = read_line(path, lineno, &line)) != WW_OK) {
		snprintf(err, errlen, "record: %s: %s", path,
		         rc == WW_ENOTFOUND ? "no such file or line"
		                            : strerror(errno));
		goto out;
	}
	rc = message_from_export(line, out, err, errlen);
out:
	free(line);
	free(path);
	free(file);
	return rc;
}

/* ---------------------------------------------------------------- test */

static int
judge(const struct policy *p, struct policy_scratch *s, const Ww__Message *m,
      Ww__Verdict **v, char ***redacted)
{
	int rc = policy_judge(p, s, m, v, redacted);

	if (rc != WW_OK)
		fprintf(stderr, "wwpolicy: judging failed: %s\n",
		        ww_strerror(rc));
	return rc;
}

static int
strs_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

/* The expected names of a YAML node: a sequence of scalars or one. */
static size_t
node_strs(yaml_document_t *doc, yaml_node_t *n, const char **v, size_t max)
{
	size_t k = 0;

	if (n == NULL)
		return 0;
	if (n->type == YAML_SCALAR_NODE) {
		if (n->data.scalar.length > 0)
			v[k++] = (const char *)n->data.scalar.value;
		return k;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start;
	     it < n->data.sequence.items.top && k < max; it++) {
		const char *s = scalar(yaml_document_get_node(doc, *it));
		if (s != NULL)
			v[k++] = s;
	}
	return k;
}

static void
print_strs(const char *const *v, size_t n)
{
	printf("[");
	for (size_t i = 0; i < n; i++)
		printf("%s%s", i ? ", " : "", v[i]);
	printf("]");
}

/* Compare one set; print its diff lines when it differs.  1 = equal. */
static int
check_set(yaml_document_t *doc, yaml_node_t *want, char *const *got,
          size_t ngot, const char *what, int *header, const char *title)
{
	const char *w[256];
	size_t nw = node_strs(doc, want, w, WW_NELEM(w)), miss = 0, extra = 0;

	for (size_t i = 0; i < nw; i++)
		miss += !strs_has(got, ngot, w[i]);
	for (size_t i = 0; i < ngot; i++) {
		int found = 0;
		for (size_t j = 0; j < nw && !found; j++)
			found = strcmp(w[j], got[i]) == 0;
		extra += !found;
	}
	if (miss == 0 && extra == 0)
		return 1;
	if (!*header) {
		printf("%s", title);
		*header = 1;
	}
	printf("    %-14s expected ", what);
	print_strs(w, nw);
	printf(", got ");
	print_strs((const char *const *)got, ngot);
	printf("\n");
	for (size_t i = 0; i < nw; i++)
		if (!strs_has(got, ngot, w[i]))
			printf("    %-14s - %s (expected, did not match)\n", "",
			       w[i]);
	for (size_t i = 0; i < ngot; i++) {
		int found = 0;
		for (size_t j = 0; j < nw && !found; j++)
			found = strcmp(w[j], got[i]) == 0;
		if (!found)
			printf("    %-14s + %s (matched, not expected)\n", "",
			       got[i]);
	}
	return 0;
}

static const char *const case_keys[] = {"name",      "endpoint",   "body",
                                        "record",    "expect",     "sender",
                                        "direction", "description"};
static const char *const expect_keys[] = {"action", "rules", "monitor_rules"};

/* The first key of map not in keys[0..n), or NULL. */
static const char *
unknown_key(yaml_document_t *doc, yaml_node_t *map, const char *const *keys,
            size_t n)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const char *k = scalar(yaml_document_get_node(doc, p->key));
		size_t i;
		if (k == NULL)
			return "(not a string)";
		for (i = 0; i < n && strcmp(keys[i], k) != 0; i++)
			;
		if (i == n)
			return k;
	}
	return NULL;
}

/* The message of a test case: body + endpoint, or a journal record. */
static int
case_message(const char *file, yaml_document_t *doc, yaml_node_t *tc,
             Ww__Message **m, char *err, size_t errlen)
{
	const char *record = scalar(map_get(doc, tc, "record"));
	const char *endpoint = scalar(map_get(doc, tc, "endpoint"));
	yaml_node_t *body = map_get(doc, tc, "body");
	char *text = NULL;
	int rc;

	if (record != NULL)
		return message_from_record(file, record, m, err, errlen);
	if (endpoint == NULL || body == NULL) {
		snprintf(err, errlen, "needs endpoint and body, or record");
		return WW_EINVAL;
	}
	if (body->type == YAML_SCALAR_NODE) {
		return message_from_body(endpoint, scalar(body),
		                         body->data.scalar.length, m, err,
		                         errlen);
	}
	size_t budget = MAX_BODY_NODES;
	json_t *j = yaml_to_json(doc, body, 0, &budget);
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL) {
		snprintf(err, errlen,
		         "body: cannot be turned into JSON (deeper than %d or "
		         "more than %d nodes?)",
		         MAX_YAML_DEPTH, MAX_BODY_NODES);
		json_decref(j);
		return WW_EINVAL;
	}
	json_decref(j);
	rc = message_from_body(endpoint, text, strlen(text), m, err, errlen);
	free(text);
	return rc;
}

/* Optional overrides of what the decoder found (scopes by sender). */
static int
case_overrides(yaml_document_t *doc, yaml_node_t *tc, Ww__Message *m, char *err,
               size_t errlen)
{
	const char *sender = scalar(map_get(doc, tc, "sender"));
	const char *dir = scalar(map_get(doc, tc, "direction"));

	if (dir != NULL) {
		if (strcmp(dir, "inbound") == 0)
			m->direction = WW__DIRECTION__INBOUND;
		else if (strcmp(dir, "outbound") == 0)
			m->direction = WW__DIRECTION__OUTBOUND;
		else {
			snprintf(err, errlen,
			         "direction: expected inbound or outbound");
			return WW_EINVAL;
		}
	}
	return sender != NULL ? record_set_str(&m->sender, sender) : WW_OK;
}

static int
case_check_expect(yaml_document_t *doc, yaml_node_t *expect, char *err,
                  size_t errlen)
{
	const char *k, *action;

	if (expect == NULL || expect->type != YAML_MAPPING_NODE) {
		snprintf(err, errlen, "expect: a mapping is required");
		return WW_EINVAL;
	}
	if ((k = unknown_key(doc, expect, expect_keys,
	                     WW_NELEM(expect_keys))) != NULL) {
		snprintf(
		    err, errlen,
		    "expect: unknown key \"%s\" (action, rules, monitor_rules)",
		    k);
		return WW_EINVAL;
	}
	action = scalar(map_get(doc, expect, "action"));
	if (action != NULL && record_action_parse(action) < 0) {
		snprintf(
		    err, errlen,
		    "expect: action \"%s\": expected allow, alert, redact or "
		    "block",
		    action);
		return WW_EINVAL;
	}
	return WW_OK;
}

/* Compare v with the case's expect; print the diff.  1 = passed. */
static int
case_compare(yaml_document_t *doc, yaml_node_t *expect, const Ww__Verdict *v,
             const char *title)
{
	const char *action = scalar(map_get(doc, expect, "action"));
	yaml_node_t *rules = map_get(doc, expect, "rules");
	yaml_node_t *mon = map_get(doc, expect, "monitor_rules");
	const char *got = record_action_name(v->action);
	int header = 0, ok = 1;

	if (action != NULL && record_action_parse(action) != (int)v->action) {
		printf("%s    %-14s expected %s, got %s\n", title,
		       "action:", action, got);
		header = 1;
		ok = 0;
	}
	if (rules != NULL)
		ok &= check_set(doc, rules, v->rules, v->n_rules,
		                "rules:", &header, title);
	if (mon != NULL)
		ok &= check_set(doc, mon, v->monitor_rules, v->n_monitor_rules,
		                "monitor_rules:", &header, title);
	return ok;
}

/* Run one test case.  1 = passed, 0 = failed (diff printed). */
static int
run_case(const struct policy *p, struct policy_scratch *s, const char *file,
         yaml_document_t *doc, yaml_node_t *tc, int verbose)
{
	char title[1024], err[512] = "";
	const char *name = scalar(map_get(doc, tc, "name")), *k;
	yaml_node_t *expect = map_get(doc, tc, "expect");
	Ww__Message *m = NULL;
	Ww__Verdict *v = NULL;
	int ok = 0, rc;

	snprintf(title, sizeof(title), "FAIL %s:%lu: %s\n", file,
	         (unsigned long)tc->start_mark.line + 1,
	         name != NULL ? name : "(no name)");
	if (tc->type != YAML_MAPPING_NODE) {
		snprintf(err, sizeof(err), "a test case is a mapping");
		goto out;
	}
	if ((k = unknown_key(doc, tc, case_keys, WW_NELEM(case_keys))) !=
	    NULL) {
		snprintf(err, sizeof(err), "unknown key \"%s\"", k);
		goto out;
	}
	if (case_check_expect(doc, expect, err, sizeof(err)) != WW_OK ||
	    case_message(file, doc, tc, &m, err, sizeof(err)) != WW_OK ||
	    case_overrides(doc, tc, m, err, sizeof(err)) != WW_OK)
		goto out;
	if ((rc = judge(p, s, m, &v, NULL)) != WW_OK) {
		snprintf(err, sizeof(err), "judging failed: %s",
		         ww_strerror(rc));
		goto out;
	}
	ok = case_compare(doc, expect, v, title);
	if (ok && verbose)
		printf("ok   %s:%lu: %s\n", file,
		       (unsigned long)tc->start_mark.line + 1,
		       name != NULL ? name : "(no name)");
out:
	if (err[0] != '\0')
		printf("%s    error: %s\n", title, err);
	if (v != NULL)
		protobuf_c_message_free_unpacked(&v->base, NULL);
	message_free(m);
	return ok;
}

/* Run every case of one test file; counts go to *passed and *failed. */
static int
run_file(const struct policy *p, struct policy_scratch *s, const char *file,
         int verbose, unsigned *passed, unsigned *failed)
{
	yaml_document_t doc;
	yaml_node_t *tests;
	char *text = NULL;
	size_t len;
	int rc;

	if ((rc = read_file(file, &text, &len)) != WW_OK)
		return rc;
	if ((rc = yaml_load_buf(text, len, &doc)) != WW_OK) {
		printf("FAIL %s: not a YAML document\n", file);
		free(text);
		return rc;
	}
	tests = map_get(&doc, yaml_document_get_root_node(&doc), "tests");
	if (tests == NULL || tests->type != YAML_SEQUENCE_NODE) {
		printf("FAIL %s: expected a top-level \"tests:\" sequence\n",
		       file);
		rc = WW_EPARSE;
	} else {
		for (yaml_node_item_t *it = tests->data.sequence.items.start;
		     it < tests->data.sequence.items.top; it++) {
			if (run_case(p, s, file, &doc,
			             yaml_document_get_node(&doc, *it),
			             verbose))
				(*passed)++;
			else
				(*failed)++;
		}
	}
	yaml_document_delete(&doc);
	free(text);
	return rc;
}

static int
cmd_test(int argc, char **argv)
{
	struct policy *p = NULL;
	struct policy_scratch *s = NULL;
	unsigned passed = 0, failed = 0;
	int verbose = 0, nfiles = 0, broken = 0, i;

	for (i = 0; i < argc; i++)
		if (strcmp(argv[i], "-v") == 0 ||
		    strcmp(argv[i], "--verbose") == 0)
			verbose = 1;
	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (load_policy(argv[0], &p) != WW_OK)
		return EXIT_FAILED;
	if (policy_scratch_new(p, &s) != WW_OK) {
		policy_unref(p);
		return EXIT_USAGE;
	}
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-')
			continue;
		nfiles++;
		if (run_file(p, s, argv[i], verbose, &passed, &failed) != WW_OK)
			broken = 1;
	}
	printf("%u passed, %u failed\n", passed, failed);
	policy_scratch_free(s);
	policy_unref(p);
	if (nfiles == 0) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	return failed > 0 || broken ? EXIT_FAILED : 0;
}

static int
cmd_check(int argc, char **argv)
{
	struct policy *p = NULL;

	if (argc != 1) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (load_policy(argv[0], &p) != WW_OK)
		return EXIT_FAILED;
	printf("%s: OK: %zu rules, %zu patterns, database %zu KiB, "
	       "%zu detectors built in, digest %.16s\n",
	       argv[0], policy_rule_count(p), policy_pattern_count(p),
	       (policy_db_bytes(p) + 1023) / 1024, detect_count(),
	       policy_digest(p));
	policy_unref(p);
	return 0;
}

/* -------------------------------------------------------------- explain */

struct explain {
	const struct policy *p;
	struct policy_meta meta;
	const Ww__Message *m;
	Ww__Verdict *v;  /* the verdict */
	Ww__Verdict *v2; /* the verdict with every unless removed */
	char **redacted;
	const char **excluded; /* rules excluded by their unless */
	size_t nexcluded;
};

static int
verdict_has(const Ww__Verdict *v, const char *id)
{
	return strs_has(v->rules, v->n_rules, id) ||
	       strs_has(v->monitor_rules, v->n_monitor_rules, id);
}

/* Start of the UTF-8 character holding byte i of s (never before lo). */
static size_t
utf8_back(const char *s, size_t i, size_t lo)
{
	while (i > lo && ((unsigned char)s[i] & 0xc0) == 0x80)
		i--;
	return i;
}

/* The hit [start, end) of text, marked [[so]], with up to ctx bytes of
 * context each side (0: all of it); newlines shown as "\n". */
static char *
mark_hit(const char *text, size_t start, size_t end, size_t ctx)
{
	size_t len = strlen(text), from = 0, to = len, n = 0;
	char *out;

	if (end > len)
		end = len;
	if (start > end)
		start = end;
	if (ctx > 0 && start > ctx)
		from = utf8_back(text, start - ctx, 0);
	if (ctx > 0 && len - end > ctx)
		to = utf8_back(text, end + ctx, end);
	if ((out = malloc((to - from) * 2 + 16)) == NULL)
		return NULL;
	if (from > 0)
		n += (size_t)sprintf(out + n, "...");
	for (size_t i = from; i <= to; i++) {
		if (i == start)
			n += (size_t)sprintf(out + n, "[[");
		if (i == end)
			n += (size_t)sprintf(out + n, "]]");
		if (i == to)
			break;
		if (ctx > 0 && text[i] == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else {
			out[n++] = text[i];
		}
	}
	if (to < len)
		n += (size_t)sprintf(out + n, "...");
	out[n] = '\0';
	return out;
}

static const char *
part_path(const Ww__Message *m, uint32_t part)
{
	return part < m->n_texts && m->texts[part]->path != NULL
	           ? m->texts[part]->path
	           : "?";
}

static const char *
part_text(const Ww__Message *m, uint32_t part)
{
	return part < m->n_texts && m->texts[part]->text != NULL
	           ? m->texts[part]->text
	           : "";
}

static void
explain_rule_human(const struct explain *x, const char *id,
                   const Ww__Verdict *v)
{
	const struct rule_meta *rm = policy_meta_find(&x->meta, id);

	printf("  %s  (%s, %s", id,
	       rm != NULL && rm->action != NULL ? rm->action : "?",
	       rm != NULL && rm->mode != NULL ? rm->mode : "enforce");
	if (rm != NULL)
		printf(", line %d", rm->line);
	printf(")");
	if (rm != NULL && rm->description != NULL)
		printf(" %s", rm->description);
	printf("\n");
	for (size_t i = 0; i < v->n_spans; i++) {
		const Ww__Span *sp = v->spans[i];
		if (sp->rule_id == NULL || strcmp(sp->rule_id, id) != 0)
			continue;
		char *mk =
		    mark_hit(part_text(x->m, sp->part), sp->start, sp->end, 40);
		printf("    %s: %s\n", part_path(x->m, sp->part),
		       mk != NULL ? mk : "?");
		free(mk);
	}
}

static void
explain_human(const struct explain *x)
{
	const Ww__Message *m = x->m;
	const Ww__Verdict *v = x->v;
	size_t i;

	printf("verdict: %s\n", record_action_name(v->action));
	if (v->refusal_message != NULL && v->refusal_message[0] != '\0')
		printf("  refusal message: %s\n", v->refusal_message);
	printf("  policy: %s (digest %.16s)\n", policy_file(x->p),
	       policy_digest(x->p));
	printf("  message: %s, msgtype %s, sender %s, %zu text part%s\n",
	       m->endpoint != NULL && m->endpoint[0] ? m->endpoint : "-",
	       m->msgtype != NULL && m->msgtype[0] ? m->msgtype : "-",
	       m->sender != NULL && m->sender[0] ? m->sender : "-", m->n_texts,
	       m->n_texts == 1 ? "" : "s");
	printf("\nmatched (enforce):%s\n", v->n_rules ? "" : " none");
	for (i = 0; i < v->n_rules; i++)
		explain_rule_human(x, v->rules[i], v);
	printf("matched (monitor, reported only):%s\n",
	       v->n_monitor_rules ? "" : " none");
	for (i = 0; i < v->n_monitor_rules; i++)
		explain_rule_human(x, v->monitor_rules[i], v);
	printf("excluded by unless:%s\n", x->nexcluded ? "" : " none");
	for (i = 0; i < x->nexcluded; i++)
		explain_rule_human(x, x->excluded[i], x->v2);
	if (x->redacted == NULL)
		return;
	printf("\nforwarded after redaction:\n");
	for (i = 0; i < m->n_texts; i++)
		if (x->redacted[i] != NULL)
			printf("  %s: %s\n", part_path(m, (uint32_t)i),
			       x->redacted[i]);
}

static json_t *
json_strs(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *
explain_hits_json(const struct explain *x, const char *id, const Ww__Verdict *v)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < v->n_spans; i++) {
		const Ww__Span *sp = v->spans[i];
		const char *text = part_text(x->m, sp->part);
		size_t len = strlen(text);
		size_t st = sp->start < len ? sp->start : len;
		size_t en = sp->end < len ? sp->end : len;
		char *mk;
		if (sp->rule_id == NULL || strcmp(sp->rule_id, id) != 0)
			continue;
		mk = mark_hit(text, st, en < st ? st : en, 0);
		json_array_append_new(
		    a,
		    json_pack("{s:i,s:s,s:i,s:i,s:s%,s:s?}", "part",
		              (json_int_t)sp->part, "path",
		              part_path(x->m, sp->part), "start",
		              (json_int_t)st, "end", (json_int_t)en, "text",
		              text + st, en > st ? en - st : 0, "marked", mk));
		free(mk);
	}
	return a;
}

static json_t *
explain_rule_json(const struct explain *x, const char *id, const char *status,
                  const Ww__Verdict *v)
{
	const struct rule_meta *rm = policy_meta_find(&x->meta, id);

	return json_pack("{s:s,s:s,s:s?,s:s,s:o?,s:o}", "rule", id, "status",
	                 status, "action", rm != NULL ? rm->action : NULL,
	                 "mode",
	                 rm != NULL && rm->mode != NULL ? rm->mode : "enforce",
	                 "line", rm != NULL ? json_integer(rm->line) : NULL,
	                 "hits", explain_hits_json(x, id, v));
}

static json_t *
explain_message_json(const Ww__Message *m, char **redacted)
{
	json_t *texts = json_array(), *red = redacted ? json_array() : NULL;

	for (size_t i = 0; texts != NULL && i < m->n_texts; i++) {
		json_array_append_new(
		    texts,
		    json_pack("{s:s,s:s}", "path", part_path(m, (uint32_t)i),
		              "text", part_text(m, (uint32_t)i)));
		if (red != NULL && redacted[i] != NULL)
			json_array_append_new(
			    red, json_pack("{s:s,s:s}", "path",
			                   part_path(m, (uint32_t)i), "text",
			                   redacted[i]));
	}
	return json_pack(
	    "{s:s?,s:s?,s:s?,s:s,s:o?,s:o?}", "endpoint", m->endpoint,
	    "msgtype", m->msgtype, "sender", m->sender, "direction",
	    m->direction == WW__DIRECTION__INBOUND ? "inbound" : "outbound",
	    "texts", texts, "redacted_texts", red);
}

static int
explain_json(const struct explain *x)
{
	const Ww__Verdict *v = x->v;
	json_t *matches = json_array(), *o;
	size_t i;
	char *s;

	for (i = 0; matches != NULL && i < v->n_rules; i++)
		json_array_append_new(
		    matches, explain_rule_json(x, v->rules[i], "matched", v));
	for (i = 0; matches != NULL && i < v->n_monitor_rules; i++)
		json_array_append_new(
		    matches,
		    explain_rule_json(x, v->monitor_rules[i], "monitor", v));
	for (i = 0; matches != NULL && i < x->nexcluded; i++)
		json_array_append_new(
		    matches, explain_rule_json(x, x->excluded[i],
		                               "excluded_by_unless", x->v2));
	o = json_pack(
	    "{s:s,s:o,s:o,s:o,s:s?,s:s,s:s,s:o,s:o}", "action",
	    record_action_name(v->action), "rules",
	    json_strs(v->rules, v->n_rules), "monitor_rules",
	    json_strs(v->monitor_rules, v->n_monitor_rules),
	    "excluded_by_unless",
	    json_strs((char *const *)x->excluded, x->nexcluded),
	    "refusal_message",
	    v->refusal_message != NULL && v->refusal_message[0] != '\0'
	        ? v->refusal_message
	        : NULL,
	    "policy_digest", policy_digest(x->p), "policy_file",
	    policy_file(x->p), "message",
	    explain_message_json(x->m, x->redacted), "matches", matches);
	if (o == NULL || (s = json_dumps(o, JSON_INDENT(2))) == NULL) {
		json_decref(o);
		return WW_ENOMEM;
	}
	puts(s);
	free(s);
	json_decref(o);
	return WW_OK;
}

/* Judge again without any unless: what matched now and not before was
 * excluded by its exception. */
static int
explain_unless(struct explain *x, struct policy_scratch *s)
{
	struct policy *p2 = NULL;
	struct policy_errors *errs = NULL;
	const char *text = NULL;
	char *stripped = NULL;
	size_t len = 0, slen = 0;
	int rc;

	text = policy_text(x->p, &len);
	if ((rc = policy_meta_load(text, len, &x->meta)) != WW_OK ||
	    (rc = policy_strip_unless(text, len, &stripped, &slen)) != WW_OK)
		goto out;
	if ((rc = policy_load_buf(policy_file(x->p), stripped, slen, &p2,
	                          &errs)) != WW_OK ||
	    (rc = policy_scratch_fit(p2, s)) != WW_OK ||
	    (rc = judge(p2, s, x->m, &x->v2, NULL)) != WW_OK)
		goto out;
	x->excluded = calloc(x->v2->n_rules + x->v2->n_monitor_rules + 1,
	                     sizeof(*x->excluded));
	if (x->excluded == NULL) {
		rc = WW_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < x->v2->n_rules; i++)
		if (!verdict_has(x->v, x->v2->rules[i]))
			x->excluded[x->nexcluded++] = x->v2->rules[i];
	for (size_t i = 0; i < x->v2->n_monitor_rules; i++)
		if (!verdict_has(x->v, x->v2->monitor_rules[i]))
			x->excluded[x->nexcluded++] = x->v2->monitor_rules[i];
out:
	if (rc != WW_OK)
		fprintf(stderr,
		        "wwpolicy: cannot evaluate the unless "
		        "clauses: %s\n",
		        ww_strerror(rc));
	policy_errors_free(errs);
	policy_unref(p2);
	free(stripped);
	return rc;
}

struct explain_args {
	const char *policy, *endpoint, *body, *body_file, *record;
	int json;
};

static int
explain_parse_args(int argc, char **argv, struct explain_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char **slot = NULL;
		if (strcmp(argv[i], "--json") == 0) {
			a->json = 1;
			continue;
		}
		if (strcmp(argv[i], "--endpoint") == 0)
			slot = &a->endpoint;
		else if (strcmp(argv[i], "--body") == 0)
			slot = &a->body;
		else if (strcmp(argv[i], "--body-file") == 0)
			slot = &a->body_file;
		else if (strcmp(argv[i], "--record") == 0)
			slot = &a->record;
		else if (argv[i][0] != '-' && a->policy == NULL) {
			a->policy = argv[i];
			continue;
		}
		if (slot == NULL || i + 1 >= argc) {
			fprintf(stderr, "wwpolicy explain: bad argument %s\n",
			        argv[i]);
			return WW_EINVAL;
		}
		*slot = argv[++i];
	}
	if (a->policy == NULL ||
	    (a->record == NULL) == (a->body == NULL && a->body_file == NULL) ||
	    (a->body != NULL && a->body_file != NULL) ||
	    (a->record == NULL && a->endpoint == NULL)) {
		fputs(usage_text, stderr);
		return WW_EINVAL;
	}
	return WW_OK;
}

static int
explain_message(const struct explain_args *a, Ww__Message **m)
{
	char err[512] = "", *buf = NULL;
	size_t len = 0;
	int rc;

	if (a->record != NULL) {
		rc = message_from_record(NULL, a->record, m, err, sizeof(err));
	} else if (a->body_file != NULL) {
		if ((rc = read_file(a->body_file, &buf, &len)) != WW_OK)
			return rc;
		rc = message_from_body(a->endpoint, buf, len, m, err,
		                       sizeof(err));
	} else {
		rc = message_from_body(a->endpoint, a->body, strlen(a->body), m,
		                       err, sizeof(err));
	}
	if (rc != WW_OK)
		fprintf(stderr, "wwpolicy: cannot decode the message: %s\n",
		        err[0] ? err : ww_strerror(rc));
	free(buf);
	return rc;
}

static int
cmd_explain(int argc, char **argv)
{
	struct explain_args a;
	struct explain x;
	struct policy *p = NULL;
	struct policy_scratch *s = NULL;
	Ww__Message *m = NULL;
	int rc, status = EXIT_USAGE;

	memset(&x, 0, sizeof(x));
	if (explain_parse_args(argc, argv, &a) != WW_OK)
		return EXIT_USAGE;
	if (load_policy(a.policy, &p) != WW_OK)
		return EXIT_FAILED;
	if (explain_message(&a, &m) != WW_OK ||
	    policy_scratch_new(p, &s) != WW_OK)
		goto out;
	x.p = p;
	x.m = m;
	if (judge(p, s, m, &x.v, &x.redacted) != WW_OK ||
	    explain_unless(&x, s) != WW_OK)
		goto out;
	if (x.v->action != WW__ACTION__REDACT && x.redacted != NULL) {
		policy_redacted_free(x.redacted, m->n_texts);
		x.redacted = NULL;
	}
	rc = a.json ? explain_json(&x) : (explain_human(&x), WW_OK);
	status = rc == WW_OK ? 0 : EXIT_USAGE;
out:
	if (x.redacted != NULL)
		policy_redacted_free(x.redacted, m->n_texts);
	if (x.v != NULL)
		protobuf_c_message_free_unpacked(&x.v->base, NULL);
	if (x.v2 != NULL)
		protobuf_c_message_free_unpacked(&x.v2->base, NULL);
	free(x.excluded);
	policy_meta_cleanup(&x.meta);
	policy_scratch_free(s);
	message_free(m);
	policy_unref(p);
	return status;
}

/* ---------------------------------------------------------------- bench */

static const char *const zh_phrases[] = {
    "各位同事，本周的合规培训安排在周四下午三点，请准时参加。",
    "请查收附件中的季度报表，如有问题随时联系我。",
    "客户反馈交易系统登录缓慢，运维同事正在排查原因。",
    "明天上午十点在三楼会议室召开项目例会。",
    "这笔资金划转需要风控部门审批后才能执行。",
    "本月基金净值波动较大，请在客户沟通中做好风险提示。",
    "请于周五前提交差旅报销单据，逾期将顺延至下月处理。",
    "新的客户开户流程已经上线，请大家尽快熟悉操作手册。",
    "收到，我稍后把会议纪要发到群里。",
    "债券回购利率今天上午有所回落，关注午后资金面变化。",
    "审计组下周进场，请各部门提前准备好相关凭证。",
    "好的，谢谢！",
};

static const char *const en_phrases[] = {
    "Please review the attached draft before Friday.",
    "The settlement batch finished at 18:05 with no errors.",
    "Can we move the call with the client to 3pm tomorrow?",
    "FYI the market data feed was delayed by two minutes this morning.",
    "Thanks, I will update the risk report and circulate it tonight.",
    "The compliance team approved the new onboarding checklist.",
    "Let's sync on the Q3 budget after the town hall.",
    "ok",
};

/* xorshift64*: deterministic, so two runs judge the same corpus. */
static uint64_t
rnd(uint64_t *st)
{
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return *st * 2685821657736338717ull;
}

/* One generated message text: phrases, some numbers, 60..2000 bytes. */
static char *
bench_text(uint64_t *st)
{
	size_t target = 60 + rnd(st) % 1940, n = 0;
	char *t = malloc(target + 256);

	if (t == NULL)
		return NULL;
	while (n < target) {
		unsigned r = (unsigned)(rnd(st) % 100);
		if (r < 55)
			n += (size_t)sprintf(
			    t + n, "%s",
			    zh_phrases[rnd(st) % WW_NELEM(zh_phrases)]);
		else if (r < 85)
			n += (size_t)sprintf(
			    t + n, "%s ",
			    en_phrases[rnd(st) % WW_NELEM(en_phrases)]);
		else if (r < 92)
			n += (size_t)sprintf(
			    t + n, "订单号%010llu，",
			    (unsigned long long)(rnd(st) % 10000000000ull));
		else if (r < 97)
			n += (size_t)sprintf(
			    t + n, "金额 %llu.%02u 元。",
			    (unsigned long long)(rnd(st) % 1000000),
			    (unsigned)(rnd(st) % 100));
		else if (r < 99)
			n += (size_t)sprintf(t + n, "联系 user%u@example.com ",
			                     (unsigned)(rnd(st) % 1000));
		else
			n += (size_t)sprintf(
			    t + n, "手机 13%09llu。",
			    (unsigned long long)(rnd(st) % 1000000000ull));
	}
	t[n] = '\0';
	return t;
}

struct corpus {
	Ww__Message **m;
	size_t n, bytes;
};

static void
corpus_cleanup(struct corpus *c)
{
	for (size_t i = 0; i < c->n; i++)
		message_free(c->m[i]);
	free(c->m);
}

static int
corpus_add(struct corpus *c, Ww__Message *m)
{
	Ww__Message **nm = realloc(c->m, (c->n + 1) * sizeof(*nm));

	if (nm == NULL) {
		message_free(m);
		return WW_ENOMEM;
	}
	c->m = nm;
	c->m[c->n++] = m;
	for (size_t i = 0; i < m->n_texts; i++)
		c->bytes += strlen(m->texts[i]->text);
	return WW_OK;
}

static int
text_message(const char *text, size_t len, Ww__Message **out)
{
	Ww__Message *m = message_new();
	int rc = WW_ENOMEM;

	if (m != NULL &&
	    record_set_str(&m->endpoint, "message/send") == WW_OK &&
	    record_set_str(&m->msgtype, "text") == WW_OK &&
	    record_set_str(&m->sender, "agent:1000002") == WW_OK &&
	    message_add_text(m, "text.content", text, len) == WW_OK) {
		m->direction = WW__DIRECTION__OUTBOUND;
		*out = m;
		return WW_OK;
	}
	message_free(m);
	return rc;
}

static int
corpus_generate(struct corpus *c, size_t n)
{
	uint64_t st = 0x9e3779b97f4a7c15ull;
	Ww__Message *m;
	int rc = WW_OK;

	for (size_t i = 0; i < n && rc == WW_OK; i++) {
		char *t = bench_text(&st);
		if (t == NULL)
			return WW_ENOMEM;
		rc = text_message(t, strlen(t), &m);
		free(t);
		if (rc == WW_OK)
			rc = corpus_add(c, m);
	}
	return rc;
}

/* One message per line: a `wwjournal export` object or plain text. */
static int
corpus_load(struct corpus *c, const char *path)
{
	char *buf = NULL, *line, *save = NULL, err[256];
	size_t len;
	Ww__Message *m;
	int rc;

	if ((rc = read_file(path, &buf, &len)) != WW_OK)
		return rc;
	for (line = strtok_r(buf, "\n", &save); line != NULL && rc == WW_OK;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '{' &&
		    message_from_export(line, &m, err, sizeof(err)) == WW_OK)
			rc = corpus_add(c, m);
		else if ((rc = text_message(line, strlen(line), &m)) == WW_OK)
			rc = corpus_add(c, m);
	}
	free(buf);
	if (rc == WW_OK && c->n == 0) {
		fprintf(stderr, "wwpolicy: %s: no messages\n", path);
		rc = WW_EINVAL;
	}
	return rc;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct bench_result {
	uint64_t msgs, bytes, ns;
	uint64_t actions[4];
	uint32_t *lat; /* ns per message, nlat samples */
	size_t nlat;
};

#define BENCH_MAX_SAMPLES (4u << 20)

static int
bench_run(const struct policy *p, struct policy_scratch *s,
          const struct corpus *c, double seconds, struct bench_result *r)
{
	uint64_t start = now_ns(), stop = start + (uint64_t)(seconds * 1e9);
	Ww__Verdict *v;
	int rc = WW_OK;

	memset(r, 0, sizeof(*r));
	if ((r->lat = malloc(BENCH_MAX_SAMPLES * sizeof(*r->lat))) == NULL)
		return WW_ENOMEM;
	for (size_t i = 0;; i = (i + 1) % c->n) {
		uint64_t t0 = now_ns();
		if ((rc = policy_judge(p, s, c->m[i], &v, NULL)) != WW_OK)
			break;
		uint64_t t1 = now_ns();
		r->actions[v->action & 3]++;
		protobuf_c_message_free_unpacked(&v->base, NULL);
		if (r->nlat < BENCH_MAX_SAMPLES)
			r->lat[r->nlat++] =
			    (uint32_t)(t1 - t0 > UINT32_MAX ? UINT32_MAX
			                                    : t1 - t0);
		r->msgs++;
		for (size_t k = 0; k < c->m[i]->n_texts; k++)
			r->bytes += strlen(c->m[i]->texts[k]->text);
		if (t1 >= stop && r->msgs >= c->n)
			break;
	}
	r->ns = now_ns() - start;
	return rc;
}

/* Normalized copies of the corpus' messages (texts joined by newlines). */
struct normcorpus {
	char **bufs;
	size_t *lens;
	size_t n;
};

static void
normcorpus_cleanup(struct normcorpus *nc)
{
	for (size_t i = 0; nc->bufs != NULL && i < nc->n; i++)
		free(nc->bufs[i]);
	free(nc->bufs);
	free(nc->lens);
}

static int
normalize_message(struct normalize *nz, const Ww__Message *m)
{
	int rc = WW_OK;

	normalize_reset(nz);
	for (size_t k = 0; k < m->n_texts && rc == WW_OK; k++) {
		rc = normalize_append(nz, m->texts[k]->text,
		                      strlen(m->texts[k]->text));
		if (rc == WW_OK)
			rc = normalize_append_raw(nz, "\n", 1);
	}
	return rc;
}

/*
 * Normalization alone, as the judgement does it (policy/normalize.h),
 * looping over the corpus for the given time; the first round keeps the
 * normalized texts in nc for bench_scan.  *mbps: MB/s of input text.
 */
static int
bench_normalize(const struct corpus *c, double seconds, struct normcorpus *nc,
                double *mbps)
{
	struct normalize *nz = NULL;
	uint64_t start = now_ns(), stop, bytes = 0, rounds = 0;
	int rc;

	stop = start + (uint64_t)(seconds * 1e9);
	nc->n = c->n;
	nc->bufs = calloc(c->n, sizeof(*nc->bufs));
	nc->lens = calloc(c->n, sizeof(*nc->lens));
	if (nc->bufs == NULL || nc->lens == NULL ||
	    (rc = normalize_new(&nz)) != WW_OK)
		return WW_ENOMEM;
	for (size_t i = 0;; i = (i + 1) % c->n, rounds++) {
		if ((rc = normalize_message(nz, c->m[i])) != WW_OK)
			break;
		for (size_t k = 0; k < c->m[i]->n_texts; k++)
			bytes += strlen(c->m[i]->texts[k]->text);
		if (nc->bufs[i] == NULL) {
			nc->lens[i] = normalize_len(nz);
			nc->bufs[i] = malloc(nc->lens[i] + 1);
			if (nc->bufs[i] == NULL) {
				rc = WW_ENOMEM;
				break;
			}
			memcpy(nc->bufs[i], normalize_text(nz), nc->lens[i]);
		}
		if (rounds >= c->n && (rounds & 63) == 0 && now_ns() >= stop)
			break;
	}
	*mbps = (double)bytes / 1e6 / ((double)(now_ns() - start) / 1e9);
	normalize_free(nz);
	return rc;
}

/*
 * The scan alone (policy_scan_buf: no validation or evaluation) over the
 * normalized texts.  *mbps: MB/s of normalized text.
 */
static int
bench_scan(const struct policy *p, struct policy_scratch *s,
           const struct normcorpus *nc, double seconds, double *mbps)
{
	uint64_t start = now_ns(), stop, bytes = 0, rounds = 0;
	int rc;

	stop = start + (uint64_t)(seconds * 1e9);
	for (size_t i = 0;; i = (i + 1) % nc->n, rounds++) {
		rc = policy_scan_buf(p, s, nc->bufs[i], nc->lens[i], NULL);
		if (rc != WW_OK)
			return rc;
		bytes += nc->lens[i];
		if (rounds >= nc->n && (rounds & 63) == 0 && now_ns() >= stop)
			break;
	}
	*mbps = (double)bytes / 1e6 / ((double)(now_ns() - start) / 1e9);
	return WW_OK;
}

/* Where the judgement's time goes: normalization, then the scan. */
static void
bench_split(const struct policy *p, struct policy_scratch *s,
            const struct corpus *c, double seconds)
{
	struct normcorpus nc = {0};
	double norm = 0, scan = 0;

	if (bench_normalize(c, seconds, &nc, &norm) == WW_OK &&
	    bench_scan(p, s, &nc, seconds, &scan) == WW_OK) {
		printf("normalization alone: %.1f MB/s\n", norm);
		printf("scan alone (normalized text, no validation or "
		       "evaluation): %.1f MB/s\n",
		       scan);
	}
	normcorpus_cleanup(&nc);
}

static double
pct(const struct bench_result *r, double q)
{
	size_t i = (size_t)(q * (double)(r->nlat - 1));

	return r->nlat ? r->lat[i] / 1000.0 : 0;
}

static void
bench_report(const struct corpus *c, const char *src, const struct policy *p,
             struct bench_result *r)
{
	double secs = (double)r->ns / 1e9;

	qsort(r->lat, r->nlat, sizeof(*r->lat), cmp_u32);
	printf("corpus: %zu messages, %.2f MB, %.0f bytes/message (%s)\n", c->n,
	       (double)c->bytes / 1e6, (double)c->bytes / (double)c->n, src);
	printf("policy: %zu rules, %zu patterns (%s)\n", policy_rule_count(p),
	       policy_pattern_count(p), policy_file(p));
	printf("judged %llu messages, %.1f MB in %.2f s on one thread\n",
	       (unsigned long long)r->msgs, (double)r->bytes / 1e6, secs);
	printf("throughput: %.1f MB/s, %.0f messages/s\n",
	       (double)r->bytes / 1e6 / secs, (double)r->msgs / secs);
	printf("latency per message (us): p50 %.1f  p90 %.1f  p99 %.1f  "
	       "p99.9 %.1f  max %.1f\n",
	       pct(r, 0.5), pct(r, 0.9), pct(r, 0.99), pct(r, 0.999),
	       pct(r, 1.0));
	printf("verdicts: allow %llu, alert %llu, redact %llu, block %llu\n",
	       (unsigned long long)r->actions[0],
	       (unsigned long long)r->actions[1],
	       (unsigned long long)r->actions[2],
	       (unsigned long long)r->actions[3]);
}

static int
cmd_bench(int argc, char **argv)
{
	const char *policy = NULL, *corpus_file = NULL;
	double seconds = 3;
	struct policy *p = NULL;
	struct policy_scratch *s = NULL;
	struct corpus c = {0};
	struct bench_result r = {0};
	int status = EXIT_USAGE;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--corpus") == 0 && i + 1 < argc)
			corpus_file = argv[++i];
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (argv[i][0] != '-' && policy == NULL)
			policy = argv[i];
		else
			policy = NULL, i = argc;
	}
	if (policy == NULL || !(seconds > 0 && seconds <= 3600)) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (load_policy(policy, &p) != WW_OK)
		return EXIT_FAILED;
	if ((corpus_file != NULL ? corpus_load(&c, corpus_file)
	                         : corpus_generate(&c, 2000)) != WW_OK ||
	    policy_scratch_new(p, &s) != WW_OK ||
	    bench_run(p, s, &c, seconds, &r) != WW_OK)
		goto out;
	bench_report(&c, corpus_file != NULL ? corpus_file : "generated", p,
	             &r);
	bench_split(p, s, &c, seconds / 4);
	status = 0;
out:
	free(r.lat);
	corpus_cleanup(&c);
	policy_scratch_free(s);
	policy_unref(p);
	return status;
}

/* ----------------------------------------------------------------- main */

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (strcmp(cmd, "--version") == 0) {
		printf("wwpolicy %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		fputs("\n", stdout);
		fputs(help_text, stdout);
		fputs("\nBuilt-in detectors:\n", stdout);
		for (size_t i = 0; i < detect_count(); i++)
			printf("  %-15s %s\n", detect_get(i)->name,
			       detect_get(i)->description);
		return 0;
	}
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 2, argv + 2);
	if (strcmp(cmd, "test") == 0)
		return cmd_test(argc - 2, argv + 2);
	if (strcmp(cmd, "explain") == 0)
		return cmd_explain(argc - 2, argv + 2);
	if (strcmp(cmd, "bench") == 0)
		return cmd_bench(argc - 2, argv + 2);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}
