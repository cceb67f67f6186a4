/*
 * export_human.c: records for people -- listing lines, `show` pages,
 * replay transcripts, search highlights.
 *
 * Message text is attacker-controlled and ends up on an auditor's
 * terminal, so every string passes export_human_text(): control
 * characters (ANSI escapes above all), C1 controls and bidirectional
 * overrides are shown as visible escapes, never sent raw.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "store/export.h"
#include "store/export_int.h"
#include "store/filter.h"

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_CYAN "\033[36m"
#define C_HIT "\033[1;7m"

#define PREVIEW_CHARS 60

static void
export_color(struct export *e, struct export_buf *b, const char *code)
{
	if (e->flags & EXPORT_COLOR)
		export_buf_puts(b, code);
}

/* A code point that must not reach a terminal raw? */
static int
export_unsafe(const unsigned char *p, size_t len)
{
	if (len == 1)
		return p[0] < 0x20 || p[0] == 0x7f;
	if (len == 2) /* C1 controls U+0080..U+009F */
		return p[0] == 0xc2 && p[1] < 0xa0;
	/* U+202A..U+202E, U+2066..U+2069: bidi embeddings and overrides */
	return len == 3 && p[0] == 0xe2 &&
	       ((p[1] == 0x80 && p[2] >= 0xaa && p[2] <= 0xae) ||
	        (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9));
}

/*
 * s[0..len) made safe for a terminal.  indent: NULL to fold newlines into
 * a visible mark (one-line forms), else the string that starts each
 * continuation line.  max: stop after that many code points (0: all),
 * adding an ellipsis.
 */
static void
export_human_text(struct export_buf *b, const char *s, size_t len,
                  const char *indent, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, chars = 0, n;

	while (i < len) {
		if (max > 0 && chars++ >= max) {
			export_buf_puts(b, "\xe2\x80\xa6"); /* ... */
			return;
		}
		n = export_utf8_len(p + i, len - i);
		if (n == 0) {
			export_buf_puts(b, "\xef\xbf\xbd");
			i++;
		} else if (p[i] == '\n') {
			if (indent != NULL) {
				export_buf_puts(b, "\n");
				export_buf_puts(b, indent);
			} else {
				export_buf_puts(b,
				                "\xe2\x8f\x8e "); /* return */
			}
			i++;
		} else if (export_unsafe(p + i, n)) {
			export_buf_puts(b, "\\x");
			export_buf_hex(b, p + i, n);
			i += n;
		} else {
			export_buf_add(b, p + i, n);
			i += n;
		}
	}
}

void
export_buf_text(struct export_buf *b, const char *s, size_t len)
{
	export_human_text(b, s, len, NULL, 0);
}

static void
export_human_str(struct export_buf *b, const char *s)
{
	if (s == NULL || s[0] == '\0')
		export_buf_puts(b, "-");
	else
		export_human_text(b, s, strlen(s), NULL, 0);
}

/* "YYYY-MM-DD HH:MM:SSZ" (the human forms drop milliseconds). */
static void
export_human_time(struct export_buf *b, int64_t t)
{
	char buf[FILTER_TIME_LEN];

	filter_format_time(t, buf);
	buf[10] = ' ';
	buf[19] = 'Z';
	buf[20] = '\0';
	export_buf_puts(b, buf);
}

static void
export_human_list(struct export_buf *b, int *first, const char *prefix,
                  char **arr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!*first)
			export_buf_puts(b, ", ");
		*first = 0;
		export_buf_puts(b, prefix);
		export_human_str(b, arr[i]);
	}
}

