/* metrics.c: lock-free counters and histograms, Prometheus text output. */
#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ww.h"
#include "proxy/metrics.h"

/*
 * The endpoint label set: the WeCom endpoints of wecom-api.md section 2
 * plus the token and media calls.  Fixed at compile time so no label value
 * ever comes from the traffic.  The last slot is "other".
 */
static const char *const metrics_endpoints[] = {
    "gettoken",
    "message/send",
    "message/update_template_card",
    "message/recall",
    "appchat/create",
    "appchat/update",
    "appchat/get",
    "appchat/send",
    "linkedcorp/message/send",
    "externalcontact/message/send",
    "externalcontact/add_msg_template",
    "externalcontact/send_welcome_msg",
    "externalcontact/group_welcome_template/add",
    "externalcontact/group_welcome_template/edit",
    "externalcontact/add_moment_task",
    "kf/send_msg",
    "kf/send_msg_on_event",
    "kf/sync_msg",
    "webhook/send",
    "webhook/upload_media",
    "media/upload",
    "media/uploadimg",
    "media/upload_attachment",
    "media/upload_by_url",
    "media/get",
    "exmail/app/compose_send",
    "other",
};
#define METRICS_NENDPOINT WW_NELEM(metrics_endpoints)

/* HTTP statuses given their own label; the rest count as "other". */
static const int metrics_statuses[] = {200, 400, 403, 404, 405, 408, 413,
                                       429, 431, 500, 502, 503, 504, 0};
#define METRICS_NSTATUS WW_NELEM(metrics_statuses)

static const char *const metrics_action_names[METRICS_NACTION] = {
    "allow", "alert", "redact", "block", "refuse"};

/* Upper bounds in microseconds; +Inf is implicit. */
static const uint64_t metrics_lat_bounds[] = {
    100,    250,    500,    1000,    2500,    5000,    10000,    25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000};
#define METRICS_NLAT WW_NELEM(metrics_lat_bounds)

static const uint64_t metrics_batch_bounds[] = {1,  2,   4,   8,   16,  32,
                                                64, 128, 256, 512, 1024};
#define METRICS_NBATCH WW_NELEM(metrics_batch_bounds)

static const char *const metrics_hist_names[METRICS_NHIST] = {
    "wwgate_exchange_duration_seconds",
    "wwgate_judge_duration_seconds",
    "wwgate_journal_commit_duration_seconds",
    "wwgate_upstream_duration_seconds",
};
static const char *const metrics_hist_help[METRICS_NHIST] = {
    "Whole exchange, request parsed to answer handed back.",
    "Decoding and policy judgement.",
    "REQUEST record appended until durable.",
    "Upstream call until answer or error.",
};

struct metrics_hist_data {
	atomic_uint_fast64_t buckets[METRICS_NLAT + 1]; /* last: +Inf */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum; /* microseconds */
};

struct metrics {
	atomic_uint_fast64_t requests[METRICS_NENDPOINT][METRICS_NACTION]
	                             [METRICS_NSTATUS];
	struct metrics_hist_data hist[METRICS_NHIST];
	atomic_uint_fast64_t batch_buckets[METRICS_NBATCH + 1];
	atomic_uint_fast64_t batch_count;
	atomic_uint_fast64_t batch_sum;
	atomic_int_fast64_t counters[METRICS_NCOUNTER];
};

int
metrics_new(struct metrics **out)
{
	struct metrics *m;

	*out = NULL;
	/* calloc zeroes; all-bits-zero is a valid zero atomic on our ABIs. */
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return WW_ENOMEM;
	*out = m;
	return WW_OK;
}

void
metrics_free(struct metrics *m)
{
	free(m);
}

static size_t
metrics_endpoint_index(const char *endpoint)
{
	if (endpoint != NULL)
		for (size_t i = 0; i + 1 < METRICS_NENDPOINT; i++)
			if (strcmp(endpoint, metrics_endpoints[i]) == 0)
				return i;
	return METRICS_NENDPOINT - 1;
}

static size_t
metrics_status_index(int status)
{
	for (size_t i = 0; i + 1 < METRICS_NSTATUS; i++)
		if (metrics_statuses[i] == status)
			return i;
	return METRICS_NSTATUS - 1;
}

