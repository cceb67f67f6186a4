/* filter.c: record filters and the time syntax of wwjournal's options. */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "store/filter.h"
#include "store/journal.h"

#define NS_PER_SEC INT64_C(1000000000)

void
filter_init(struct filter *f)
{
	memset(f, 0, sizeof(*f));
	f->since_ns = FILTER_NO_SINCE;
	f->until_ns = FILTER_NO_UNTIL;
	f->action = -1;
	f->kind = -1;
}

int
filter_wants_message(const struct filter *f)
{
	return f->sender != NULL || f->recipient != NULL || f->chat != NULL;
}

/* The stamp of record seq. */
static int
filter_time_of(struct journal_reader *r, uint64_t seq, int64_t *t)
{
	Ww__Record *rec = NULL;
	char err[256];
	int rc;

	rc = journal_get(r, seq, &rec, err, sizeof(err));
	if (rc == WW_OK)
		*t = rec->time_ns;
	record_free(rec);
	return rc;
}

/*
 * The journal does not promise that time_ns grows with seq: it is the
 * wall clock, which can be set back (journal.c indexes such a stamp like
 * any other).  journal_seq_at_time() gives the record with the smallest
 * stamp at or after a time, which is the lowest such seq only when the
 * stamps are in order.  So every distinct stamp at or after since_ns is
 * visited, in time order, keeping the lowest seq: exact whatever the
 * clock did, and worth it only while those records are few (a visit
 * costs a few scanned records).  Past head / FILTER_SEEK_SHARE of them,
 * the scan starts at 1 as before.
 * For the same reason until_ns cannot end a scan early.
 */
int
filter_first_seq(const struct filter *f, struct journal_reader *r,
                 uint64_t *first)
{
	uint64_t head, seq, low, budget;
	int64_t t;
	int rc;

	*first = 1;
	if (f->since_ns == FILTER_NO_SINCE)
		return WW_OK;
	/* The head first: a record appended after it is scanned anyway. */
	if ((rc = journal_head(r, &head)) != WW_OK)
		return rc;
	rc = journal_seq_at_time(r, f->since_ns, &seq);
	if (rc == WW_ENOTFOUND) {
		*first = head + 1;
		return WW_OK;
	}
	low = seq;
	budget = head / FILTER_SEEK_SHARE;
	/* Stamps in order (the usual case) put seq..head that recent. */
	if (seq <= head && head - seq >= budget)
		return WW_OK; /* too many: scan from 1 */
	while (rc == WW_OK) {
		if (budget-- == 0)
			return WW_OK; /* too many that recent: scan from 1 */
		if ((rc = filter_time_of(r, seq, &t)) != WW_OK)
			return rc;
		if (t == INT64_MAX)
			break; /* no later stamp */
		rc = journal_seq_at_time(r, t + 1, &seq);
		if (rc == WW_OK && seq < low)
			low = seq;
	}
	if (rc != WW_OK && rc != WW_ENOTFOUND)
		return rc;
	*first = low;
	return WW_OK;
}

static int
filter_in(const char *id, char **arr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (arr[i] != NULL && strcmp(arr[i], id) == 0)
			return 1;
	return 0;
}

static int
filter_has_recipient(const Ww__Recipients *r, const char *id)
{
	if (r == NULL)
		return 0;
	if (r->all && strcmp(id, "@all") == 0)
		return 1;
	return filter_in(id, r->users, r->n_users) ||
	       filter_in(id, r->parties, r->n_parties) ||
	       filter_in(id, r->tags, r->n_tags) ||
	       filter_in(id, r->external_users, r->n_external_users) ||
	       filter_in(id, r->kf_ids, r->n_kf_ids) ||
	       filter_in(id, r->mentioned, r->n_mentioned) ||
	       (r->chat_id != NULL && strcmp(r->chat_id, id) == 0) ||
	       filter_in(id, r->chat_ids, r->n_chat_ids);
}

static int
filter_has_chat(const Ww__Recipients *r, const char *id)
{
	if (r == NULL)
		return 0;
	return (r->chat_id != NULL && strcmp(r->chat_id, id) == 0) ||
	       filter_in(id, r->chat_ids, r->n_chat_ids);
}