/* "bob, carol, party 2, tag 3, chat C, external wm.., kf wk.., @all" */
static void
export_human_recipients(struct export_buf *b, const Ww__Recipients *r)
{
	int first = 1;

	if (r != NULL) {
		export_human_list(b, &first, "", r->users, r->n_users);
		export_human_list(b, &first, "party ", r->parties,
		                  r->n_parties);
		export_human_list(b, &first, "tag ", r->tags, r->n_tags);
		if (r->chat_id != NULL && r->chat_id[0] != '\0') {
			char *one[1] = {r->chat_id};
			export_human_list(b, &first, "chat ", one, 1);
		}
		export_human_list(b, &first, "chat ", r->chat_ids,
		                  r->n_chat_ids);
		export_human_list(b, &first, "external ", r->external_users,
		                  r->n_external_users);
		export_human_list(b, &first, "kf ", r->kf_ids, r->n_kf_ids);
		export_human_list(b, &first, "@", r->mentioned, r->n_mentioned);
		if (r->all) {
			export_buf_puts(b, first ? "@all" : ", @all");
			first = 0;
		}
	}
	if (first)
		export_buf_puts(b, "-");
}

static const char *
export_action_color(Ww__Action a)
{
	switch (a) {
	case WW__ACTION__BLOCK:
		return C_RED C_BOLD;
	case WW__ACTION__REDACT:
		return C_YELLOW C_BOLD;
	case WW__ACTION__ALERT:
		return C_YELLOW;
	default:
		return C_GREEN;
	}
}

static void
export_human_verdict(struct export *e, struct export_buf *b,
                     const Ww__Verdict *v)
{
	if (v == NULL) {
		export_buf_puts(b, "-");
		return;
	}
	export_color(e, b, export_action_color(v->action));
	export_buf_puts(b, record_action_name(v->action));
	export_color(e, b, C_RESET);
	for (size_t i = 0; i < v->n_rules; i++) {
		export_buf_puts(b, i == 0 ? " [" : ",");
		export_human_str(b, v->rules[i]);
		if (i + 1 == v->n_rules)
			export_buf_puts(b, "]");
	}
}

/* "  monitor [r1,r2]": rules in monitor mode that matched, if any. */
static void
export_human_monitor(struct export_buf *b, const Ww__Verdict *v)
{
	for (size_t i = 0; v != NULL && i < v->n_monitor_rules; i++) {
		export_buf_puts(b, i == 0 ? "  monitor [" : ",");
		export_human_str(b, v->monitor_rules[i]);
		if (i + 1 == v->n_monitor_rules)
			export_buf_puts(b, "]");
	}
}

/* "200/0 12.3ms", "not forwarded", "outcome unknown". */
static void
export_human_outcome(struct export *e, struct export_buf *b,
                     const Ww__Record *orec)
{
	const Ww__Outcome *o = orec != NULL ? orec->outcome : NULL;

	if (o == NULL) {
		export_color(e, b, C_YELLOW);
		export_buf_puts(b, "outcome unknown");
		export_color(e, b, C_RESET);
		return;
	}
	if (!o->forwarded) {
		export_buf_puts(b, "not forwarded");
		if (o->local_error != NULL && o->local_error[0] != '\0') {
			export_buf_puts(b, " (");
			export_human_str(b, o->local_error);
			export_buf_puts(b, ")");
		}
		return;
	}
	export_buf_printf(b, "%u/%lld ", o->http_status, (long long)o->errcode);
	export_buf_latency(b, o->latency_us);
	export_buf_puts(b, "ms");
}

static void
export_human_preview(struct export_buf *b, const Ww__Message *m)
{
	if (m == NULL || m->n_texts == 0 || m->texts[0]->text == NULL)
		return;
	export_buf_puts(b, "  \"");
	export_human_text(b, m->texts[0]->text, strlen(m->texts[0]->text), NULL,
	                  PREVIEW_CHARS);
	export_buf_puts(b, "\"");
	if (m->n_texts > 1)
		export_buf_printf(b, " (+%zu)", m->n_texts - 1);
}