void
metrics_request(struct metrics *m, const char *endpoint,
                enum metrics_action action, int status)
{
	if (m == NULL || (unsigned)action >= METRICS_NACTION)
		return;
	atomic_fetch_add_explicit(
	    &m->requests[metrics_endpoint_index(endpoint)][action]
	                [metrics_status_index(status)],
	    1, memory_order_relaxed);
}

uint64_t
metrics_requests(const struct metrics *m, const char *endpoint,
                 enum metrics_action action, int status)
{
	if (m == NULL || (unsigned)action >= METRICS_NACTION)
		return 0;
	return atomic_load_explicit(
	    &m->requests[metrics_endpoint_index(endpoint)][action]
	                [metrics_status_index(status)],
	    memory_order_relaxed);
}

static void
metrics_bucket_add(atomic_uint_fast64_t *buckets, const uint64_t *bounds,
                   size_t nbounds, uint64_t v)
{
	size_t i = 0;

	while (i < nbounds && v > bounds[i])
		i++;
	/* Buckets are stored non-cumulative; rendering accumulates. */
	atomic_fetch_add_explicit(&buckets[i], 1, memory_order_relaxed);
}

void
metrics_observe(struct metrics *m, enum metrics_hist h, uint64_t usec)
{
	if (m == NULL || (unsigned)h >= METRICS_NHIST)
		return;
	metrics_bucket_add(m->hist[h].buckets, metrics_lat_bounds, METRICS_NLAT,
	                   usec);
	atomic_fetch_add_explicit(&m->hist[h].count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->hist[h].sum, usec, memory_order_relaxed);
}

void
metrics_batch(struct metrics *m, uint64_t records)
{
	if (m == NULL)
		return;
	metrics_bucket_add(m->batch_buckets, metrics_batch_bounds,
	                   METRICS_NBATCH, records);
	atomic_fetch_add_explicit(&m->batch_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->batch_sum, records, memory_order_relaxed);
}

void
metrics_add(struct metrics *m, enum metrics_counter c, int64_t delta)
{
	if (m == NULL || (unsigned)c >= METRICS_NCOUNTER)
		return;
	atomic_fetch_add_explicit(&m->counters[c], delta, memory_order_relaxed);
}

int64_t
metrics_get(const struct metrics *m, enum metrics_counter c)
{
	if (m == NULL || (unsigned)c >= METRICS_NCOUNTER)
		return 0;
	return atomic_load_explicit(&m->counters[c], memory_order_relaxed);
}

const char *
metrics_action_name(enum metrics_action a)
{
	return (unsigned)a < METRICS_NACTION ? metrics_action_names[a] : "?";
}

/* A growing output buffer; err sticks once an allocation failed. */
struct metrics_out {
	char *buf;
	size_t len, cap;
	int err;
};

static void metrics_printf(struct metrics_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
metrics_printf(struct metrics_out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->err != WW_OK)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->err = WW_EINVAL;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t ncap = (o->cap + (size_t)n + 1) * 2;
		char *nbuf = realloc(o->buf, ncap);
		if (nbuf == NULL) {
			o->err = WW_ENOMEM;
			return;
		}
		o->buf = nbuf;
		o->cap = ncap;
	}
}

static void
metrics_render_requests(const struct metrics *m, struct metrics_out *o)
{
	metrics_printf(o, "# HELP wwgate_requests_total Exchanges by "
	                  "endpoint, action and HTTP status.\n"
	                  "# TYPE wwgate_requests_total counter\n");
	for (size_t e = 0; e < METRICS_NENDPOINT; e++)
		for (size_t a = 0; a < METRICS_NACTION; a++)
			for (size_t s = 0; s < METRICS_NSTATUS; s++) {
				uint64_t v =
				    atomic_load_explicit(&m->requests[e][a][s],
				                         memory_order_relaxed);
				char st[16];
				if (v == 0)
					continue;
				if (metrics_statuses[s] != 0)
					snprintf(st, sizeof(st), "%d",
					         metrics_statuses[s]);
				else
					snprintf(st, sizeof(st), "other");
				metrics_printf(
				    o,
				    "wwgate_requests_total{endpoint=\"%s\","
				    "action=\"%s\",status=\"%s\"} %llu\n",
				    metrics_endpoints[e],
				    metrics_action_names[a], st,
				    (unsigned long long)v);
			}
}

