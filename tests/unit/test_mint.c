/* test_mint.c: minted leaves verify for their SNI only; cache; refusals. */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "certs/ca.h"
#include "certs/mint.h"
#include "ww.h"

static const char *const allowed[] = {"qyapi.weixin.qq.com",
                                      "*.work.weixin.qq.com"};

struct fixture {
	struct ca *ca;
	struct mint *m;
};

static int
setup_opts(void **state, const struct mint_opts *o)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ca_params p = {0};

	if (f == NULL || ca_create(&p, &f->ca) != WW_OK ||
	    mint_new(f->ca, allowed, WW_NELEM(allowed), o, &f->m) != WW_OK)
		return -1;
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_opts(state, NULL);
}

static int
setup_small(void **state)
{
	struct mint_opts o = {.cache_max = 2};

	return setup_opts(state, &o);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	mint_free(f->m);
	ca_free(f->ca);
	free(f);
	return 0;
}

static int
verifies(X509 *ca_cert, X509 *leaf, const char *host)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	assert_non_null(store);
	assert_non_null(ctx);
	X509_STORE_add_cert(store, ca_cert);
	X509_STORE_CTX_init(ctx, store, leaf, NULL);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), host, 0);
	ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

static void
test_minted_verifies_for_its_sni_only(void **state)
{
	struct fixture *f = *state;
	X509 *x = NULL, *y = NULL;
	X509 *ca = ca_cert_borrow(f->ca);

	assert_int_equal(mint_cert(f->m, "QYAPI.weixin.qq.com.", &x), WW_OK);
	assert_true(verifies(ca, x, "qyapi.weixin.qq.com"));
	assert_false(verifies(ca, x, "open.work.weixin.qq.com"));
	assert_false(verifies(ca, x, "evil.example"));
	assert_true(EVP_PKEY_eq(X509_get0_pubkey(x), mint_key_borrow(f->m)));

	/* A wildcard pattern yields a certificate for the exact name. */
	assert_int_equal(mint_cert(f->m, "a.b.work.weixin.qq.com", &y), WW_OK);
	assert_true(verifies(ca, y, "a.b.work.weixin.qq.com"));
	assert_false(verifies(ca, y, "c.b.work.weixin.qq.com"));
	/* One key for all, but serials differ. */
	assert_true(EVP_PKEY_eq(X509_get0_pubkey(y), X509_get0_pubkey(x)));
	assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(x),
	                                      X509_get0_serialNumber(y)),
	                     0);
	X509_free(x);
	X509_free(y);
}

static void
test_validity_short_and_backdated(void **state)
{
	struct fixture *f = *state;
	time_t now = time(NULL);
	X509 *x = NULL;
	int days, secs;
	ASN1_TIME *t = ASN1_TIME_set(NULL, now);

	assert_int_equal(mint_cert(f->m, "qyapi.weixin.qq.com", &x), WW_OK);
	/* notBefore about an hour ago, notAfter about two days ahead. */
	assert_int_equal(
	    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), t), 1);
	assert_true(days == 0 && secs >= 3590 && secs <= 3610);
	assert_int_equal(ASN1_TIME_diff(&days, &secs, t, X509_get0_notAfter(x)),
	                 1);
	assert_true(days * 86400 + secs >= 2 * 86400 - 10 &&
	            days * 86400 + secs <= 2 * 86400 + 10);
	ASN1_TIME_free(t);
	X509_free(x);
}

static void
test_cache_hit_same_cert(void **state)
{
	struct fixture *f = *state;
	X509 *a = NULL, *b = NULL;
	struct mint_stats st;

	assert_int_equal(mint_cert(f->m, "qyapi.weixin.qq.com", &a), WW_OK);
	assert_int_equal(mint_cert(f->m, "qyapi.weixin.qq.com.", &b), WW_OK);
	assert_ptr_equal(a, b);
	mint_stats(f->m, &st);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.entries, 1);
	X509_free(a);
	X509_free(b);
}