static void
export_line_message(struct export *e, const Ww__Record *rec,
                    const Ww__Record *outcome, struct export_buf *b)
{
	const Ww__Message *m = rec->message;

	if (m != NULL) {
		export_human_str(b, m->endpoint);
		export_buf_puts(b, " ");
		export_human_str(b, m->msgtype);
		export_buf_puts(b, "  ");
		export_human_str(b, m->sender);
		export_buf_puts(b, " -> ");
		export_human_recipients(b, m->recipients);
	} else {
		export_human_str(b, rec->path);
	}
	export_buf_puts(b, "  ");
	export_human_verdict(e, b, rec->verdict);
	export_human_monitor(b, rec->verdict);
	if (rec->kind == WW__KIND__REQUEST) {
		export_buf_puts(b, "  ");
		export_human_outcome(e, b, outcome);
	}
	export_human_preview(b, m);
}

static void
export_line_other(struct export *e, const Ww__Record *rec, struct export_buf *b)
{
	if (rec->outcome != NULL) {
		export_buf_printf(
		    b, "for #%llu  ",
		    (unsigned long long)rec->outcome->request_seq);
		export_human_outcome(e, b, rec);
	} else if (rec->checkpoint != NULL) {
		export_buf_printf(
		    b, "head #%llu ",
		    (unsigned long long)rec->checkpoint->head_seq);
		export_buf_hex(b, rec->checkpoint->head_hash.data,
		               rec->checkpoint->head_hash.len > 8
		                   ? 8
		                   : rec->checkpoint->head_hash.len);
		if (rec->checkpoint->seal)
			export_buf_puts(b, " (segment sealed)");
	} else if (rec->policy != NULL) {
		export_buf_puts(b, "policy ");
		export_human_str(b, rec->policy->digest);
		export_buf_puts(b, " ");
		export_human_str(b, rec->policy->file);
	} else if (rec->tunnel != NULL) {
		export_human_str(b, rec->tunnel->host);
		export_buf_puts(b, " ");
		export_human_str(b, rec->tunnel->decision);
		export_buf_printf(b, " up %llu down %llu",
		                  (unsigned long long)rec->tunnel->bytes_up,
		                  (unsigned long long)rec->tunnel->bytes_down);
	}
}

int
export_line(struct export *e, const Ww__Record *rec, const Ww__Record *outcome,
            struct export_buf *b)
{
	export_color(e, b, C_DIM);
	export_buf_printf(b, "%8llu  ", (unsigned long long)rec->seq);
	export_human_time(b, rec->time_ns);
	export_color(e, b, C_RESET);
	export_color(e, b, C_CYAN);
	export_buf_printf(b, "  %-11s", record_kind_name(rec->kind));
	export_color(e, b, C_RESET);
	if (rec->message != NULL || export_is_primary(rec))
		export_line_message(e, rec, outcome, b);
	else
		export_line_other(e, rec, b);
	export_buf_puts(b, "\n");
	return b->err;
}

void
export_highlight(struct export *e, const char *text, size_t len,
                 const size_t *starts, const size_t *ends, size_t n,
                 struct export_buf *b)
{
	size_t at = 0;

	for (size_t i = 0; i < n; i++) {
		if (starts[i] < at || ends[i] > len || starts[i] > ends[i])
			continue;
		export_human_text(b, text + at, starts[i] - at, "    ", 0);
		if (e->flags & EXPORT_COLOR)
			export_buf_puts(b, C_HIT);
		else
			export_buf_puts(b, ">>");
		export_human_text(b, text + starts[i], ends[i] - starts[i],
		                  "    ", 0);
		if (e->flags & EXPORT_COLOR)
			export_buf_puts(b, C_RESET);
		else
			export_buf_puts(b, "<<");
		at = ends[i];
	}
	export_human_text(b, text + at, len - at, "    ", 0);
}

/* "  label       " at the start of a show line. */
static void
export_label(struct export *e, struct export_buf *b, const char *label)
{
	export_color(e, b, C_BOLD);
	export_buf_printf(b, "  %-12s", label);
	export_color(e, b, C_RESET);
}