static int
filter_match_message(const struct filter *f, const Ww__Message *m)
{
	if (m == NULL)
		return 0;
	if (f->sender != NULL &&
	    (m->sender == NULL || strcmp(m->sender, f->sender) != 0))
		return 0;
	if (f->recipient != NULL &&
	    !filter_has_recipient(m->recipients, f->recipient))
		return 0;
	if (f->chat != NULL && !filter_has_chat(m->recipients, f->chat))
		return 0;
	return 1;
}

int
filter_match(const struct filter *f, const Ww__Record *rec)
{
	if (rec == NULL)
		return 0;
	if (rec->time_ns < f->since_ns || rec->time_ns >= f->until_ns)
		return 0;
	if (f->kind >= 0 && (int)rec->kind != f->kind)
		return 0;
	if (f->action >= 0) {
		/* A message judged by no policy was let through: "allow". */
		int act = rec->verdict != NULL   ? (int)rec->verdict->action
		          : rec->message != NULL ? WW__ACTION__ALLOW
		                                 : -1;
		if (act != f->action)
			return 0;
	}
	if (filter_wants_message(f) && !filter_match_message(f, rec->message))
		return 0;
	return 1;
}

/* "2h", "1.5d", "now": a duration before now_ns. */
static int
filter_parse_relative(const char *s, int64_t now_ns, int64_t *out)
{
	char *end = NULL;
	double n, unit;

	if (strcmp(s, "now") == 0) {
		*out = now_ns;
		return WW_OK;
	}
	if (!isdigit((unsigned char)s[0]))
		return WW_EINVAL;
	n = strtod(s, &end);
	if (end == s || end[0] == '\0' || end[1] != '\0')
		return WW_EINVAL;
	switch (end[0]) {
	case 's':
		unit = 1;
		break;
	case 'm':
		unit = 60;
		break;
	case 'h':
		unit = 3600;
		break;
	case 'd':
		unit = 86400;
		break;
	case 'w':
		unit = 7 * 86400;
		break;
	default:
		return WW_EINVAL;
	}
	if (!(n >= 0 && n * unit < 9e9)) /* ~285 years: fits int64 ns */
		return WW_EINVAL;
	*out = now_ns - (int64_t)(n * unit * 1e9);
	return WW_OK;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
filter_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Read exactly n digits at *p (advancing it).  -1 when not digits. */
static int
filter_digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

static int
filter_month_days(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30,
	                           31, 31, 30, 31, 30, 31};
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* "[T ]HH:MM[:SS[.fff]]" after the date; *ns gets the time of day. */
static int
filter_parse_clock(const char **p, int64_t *ns)
{
	int hh, mm, ss = 0;
	int64_t frac = 0, scale = NS_PER_SEC;

	hh = filter_digits(p, 2);
	if (hh < 0 || hh > 23 || *(*p)++ != ':')
		return WW_EINVAL;
	mm = filter_digits(p, 2);
	if (mm < 0 || mm > 59)
		return WW_EINVAL;
	if (**p == ':') {
		(*p)++;
		ss = filter_digits(p, 2);
		if (ss < 0 || ss > 60) /* 60: a leap second, folded below */
			return WW_EINVAL;
		if (**p == '.' || **p == ',') {
			(*p)++;
			if (!isdigit((unsigned char)**p))
				return WW_EINVAL;
			for (; isdigit((unsigned char)**p); (*p)++) {
				if (scale > 1) {
					scale /= 10;
					frac += (**p - '0') * scale;
				}
			}
		}
	}
	*ns =
	    ((int64_t)hh * 3600 + mm * 60 + (ss > 59 ? 59 : ss)) * NS_PER_SEC +
	    frac;
	return WW_OK;
}

/* "Z", "+08:00", "-0500" or nothing: the offset east of UTC in seconds. */
static int
filter_parse_zone(const char *p, int64_t *off)
{
	int sign, hh, mm;

	*off = 0;
	if (*p == '\0' || ((*p == 'Z' || *p == 'z') && p[1] == '\0'))
		return WW_OK;
	if (*p != '+' && *p != '-')
		return WW_EINVAL;
	sign = *p++ == '-' ? -1 : 1;
	hh = filter_digits(&p, 2);
	if (*p == ':')
		p++;
	mm = filter_digits(&p, 2);
	if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || *p != '\0')
		return WW_EINVAL;
	*off = sign * (hh * 3600 + mm * 60);
	return WW_OK;
}