static void
test_refused_outside_list(void **state)
{
	struct fixture *f = *state;
	X509 *x = NULL;
	struct mint_stats st;
	static const char *const refused[] = {
	    "example.com", "weixin.qq.com", "work.weixin.qq.com",
	    "qyapi.weixin.qq.com.evil.net", "xqyapi.weixin.qq.com"};

	for (size_t i = 0; i < WW_NELEM(refused); i++) {
		assert_int_equal(mint_cert(f->m, refused[i], &x), WW_EPERM);
		assert_null(x);
		assert_false(mint_allowed(f->m, refused[i]));
	}
	assert_int_equal(mint_cert(f->m, "bad name", &x), WW_EINVAL);
	assert_int_equal(mint_cert(f->m, "", &x), WW_EINVAL);
	assert_int_equal(mint_cert(f->m, "127.0.0.1", &x), WW_EINVAL);
	mint_stats(f->m, &st);
	assert_int_equal(st.refused, WW_NELEM(refused) + 3);
	assert_int_equal(st.misses + st.hits + st.entries, 0);
	assert_true(mint_allowed(f->m, "x.work.weixin.qq.com"));
}

static void
test_lru_eviction(void **state)
{
	struct fixture *f = *state;
	X509 *a1 = NULL, *b1 = NULL, *c1 = NULL, *a2 = NULL, *b2 = NULL;
	struct mint_stats st;

	assert_int_equal(mint_cert(f->m, "a.work.weixin.qq.com", &a1), WW_OK);
	assert_int_equal(mint_cert(f->m, "b.work.weixin.qq.com", &b1), WW_OK);
	/* Touch a: b becomes the least recently used and goes first. */
	assert_int_equal(mint_cert(f->m, "a.work.weixin.qq.com", &a2), WW_OK);
	X509_free(a2);
	assert_int_equal(mint_cert(f->m, "c.work.weixin.qq.com", &c1), WW_OK);
	assert_int_equal(mint_cert(f->m, "a.work.weixin.qq.com", &a2), WW_OK);
	assert_ptr_equal(a1, a2);
	assert_int_equal(mint_cert(f->m, "b.work.weixin.qq.com", &b2), WW_OK);
	assert_ptr_not_equal(b1, b2); /* evicted, minted again */
	assert_true(
	    verifies(ca_cert_borrow(f->ca), b1, "b.work.weixin.qq.com"));
	mint_stats(f->m, &st);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.misses, 4);
	assert_int_equal(st.hits, 2);
	X509_free(a1);
	X509_free(a2);
	X509_free(b1);
	X509_free(b2);
	X509_free(c1);
}

struct worker {
	struct mint *m;
	int failures;
	unsigned seed;
};

/* A new CA: the cache is emptied and later certificates chain to it. */
static void
test_set_ca(void **state)
{
	struct fixture *f = *state;
	struct ca_params p = {0};
	struct ca *ca2 = NULL;
	X509 *a = NULL, *b = NULL;
	struct mint_stats st;

	assert_int_equal(mint_cert(f->m, "qyapi.weixin.qq.com", &a), WW_OK);
	assert_int_equal(ca_create(&p, &ca2), WW_OK);
	assert_int_equal(mint_set_ca(f->m, ca2), WW_OK);
	mint_stats(f->m, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(mint_cert(f->m, "qyapi.weixin.qq.com", &b), WW_OK);
	assert_ptr_not_equal(a, b);
	assert_true(verifies(ca_cert_borrow(ca2), b, "qyapi.weixin.qq.com"));
	assert_false(verifies(ca_cert_borrow(f->ca), b, "qyapi.weixin.qq.com"));
	/* what was handed out before stays valid under the old CA */
	assert_true(verifies(ca_cert_borrow(f->ca), a, "qyapi.weixin.qq.com"));
	/* the mint keeps its own references: the caller may free its CA */
	ca_free(ca2);
	X509_free(b);
	b = NULL;
	assert_int_equal(mint_cert(f->m, "x.work.weixin.qq.com", &b), WW_OK);
	X509_free(a);
	X509_free(b);
}

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	char name[64];
	X509 *x;

	for (int i = 0; i < 300; i++) {
		unsigned r = (unsigned)rand_r(&w->seed) % 12;
		snprintf(name, sizeof(name), "h%u.work.weixin.qq.com", r);
		x = NULL;
		if (mint_cert(w->m, name, &x) != WW_OK ||
		    X509_check_host(x, name, 0, 0, NULL) != 1)
			w->failures++;
		X509_free(x);
	}
	return NULL;
}