#define SHOW_INDENT "                "

static void
export_show_texts(struct export *e, struct export_buf *b, const char *label,
                  Ww__TextPart **t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		export_label(e, b, label);
		export_color(e, b, C_DIM);
		export_buf_puts(b, "[");
		export_human_str(b, t[i]->path);
		export_buf_puts(b, "]");
		export_color(e, b, C_RESET);
		export_buf_puts(b, "\n" SHOW_INDENT);
		if (t[i]->text != NULL)
			export_human_text(b, t[i]->text, strlen(t[i]->text),
			                  SHOW_INDENT, 0);
		export_buf_puts(b, "\n");
	}
}

static void
export_show_attachment(struct export *e, struct export_buf *b,
                       const Ww__Attachment *a)
{
	export_label(e, b, "attachment");
	export_human_str(b, a->kind);
	export_buf_puts(b, " ");
	export_human_str(b, a->name);
	export_buf_printf(b, "  %llu bytes  media_id ",
	                  (unsigned long long)a->size);
	export_human_str(b, a->media_id);
	if (a->content_type != NULL && a->content_type[0] != '\0') {
		export_buf_puts(b, "  ");
		export_human_str(b, a->content_type);
	}
	if (a->sha256.len > 0) {
		export_buf_puts(b, "\n" SHOW_INDENT "sha256 ");
		export_buf_hex(b, a->sha256.data, a->sha256.len);
		export_buf_puts(b, "\n" SHOW_INDENT "(wwjournal blob ");
		export_buf_hex(b, a->sha256.data, a->sha256.len);
		export_buf_puts(b, " -o FILE writes it, when stored)");
	}
	export_buf_puts(b, "\n");
}

static void
export_show_spans(struct export *e, struct export_buf *b, const Ww__Verdict *v,
                  const Ww__Message *m)
{
	for (size_t i = 0; i < v->n_spans; i++) {
		const Ww__Span *sp = v->spans[i];
		const char *t = NULL;

		export_label(e, b, "match");
		export_human_str(b, sp->rule_id);
		export_buf_printf(b, " part %u [%u,%u)", sp->part, sp->start,
		                  sp->end);
		if (m != NULL && sp->part < m->n_texts)
			t = m->texts[sp->part]->text;
		if (t != NULL && sp->start <= sp->end && sp->end <= strlen(t)) {
			export_buf_puts(b, " \"");
			export_human_text(b, t + sp->start, sp->end - sp->start,
			                  NULL, PREVIEW_CHARS);
			export_buf_puts(b, "\"");
		}
		export_buf_puts(b, "\n");
	}
}

static void
export_show_verdict(struct export *e, struct export_buf *b,
                    const Ww__Record *rec)
{
	const Ww__Verdict *v = rec->verdict;

	export_label(e, b, "verdict");
	export_human_verdict(e, b, v);
	export_human_monitor(b, v);
	if (v != NULL) {
		if (v->policy_digest != NULL && v->policy_digest[0] != '\0') {
			export_buf_puts(b, "  policy ");
			export_human_str(b, v->policy_digest);
		}
	}
	export_buf_puts(b, "\n");
	if (v == NULL)
		return;
	if (v->refusal_message != NULL && v->refusal_message[0] != '\0') {
		export_label(e, b, "refusal");
		export_human_str(b, v->refusal_message);
		export_buf_puts(b, "\n");
	}
	export_show_spans(e, b, v, rec->message);
}

