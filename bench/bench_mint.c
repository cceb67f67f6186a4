/*
 * bench_mint: what minting costs on the event loop.
 *
 *   bench/bench_mint [SECONDS-PER-CASE]   (default 1)
 *
 * Reports, for the interception CA's default key types:
 *   - mint_cert on a miss (a name never seen: one signature) and on a hit;
 *   - full TLS 1.3 handshakes per second in memory (one thread, client and
 *     server in the same process, so the figure is the sum of both sides'
 *     CPU) with a static certificate, with a minted certificate served
 *     from the cache, and with a fresh mint on every handshake.
 * Times are this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so the
 * figures hold on a loaded machine: "per second" means per CPU second.
 * Figures only; no test asserts them.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certs/ca.h"
#include "certs/mint.h"
#include "ww.h"

static const char *const bench_hosts[] = {"qyapi.weixin.qq.com",
                                          "*.work.weixin.qq.com"};

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
bench_name(char *buf, size_t size, unsigned long i)
{
	snprintf(buf, size, "h%lu.work.weixin.qq.com", i);
}

/* Mean seconds per mint_cert call; miss: a new name every call. */
static double
bench_mint_calls(struct mint *m, int miss, double secs, unsigned long *n)
{
	double t0 = bench_now(), t;
	char name[64] = "qyapi.weixin.qq.com";
	X509 *x;

	*n = 0;
	do {
		for (int k = 0; k < 64; k++) {
			if (miss)
				bench_name(name, sizeof(name), *n);
			if (mint_cert(m, name, &x) != WW_OK)
				abort();
			X509_free(x);
			(*n)++;
		}
		t = bench_now() - t0;
	} while (t < secs);
	return t / (double)*n;
}

static int
bench_sni(SSL *ssl, int *al, void *arg)
{
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (arg == NULL)
		return SSL_TLSEXT_ERR_OK; /* static certificate */
	if (name == NULL || mint_ssl_use(arg, ssl, name) != WW_OK) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

static int
bench_handshake(SSL_CTX *sctx, SSL_CTX *cctx, const char *sni)
{
	SSL *s = SSL_new(sctx), *c = SSL_new(cctx);
	BIO *sb = NULL, *cb = NULL;
	int sdone = 0, cdone = 0;

	if (s == NULL || c == NULL || !BIO_new_bio_pair(&sb, 0, &cb, 0))
		abort();
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, sni);
	SSL_set1_host(c, sni);
	for (int i = 0; i < 20 && !(sdone && cdone); i++) {
		int cr = SSL_do_handshake(c), sr = SSL_do_handshake(s);
		cdone = cr == 1;
		sdone = sr == 1;
		if ((cr <= 0 && SSL_get_error(c, cr) != SSL_ERROR_WANT_READ) ||
		    (sr <= 0 && SSL_get_error(s, sr) != SSL_ERROR_WANT_READ))
			break;
	}
	SSL_free(s);
	SSL_free(c);
	return sdone && cdone;
}

/* Handshakes per second; mode 0 static, 1 minted hit, 2 minted miss. */
static double
bench_handshakes(SSL_CTX *sctx, SSL_CTX *cctx, int mode, double secs)
{
	double t0 = bench_now(), t;
	unsigned long n = 0;
	char name[64] = "qyapi.weixin.qq.com";

	do {
		if (mode == 2)
			bench_name(name, sizeof(name), 1000000 + n);
		if (!bench_handshake(sctx, cctx, name)) {
			ERR_print_errors_fp(stderr);
			abort();
		}
		n++;
		t = bench_now() - t0;
	} while (t < secs);
	return (double)n / t;
}

static SSL_CTX *
bench_server_ctx(struct mint *m, int with_static, const struct ca *ca)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	const char *names[] = {"qyapi.weixin.qq.com"};
	struct ca_leaf leaf = {.names = names,
	                       .nnames = 1,
	                       .key = mint_key_borrow(m),
	                       .backdate_s = 60,
	                       .lifetime_s = 86400};
	X509 *x = NULL;

	if (ctx == NULL)
		abort();
	if (with_static) {
		if (ca_issue(ca, &leaf, &x) != WW_OK ||
		    SSL_CTX_use_certificate(ctx, x) != 1 ||
		    SSL_CTX_use_PrivateKey(ctx, mint_key_borrow(m)) != 1)
			abort();
		X509_free(x);
	} else {
		SSL_CTX_set_tlsext_servername_callback(ctx, bench_sni);
		SSL_CTX_set_tlsext_servername_arg(ctx, m);
	}
	/* Full handshakes only: no resumption. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	return ctx;
}

static void
bench_run(enum ca_keytype kt, const char *label, double secs)
{
	struct ca_params p = {.keytype = kt};
	struct mint_opts o = {.cache_max = 1u << 22};
	struct ca *ca = NULL;
	struct mint *m = NULL;
	unsigned long n;
	double miss, hit;
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method()), *st, *mt;

	if (ca_create(&p, &ca) != WW_OK ||
	    mint_new(ca, bench_hosts, 2, &o, &m) != WW_OK || cctx == NULL)
		abort();
	miss = bench_mint_calls(m, 1, secs, &n);
	printf("%-8s mint miss      %9.1f us/op  (%lu signed)\n", label,
	       miss * 1e6, n);
	hit = bench_mint_calls(m, 0, secs, &n);
	printf("%-8s mint hit       %9.3f us/op  (miss/hit = %.0fx)\n", label,
	       hit * 1e6, miss / hit);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), ca_cert_borrow(ca));
	st = bench_server_ctx(m, 1, ca);
	mt = bench_server_ctx(m, 0, ca);
	printf(
	    "%-8s handshakes/cpu-s static %.0f, minted hit %.0f, minted miss "
	    "%.0f\n",
	    label, bench_handshakes(st, cctx, 0, secs),
	    bench_handshakes(mt, cctx, 1, secs),
	    bench_handshakes(mt, cctx, 2, secs));
	SSL_CTX_free(st);
	SSL_CTX_free(mt);
	SSL_CTX_free(cctx);
	mint_free(m);
	ca_free(ca);
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;

	if (secs <= 0 || secs > 60) {
		fprintf(stderr, "usage: bench_mint [SECONDS-PER-CASE]\n");
		return 2;
	}
	printf("bench_mint: leaf key EC P-256, %s, %.1f s per case\n",
	       OpenSSL_version(OPENSSL_VERSION), secs);
	bench_run(CA_KEY_EC_P256, "CA EC", secs);
	bench_run(CA_KEY_RSA3072, "CA RSA", secs);
	return 0;
}