/* Many workers on one small cache: every answer is right for its name. */
static void
test_threads(void **state)
{
	struct fixture *f = *state;
	pthread_t t[4];
	struct worker w[4];
	struct mint_stats st;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){.m = f->m, .seed = (unsigned)i + 1};
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]),
		                 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	mint_stats(f->m, &st);
	assert_int_equal(st.hits + st.misses, 1200);
	assert_true(st.entries <= 2);
}

/* The CA replaced while workers mint: every answer still right. */
static void
test_threads_set_ca(void **state)
{
	struct fixture *f = *state;
	struct ca_params p = {0};
	pthread_t t[3];
	struct worker w[3];
	struct ca *ca2;

	for (int i = 0; i < 3; i++) {
		w[i] = (struct worker){.m = f->m, .seed = (unsigned)i + 7};
		assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]),
		                 0);
	}
	for (int i = 0; i < 5; i++) {
		assert_int_equal(ca_create(&p, &ca2), WW_OK);
		assert_int_equal(mint_set_ca(f->m, ca2), WW_OK);
		ca_free(ca2);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
}

static int
sni_cb(SSL *ssl, int *al, void *arg)
{
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (name == NULL || mint_ssl_use(arg, ssl, name) != WW_OK) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* A TLS handshake in memory: SNI sni, the client checking host. */
static int
handshake(struct fixture *f, const char *sni, const char *host)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	SSL *s, *c;
	BIO *sb = NULL, *cb = NULL;
	int sdone = 0, cdone = 0;

	assert_non_null(sctx);
	assert_non_null(cctx);
	SSL_CTX_set_tlsext_servername_callback(sctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(sctx, f->m);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx),
	                    ca_cert_borrow(f->ca));
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	assert_int_equal(BIO_new_bio_pair(&sb, 0, &cb, 0), 1);
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, sni);
	SSL_set1_host(c, host);
	for (int i = 0; i < 20 && !(sdone && cdone); i++) {
		int cr = SSL_do_handshake(c), sr = SSL_do_handshake(s);
		if (cr <= 0 && SSL_get_error(c, cr) != SSL_ERROR_WANT_READ)
			break;
		if (sr <= 0 && SSL_get_error(s, sr) != SSL_ERROR_WANT_READ)
			break;
		cdone = cr == 1;
		sdone = sr == 1;
	}
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	ERR_clear_error();
	return sdone && cdone;
}

static void
test_tls_handshake(void **state)
{
	struct fixture *f = *state;

	assert_true(handshake(f, "qyapi.weixin.qq.com", "qyapi.weixin.qq.com"));
	assert_true(
	    handshake(f, "x.work.weixin.qq.com", "x.work.weixin.qq.com"));
	/* The certificate is for the SNI, so a client expecting another
	 * name refuses it; a name outside the list gets no certificate. */
	assert_false(
	    handshake(f, "x.work.weixin.qq.com", "y.work.weixin.qq.com"));
	assert_false(handshake(f, "example.com", "example.com"));
}

static void
test_bad_patterns(void **state)
{
	struct ca_params p = {0};
	struct ca *ca = NULL;
	struct mint *m = NULL;
	const char *bad[] = {"ok.example", "*"};
	struct mint_opts o = {.lifetime_s = 10};

	(void)state;
	assert_int_equal(ca_create(&p, &ca), WW_OK);
	assert_int_equal(mint_new(ca, bad, 2, NULL, &m), WW_EINVAL);
	assert_null(m);
	assert_int_equal(mint_new(ca, bad, 1, &o, &m), WW_EINVAL);
	assert_int_equal(mint_new(ca, bad, 1, NULL, &m), WW_OK);
	ca_free(ca); /* the mint keeps its own references */
	X509 *x = NULL;
	assert_int_equal(mint_cert(m, "ok.example", &x), WW_OK);
	X509_free(x);
	mint_free(m);
	mint_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_minted_verifies_for_its_sni_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_validity_short_and_backdated,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_hit_same_cert, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_refused_outside_list, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_lru_eviction, setup_small,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_set_ca, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threads_set_ca, setup_small,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_threads, setup_small,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_tls_handshake, setup,
	                                    teardown),
	    cmocka_unit_test(test_bad_patterns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