static void
export_show_message(struct export *e, struct export_buf *b,
                    const Ww__Message *m)
{
	export_label(e, b, "endpoint");
	export_human_str(b, m->endpoint);
	export_buf_puts(b, m->direction == WW__DIRECTION__INBOUND
	                       ? " (inbound)  msgtype "
	                       : " (outbound)  msgtype ");
	export_human_str(b, m->msgtype);
	export_buf_puts(b, "\n");
	if ((m->corp_id != NULL && m->corp_id[0] != '\0') || m->agent_id) {
		export_label(e, b, "corp/agent");
		export_human_str(b, m->corp_id);
		export_buf_printf(b, " / %lld\n", (long long)m->agent_id);
	}
	if (m->app != NULL && m->app[0] != '\0') {
		export_label(e, b, "app");
		export_human_str(b, m->app);
		export_buf_puts(b, "\n");
	}
	export_label(e, b, "sender");
	export_human_str(b, m->sender);
	export_buf_puts(b, "\n");
	export_label(e, b, "recipients");
	export_human_recipients(b, m->recipients);
	export_buf_puts(b, "\n");
	export_show_texts(e, b, "text", m->texts, m->n_texts);
	for (size_t i = 0; i < m->n_attachments; i++)
		export_show_attachment(e, b, m->attachments[i]);
	if (m->decode_error != NULL && m->decode_error[0] != '\0') {
		export_label(e, b, "decode error");
		export_human_str(b, m->decode_error);
		export_buf_puts(b, "\n");
	}
}

static void
export_show_head(struct export *e, struct export_buf *b, const Ww__Record *rec,
                 const char *what)
{
	char t[FILTER_TIME_LEN];

	filter_format_time(rec->time_ns, t);
	export_color(e, b, C_BOLD C_CYAN);
	export_buf_printf(b, "%s #%llu  %s  %s\n", what,
	                  (unsigned long long)rec->seq,
	                  record_kind_name(rec->kind), t);
	export_color(e, b, C_RESET);
	if (rec->gateway_id != NULL && rec->gateway_id[0] != '\0') {
		export_label(e, b, "gateway");
		export_human_str(b, rec->gateway_id);
		export_buf_puts(b, "\n");
	}
}

static void
export_show_client(struct export *e, struct export_buf *b,
                   const Ww__Record *rec)
{
	const Ww__Client *c = rec->client;

	if (c != NULL) {
		export_label(e, b, "client");
		export_human_str(b, c->address);
		export_buf_printf(b, " port %u  sni ", c->port);
		export_human_str(b, c->sni);
		if (c->cert_subject != NULL && c->cert_subject[0] != '\0') {
			export_buf_puts(b, "  cert ");
			export_human_str(b, c->cert_subject);
		}
		export_buf_puts(b, "\n");
	}
	if (rec->path != NULL && rec->path[0] != '\0') {
		export_label(e, b, "request");
		export_human_str(b, rec->method);
		export_buf_puts(b, " ");
		export_human_str(b, rec->path);
		if (rec->query != NULL && rec->query[0] != '\0') {
			export_buf_puts(b, "?");
			export_human_str(b, rec->query);
		}
		export_buf_printf(b, "  (%llu bytes)\n",
		                  (unsigned long long)rec->request_bytes);
	}
}

static void
export_show_outcome(struct export *e, struct export_buf *b,
                    const Ww__Record *orec, int head)
{
	const Ww__Outcome *o = orec != NULL ? orec->outcome : NULL;

	if (o == NULL) {
		export_label(e, b, "result");
		export_human_outcome(e, b, NULL);
		export_buf_puts(b, " (no OUTCOME record)\n");
		return;
	}
	if (head)
		export_show_head(e, b, orec, "outcome");
	export_label(e, b, "forwarded");
	export_buf_puts(b, o->forwarded ? "yes" : "no");
	export_buf_printf(b, "  http %u  errcode %lld  errmsg ", o->http_status,
	                  (long long)o->errcode);
	export_human_str(b, o->errmsg);
	export_buf_puts(b, "\n");
	export_label(e, b, "msgid");
	export_human_str(b, o->msgid);
	export_buf_puts(b, "  latency ");
	export_buf_latency(b, o->latency_us);
	export_buf_printf(b, " ms  request #%llu\n",
	                  (unsigned long long)o->request_seq);
	if (o->local_error != NULL && o->local_error[0] != '\0') {
		export_label(e, b, "local error");
		export_human_str(b, o->local_error);
		export_buf_puts(b, "\n");
	}
}