static int
filter_parse_iso(const char *s, int64_t *out)
{
	const char *p = s;
	int y, mo, d;
	int64_t tod = 0, off = 0, days;

	y = filter_digits(&p, 4);
	if (y < 0 || *p++ != '-')
		return WW_EINVAL;
	mo = filter_digits(&p, 2);
	if (mo < 1 || mo > 12 || *p++ != '-')
		return WW_EINVAL;
	d = filter_digits(&p, 2);
	if (d < 1 || d > filter_month_days(y, mo))
		return WW_EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (filter_parse_clock(&p, &tod) != WW_OK)
			return WW_EINVAL;
	}
	if (filter_parse_zone(p, &off) != WW_OK)
		return WW_EINVAL;
	days = filter_days_from_civil(y, (unsigned)mo, (unsigned)d);
	/* int64 nanoseconds reach from 1677 to 2262: stay well inside. */
	if (days < -106000 || days > 106000)
		return WW_EINVAL;
	*out = (days * 86400 - off) * NS_PER_SEC + tod;
	return WW_OK;
}

int
filter_parse_time(const char *s, int64_t now_ns, int64_t *out)
{
	int64_t v;
	char *end = NULL;
	long long secs;

	if (s == NULL || *s == '\0')
		return WW_EINVAL;
	if (s[0] == '@') {
		if (!isdigit((unsigned char)s[1]))
			return WW_EINVAL;
		secs = strtoll(s + 1, &end, 10);
		if (*end != '\0' || secs > INT64_MAX / NS_PER_SEC)
			return WW_EINVAL;
		*out = (int64_t)secs * NS_PER_SEC;
		return WW_OK;
	}
	if (strlen(s) >= 10 && s[4] == '-') {
		if (filter_parse_iso(s, &v) != WW_OK)
			return WW_EINVAL;
	} else if (filter_parse_relative(s, now_ns, &v) != WW_OK) {
		return WW_EINVAL;
	}
	*out = v;
	return WW_OK;
}

/* The civil date of a day number (inverse of filter_days_from_civil). */
static void
filter_civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* v as exactly n decimal digits (zero-padded) at p. */
static void
filter_digits_out(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

int
filter_format_time(int64_t t, char *buf)
{
	int64_t secs = t / NS_PER_SEC, ns = t % NS_PER_SEC, days, sod, y;
	unsigned m, d;

	if (ns < 0) {
		ns += NS_PER_SEC;
		secs--;
	}
	days = secs / 86400;
	sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	filter_civil(days, &y, &m, &d);
	if (y < 0 || y > 9999) /* outside RFC 3339's four-digit years */
		return snprintf(buf, FILTER_TIME_LEN,
		                "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
		                (long long)y, m, d, (int)(sod / 3600),
		                (int)(sod / 60 % 60), (int)(sod % 60),
		                (int)(ns / 1000000));
	/* By hand: this runs once per exported record. */
	filter_digits_out(buf, (unsigned)y, 4);
	buf[4] = '-';
	filter_digits_out(buf + 5, m, 2);
	buf[7] = '-';
	filter_digits_out(buf + 8, d, 2);
	buf[10] = 'T';
	filter_digits_out(buf + 11, (unsigned)(sod / 3600), 2);
	buf[13] = ':';
	filter_digits_out(buf + 14, (unsigned)(sod / 60 % 60), 2);
	buf[16] = ':';
	filter_digits_out(buf + 17, (unsigned)(sod % 60), 2);
	buf[19] = '.';
	filter_digits_out(buf + 20, (unsigned)(ns / 1000000), 3);
	buf[23] = 'Z';
	buf[24] = '\0';
	return 24;
}