/*
 * One histogram; bounds are in microseconds when seconds != 0 (printed
 * as seconds) and plain numbers otherwise.
 */
static void
metrics_render_hist(struct metrics_out *o, const char *name, const char *help,
                    const atomic_uint_fast64_t *buckets, const uint64_t *bounds,
                    size_t n, uint64_t count, uint64_t sum, int seconds)
{
	uint64_t cum = 0;

	metrics_printf(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help,
	               name);
	for (size_t i = 0; i < n; i++) {
		cum += atomic_load_explicit(&buckets[i], memory_order_relaxed);
		if (seconds)
			metrics_printf(o, "%s_bucket{le=\"%g\"} %llu\n", name,
			               (double)bounds[i] / 1e6,
			               (unsigned long long)cum);
		else
			metrics_printf(o, "%s_bucket{le=\"%llu\"} %llu\n", name,
			               (unsigned long long)bounds[i],
			               (unsigned long long)cum);
	}
	cum += atomic_load_explicit(&buckets[n], memory_order_relaxed);
	/* +Inf must equal _count; take the larger if a writer raced us. */
	if (count < cum)
		count = cum;
	metrics_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	               (unsigned long long)count);
	if (seconds)
		metrics_printf(o, "%s_sum %.6f\n", name, (double)sum / 1e6);
	else
		metrics_printf(o, "%s_sum %llu\n", name,
		               (unsigned long long)sum);
	metrics_printf(o, "%s_count %llu\n", name, (unsigned long long)count);
}

static void
metrics_render_counters(const struct metrics *m, struct metrics_out *o)
{
	static const struct {
		const char *name, *type, *help;
	} c[METRICS_NCOUNTER] = {
	    {"wwgate_connections_open", "gauge", "Client connections open."},
	    {"wwgate_connections_total", "counter",
	     "Client connections accepted."},
	    {"wwgate_tls_handshake_failures_total", "counter",
	     "Client TLS handshakes that failed."},
	    {"wwgate_policy_reloads_total", "counter",
	     "Policy reloads that took effect."},
	    {"wwgate_policy_reload_failures_total", "counter",
	     "Policy reloads refused; the old policy stayed in force."},
	    {"wwgate_journal_failures_total", "counter",
	     "Records the journal refused or failed to commit."},
	    {"wwgate_upstream_failures_total", "counter",
	     "Upstream calls that got no HTTP answer."},
	};

	for (size_t i = 0; i < METRICS_NCOUNTER; i++)
		metrics_printf(o, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n",
		               c[i].name, c[i].help, c[i].name, c[i].type,
		               c[i].name,
		               (long long)atomic_load_explicit(
		                   &m->counters[i], memory_order_relaxed));
}

int
metrics_render(const struct metrics *m, char **out, size_t *outlen)
{
	struct metrics_out o = {NULL, 0, 0, WW_OK};

	*out = NULL;
	*outlen = 0;
	o.cap = 16384;
	o.buf = malloc(o.cap);
	if (o.buf == NULL)
		return WW_ENOMEM;
	o.buf[0] = '\0';
	metrics_render_requests(m, &o);
	for (size_t h = 0; h < METRICS_NHIST; h++)
		metrics_render_hist(
		    &o, metrics_hist_names[h], metrics_hist_help[h],
		    m->hist[h].buckets, metrics_lat_bounds, METRICS_NLAT,
		    atomic_load_explicit(&m->hist[h].count,
		                         memory_order_relaxed),
		    atomic_load_explicit(&m->hist[h].sum, memory_order_relaxed),
		    1);
	metrics_render_hist(
	    &o, "wwgate_journal_batch_records",
	    "Records per journal group commit.", m->batch_buckets,
	    metrics_batch_bounds, METRICS_NBATCH,
	    atomic_load_explicit(&m->batch_count, memory_order_relaxed),
	    atomic_load_explicit(&m->batch_sum, memory_order_relaxed), 0);
	metrics_render_counters(m, &o);
	if (o.err != WW_OK) {
		free(o.buf);
		return o.err;
	}
	*out = o.buf;
	*outlen = o.len;
	return WW_OK;
}