static void
export_show_hashes(struct export *e, struct export_buf *b,
                   const Ww__Record *rec)
{
	export_label(e, b, "hash");
	export_buf_hex(b, rec->hash.data, rec->hash.len);
	export_buf_puts(b, "\n");
	export_label(e, b, "prev hash");
	export_buf_hex(b, rec->prev_hash.data, rec->prev_hash.len);
	export_buf_puts(b, "\n");
}

static void
export_show_forwarded(struct export *e, struct export_buf *b,
                      const Ww__Record *rec)
{
	Ww__Message *fm = NULL;

	if (rec->forwarded_body.len == 0)
		return;
	if (export_forwarded(e, rec, &fm) != WW_OK) {
		b->err = WW_ENOMEM;
		return;
	}
	if (fm != NULL)
		export_show_texts(e, b, "forwarded", fm->texts, fm->n_texts);
	message_free(fm);
}

int
export_show(struct export *e, const Ww__Record *rec, const Ww__Record *outcome,
            struct export_buf *b)
{
	export_show_head(e, b, rec, "record");
	export_show_client(e, b, rec);
	if (rec->message != NULL)
		export_show_message(e, b, rec->message);
	if (rec->message != NULL || rec->verdict != NULL)
		export_show_verdict(e, b, rec);
	export_show_forwarded(e, b, rec);
	if (rec->message == NULL && !export_is_primary(rec)) {
		export_label(e, b, "about");
		export_line_other(e, rec, b);
		export_buf_puts(b, "\n");
	}
	export_show_hashes(e, b, rec);
	if (rec->kind == WW__KIND__REQUEST)
		export_show_outcome(e, b, outcome, 1);
	else if (rec->kind == WW__KIND__OUTCOME)
		export_show_outcome(e, b, rec, 0);
	return b->err;
}

/* ---- replay transcripts ---- */

int
export_transcript_title(struct export *e, const char *title, uint64_t messages,
                        struct export_buf *b)
{
	export_color(e, b, C_BOLD);
	export_buf_puts(b, "\n== ");
	export_human_str(b, title);
	export_buf_printf(b, "  (%llu message%s) ==\n",
	                  (unsigned long long)messages,
	                  messages == 1 ? "" : "s");
	export_color(e, b, C_RESET);
	return b->err;
}

#define TR_INDENT "      "

static void
export_transcript_attachments(struct export_buf *b, const Ww__Message *m)
{
	for (size_t i = 0; i < m->n_attachments; i++) {
		const Ww__Attachment *a = m->attachments[i];

		export_buf_puts(b, TR_INDENT "+ ");
		export_human_str(b, a->kind);
		export_buf_puts(b, " ");
		export_human_str(b, a->name);
		export_buf_printf(b, " (%llu bytes",
		                  (unsigned long long)a->size);
		if (a->sha256.len > 0) {
			export_buf_puts(b, ", sha256 ");
			export_buf_hex(b, a->sha256.data, a->sha256.len);
		}
		export_buf_puts(b, ")\n");
	}
}

