/* test_metrics.c: counters, histograms and the Prometheus rendering. */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ww.h"
#include "proxy/metrics.h"

static char *
t_render(struct metrics *m)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(metrics_render(m, &out, &len), WW_OK);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	return out;
}

static void
test_requests(void **state)
{
	struct metrics *m;
	char *out;

	(void)state;
	assert_int_equal(metrics_new(&m), WW_OK);
	metrics_request(m, "message/send", METRICS_ALLOW, 200);
	metrics_request(m, "message/send", METRICS_ALLOW, 200);
	metrics_request(m, "message/send", METRICS_BLOCK, 200);
	/* traffic-chosen names never become label values */
	metrics_request(m, "access_token=SECRET123/x", METRICS_ALLOW, 200);
	metrics_request(m, NULL, METRICS_REFUSE, 599);
	assert_int_equal(
	    metrics_requests(m, "message/send", METRICS_ALLOW, 200), 2);
	assert_int_equal(metrics_requests(m, "bogus", METRICS_ALLOW, 200), 1);
	out = t_render(m);
	assert_non_null(strstr(
	    out,
	    "wwgate_requests_total{endpoint=\"message/send\",action=\"allow\","
	    "status=\"200\"} 2\n"));
	assert_non_null(strstr(
	    out,
	    "wwgate_requests_total{endpoint=\"message/send\",action=\"block\","
	    "status=\"200\"} 1\n"));
	assert_non_null(strstr(
	    out, "wwgate_requests_total{endpoint=\"other\",action=\"allow\","
	         "status=\"200\"} 1\n"));
	assert_non_null(strstr(
	    out, "wwgate_requests_total{endpoint=\"other\",action=\"refuse\","
	         "status=\"other\"} 1\n"));
	assert_null(strstr(out, "SECRET123"));
	assert_non_null(strstr(out, "# TYPE wwgate_requests_total counter\n"));
	free(out);
	metrics_free(m);
}

static void
test_histograms(void **state)
{
	struct metrics *m;
	char *out;

	(void)state;
	assert_int_equal(metrics_new(&m), WW_OK);
	metrics_observe(m, METRICS_UPSTREAM, 50);        /* <= 100us */
	metrics_observe(m, METRICS_UPSTREAM, 2000);      /* <= 2.5ms */
	metrics_observe(m, METRICS_UPSTREAM, 99000000u); /* +Inf */
	metrics_batch(m, 3);
	metrics_batch(m, 1);
	out = t_render(m);
	assert_non_null(strstr(
	    out, "wwgate_upstream_duration_seconds_bucket{le=\"0.0001\"} 1\n"));
	assert_non_null(strstr(
	    out, "wwgate_upstream_duration_seconds_bucket{le=\"0.001\"} 1\n"));
	assert_non_null(strstr(
	    out, "wwgate_upstream_duration_seconds_bucket{le=\"0.0025\"} 2\n"));
	assert_non_null(strstr(
	    out, "wwgate_upstream_duration_seconds_bucket{le=\"30\"} 2\n"));
	assert_non_null(strstr(
	    out, "wwgate_upstream_duration_seconds_bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(
	    strstr(out, "wwgate_upstream_duration_seconds_count 3\n"));
	assert_non_null(
	    strstr(out, "wwgate_upstream_duration_seconds_sum 99.002050\n"));
	assert_non_null(
	    strstr(out, "wwgate_exchange_duration_seconds_count 0\n"));
	assert_non_null(
	    strstr(out, "wwgate_journal_batch_records_bucket{le=\"1\"} 1\n"));
	assert_non_null(
	    strstr(out, "wwgate_journal_batch_records_bucket{le=\"4\"} 2\n"));
	assert_non_null(strstr(out, "wwgate_journal_batch_records_sum 4\n"));
	free(out);
	metrics_free(m);
}

static void
test_counters(void **state)
{
	struct metrics *m;
	char *out;

	(void)state;
	assert_int_equal(metrics_new(&m), WW_OK);
	metrics_add(m, METRICS_CONN_OPEN, 3);
	metrics_add(m, METRICS_CONN_OPEN, -1);
	metrics_add(m, METRICS_TLS_FAIL, 1);
	metrics_add(m, METRICS_RELOAD_OK, 2);
	assert_int_equal(metrics_get(m, METRICS_CONN_OPEN), 2);
	out = t_render(m);
	assert_non_null(strstr(out, "# TYPE wwgate_connections_open gauge\n"
	                            "wwgate_connections_open 2\n"));
	assert_non_null(strstr(out, "wwgate_tls_handshake_failures_total 1\n"));
	assert_non_null(strstr(out, "wwgate_policy_reloads_total 2\n"));
	assert_non_null(strstr(out, "wwgate_journal_failures_total 0\n"));
	free(out);
	metrics_free(m);
	metrics_free(NULL);
	/* NULL is tolerated by updates (a test env may pass none) */
	metrics_add(NULL, METRICS_TLS_FAIL, 1);
	metrics_request(NULL, "x", METRICS_ALLOW, 200);
}

static void *
t_hammer(void *arg)
{
	for (int i = 0; i < 10000; i++) {
		metrics_request(arg, "webhook/send", METRICS_ALLOW, 200);
		metrics_observe(arg, METRICS_JUDGE, (uint64_t)i);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct metrics *m;
	pthread_t th[4];
	char *out;

	(void)state;
	assert_int_equal(metrics_new(&m), WW_OK);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, t_hammer, m), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(
	    metrics_requests(m, "webhook/send", METRICS_ALLOW, 200), 40000);
	out = t_render(m);
	assert_non_null(
	    strstr(out, "wwgate_judge_duration_seconds_count 40000\n"));
	free(out);
	metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_requests),
	    cmocka_unit_test(test_histograms),
	    cmocka_unit_test(test_counters),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