int
export_transcript(struct export *e, const Ww__Record *rec,
                  const Ww__Record *outcome, struct export_buf *b)
{
	const Ww__Message *m = rec->message;

	export_color(e, b, C_DIM);
	export_buf_puts(b, "  [");
	export_human_time(b, rec->time_ns);
	export_buf_printf(b, "] #%llu ", (unsigned long long)rec->seq);
	export_color(e, b, C_RESET);
	export_color(e, b, C_BOLD);
	export_human_str(b, m != NULL ? m->sender : NULL);
	export_color(e, b, C_RESET);
	export_buf_puts(b, " -> ");
	export_human_recipients(b, m != NULL ? m->recipients : NULL);
	export_buf_puts(b, " (");
	export_human_str(b, m != NULL ? m->msgtype : NULL);
	export_buf_puts(b, rec->kind == WW__KIND__CALLBACK ? ", inbound)\n"
	                                                   : ")\n");
	for (size_t i = 0; m != NULL && i < m->n_texts; i++) {
		export_buf_puts(b, TR_INDENT);
		if (m->texts[i]->text != NULL)
			export_human_text(b, m->texts[i]->text,
			                  strlen(m->texts[i]->text), TR_INDENT,
			                  0);
		export_buf_puts(b, "\n");
	}
	if (m != NULL)
		export_transcript_attachments(b, m);
	export_buf_puts(b, TR_INDENT "verdict ");
	export_human_verdict(e, b, rec->verdict);
	export_human_monitor(b, rec->verdict);
	if (rec->kind == WW__KIND__REQUEST) {
		export_buf_puts(b, "  result ");
		export_human_outcome(e, b, outcome);
	}
	export_buf_puts(b, "\n");
	return b->err;
}

static int
export_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collect recipient ids of one kind, prefixed, into a sortable array. */
static int
export_key_ids(struct export_buf *tmp, const char *prefix, char **arr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		export_buf_puts(tmp, prefix);
		export_buf_puts(tmp, arr[i] != NULL ? arr[i] : "");
		export_buf_add(tmp, "", 1); /* NUL-separated */
	}
	return tmp->err;
}

static void
export_key_sorted(struct export_buf *tmp, struct export_buf *b)
{
	size_t n = 0, i = 0;
	const char **ids;

	for (size_t at = 0; at < tmp->len; at += strlen(tmp->data + at) + 1)
		n++;
	ids = calloc(n > 0 ? n : 1, sizeof(*ids));
	if (ids == NULL) {
		b->err = WW_ENOMEM;
		return;
	}
	for (size_t at = 0; at < tmp->len; at += strlen(tmp->data + at) + 1)
		ids[i++] = tmp->data + at;
	qsort(ids, n, sizeof(*ids), export_cmp_str);
	for (i = 0; i < n; i++) {
		if (i > 0)
			export_buf_puts(b, ", ");
		export_buf_puts(b, ids[i]);
	}
	if (n == 0)
		export_buf_puts(b, "-");
	free(ids);
}

int
export_conversation_key(const Ww__Record *rec, struct export_buf *b)
{
	const Ww__Message *m = rec->message;
	const Ww__Recipients *r = m != NULL ? m->recipients : NULL;
	struct export_buf tmp;

	if (r != NULL && r->chat_id != NULL && r->chat_id[0] != '\0') {
		export_buf_puts(b, "chat:");
		export_buf_puts(b, r->chat_id);
		return b->err;
	}
	export_buf_puts(b,
	                m != NULL && m->sender != NULL && m->sender[0] != '\0'
	                    ? m->sender
	                    : "-");
	export_buf_puts(b, " -> ");
	export_buf_init(&tmp);
	if (r != NULL) {
		export_key_ids(&tmp, "", r->users, r->n_users);
		export_key_ids(&tmp, "party:", r->parties, r->n_parties);
		export_key_ids(&tmp, "tag:", r->tags, r->n_tags);
		export_key_ids(&tmp, "chat:", r->chat_ids, r->n_chat_ids);
		export_key_ids(&tmp, "external:", r->external_users,
		               r->n_external_users);
		export_key_ids(&tmp, "kf:", r->kf_ids, r->n_kf_ids);
		if (r->all)
			export_buf_add(&tmp, "@all", 5);
	}
	if (tmp.err != WW_OK)
		b->err = tmp.err;
	else
		export_key_sorted(&tmp, b);
	export_buf_cleanup(&tmp);
	return b->err;
}
