/*
 * wecom-callback: encrypt and sign like WeCom, so tests can post real
 * callbacks (wecom-api.md 5.2-5.6).  Test tool, not installed.
 *
 *   wecom-callback -t TOKEN -k KEY43 -r RECEIVEID [-T TS] [-n NONCE] post
 *       reads the plaintext message on stdin; prints the query string on
 *       the first line and the XML envelope after it
 *   wecom-callback ... get ECHO
 *       prints the URL-verification query for the plaintext ECHO
 *   wecom-callback ... reply
 *       reads a plaintext passive reply on stdin; prints the encrypted
 *       reply envelope a receiver answers with
 *   wecom-callback ... open
 *       reads a passive reply envelope (or a POST body) on stdin, checks
 *       its signature and prints the plaintext
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ww.h"
#include "proxy/wxcrypt.h"

#define MAX_IN (4u << 20)

static char *
read_stdin(size_t *len)
{
	char *buf = malloc(MAX_IN + 1);
	size_t n = 0, r;

	if (buf == NULL)
		return NULL;
	while (n < MAX_IN && (r = fread(buf + n, 1, MAX_IN - n, stdin)) > 0)
		n += r;
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Percent-encode base64 for a query value. */
static void
put_escaped(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '+' || *s == '/' || *s == '=')
			printf("%%%02X", (unsigned char)*s);
		else
			putchar(*s);
}

/* The text of <name>...</name>, CDATA or not, copied into a new string. */
static char *
xml_field(const char *xml, const char *name)
{
	char open[64], close[64];
	const char *a, *b;
	char *v;

	snprintf(open, sizeof(open), "<%s>", name);
	snprintf(close, sizeof(close), "</%s>", name);
	a = strstr(xml, open);
	if (a == NULL)
		return NULL;
	a += strlen(open);
	b = strstr(a, close);
	if (b == NULL)
		return NULL;
	if (strncmp(a, "<![CDATA[", 9) == 0 && b - a >= 12) {
		a += 9;
		b -= 3;
	}
	v = strndup(a, (size_t)(b - a));
	return v;
}

static int
do_post(struct wxcrypt *c, const char *ts, const char *nonce, const char *rid)
{
	size_t len;
	char *msg = read_stdin(&len), *enc = NULL;
	char sig[WXCRYPT_SIG_HEX + 1];
	int rc = 1;

	if (msg == NULL || wxcrypt_encrypt(c, NULL, (uint8_t *)msg, len, &enc))
		goto out;
	if (wxcrypt_sign(c, ts, nonce, enc, sig) != WW_OK)
		goto out;
	printf("msg_signature=%s&timestamp=%s&nonce=%s\n", sig, ts, nonce);
	printf("<xml><ToUserName><![CDATA[%s]]></ToUserName>"
	       "<AgentID><![CDATA[1000002]]></AgentID>"
	       "<Encrypt><![CDATA[%s]]></Encrypt></xml>",
	       rid, enc);
	rc = 0;
out:
	free(msg);
	free(enc);
	return rc;
}

static int
do_reply(struct wxcrypt *c, const char *ts, const char *nonce)
{
	size_t len;
	char *msg = read_stdin(&len), *enc = NULL;
	char sig[WXCRYPT_SIG_HEX + 1];
	int rc = 1;

	if (msg == NULL || wxcrypt_encrypt(c, NULL, (uint8_t *)msg, len, &enc))
		goto out;
	if (wxcrypt_sign(c, ts, nonce, enc, sig) != WW_OK)
		goto out;
	printf("<xml><Encrypt><![CDATA[%s]]></Encrypt>"
	       "<MsgSignature><![CDATA[%s]]></MsgSignature>"
	       "<TimeStamp>%s</TimeStamp><Nonce><![CDATA[%s]]></Nonce></xml>",
	       enc, sig, ts, nonce);
	rc = 0;
out:
	free(msg);
	free(enc);
	return rc;
}

static int
do_get(struct wxcrypt *c, const char *ts, const char *nonce, const char *echo)
{
	char *enc = NULL;
	char sig[WXCRYPT_SIG_HEX + 1];

	if (wxcrypt_encrypt(c, NULL, (const uint8_t *)echo, strlen(echo), &enc))
		return 1;
	if (wxcrypt_sign(c, ts, nonce, enc, sig) != WW_OK) {
		free(enc);
		return 1;
	}
	printf("msg_signature=%s&timestamp=%s&nonce=%s&echostr=", sig, ts,
	       nonce);
	put_escaped(enc);
	putchar('\n');
	free(enc);
	return 0;
}

static int
do_open(struct wxcrypt *c, const char *ts_arg, const char *nonce_arg)
{
	size_t len, ml;
	char *xml = read_stdin(&len);
	char *enc = NULL, *sig = NULL, *ts = NULL, *nonce = NULL;
	uint8_t *msg = NULL;
	enum wxcrypt_fail why = WXCRYPT_FAIL_NONE;
	int rc = 1;

	if (xml == NULL || (enc = xml_field(xml, "Encrypt")) == NULL)
		goto out;
	sig = xml_field(xml, "MsgSignature");
	ts = xml_field(xml, "TimeStamp");
	nonce = xml_field(xml, "Nonce");
	if (sig == NULL) { /* a POST body: the signature is in the query */
		fprintf(stderr, "no MsgSignature: decrypting only\n");
		rc =
		    wxcrypt_decrypt(c, enc, strlen(enc), &msg, &ml, NULL, &why);
	} else {
		rc =
		    wxcrypt_open(c, ts ? ts : ts_arg, nonce ? nonce : nonce_arg,
		                 enc, sig, &msg, &ml, &why);
	}
	if (rc != WW_OK) {
		fprintf(stderr, "wecom-callback: %s\n", wxcrypt_fail_name(why));
		rc = 1;
		goto out;
	}
	fwrite(msg, 1, ml, stdout);
	rc = 0;
out:
	free(xml);
	free(enc);
	free(sig);
	free(ts);
	free(nonce);
	free(msg);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *token = NULL, *key = NULL, *rid = "", *ts = NULL;
	const char *nonce = "1597212914";
	char tsbuf[32], err[128];
	struct wxcrypt *c;
	int opt, rc = 2;

	while ((opt = getopt(argc, argv, "t:k:r:T:n:")) != -1) {
		switch (opt) {
		case 't':
			token = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'r':
			rid = optarg;
			break;
		case 'T':
			ts = optarg;
			break;
		case 'n':
			nonce = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind >= argc)
		goto usage;
	if (ts == NULL) {
		snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)time(NULL));
		ts = tsbuf;
	}
	if (wxcrypt_new(token, key, rid, &c, err, sizeof(err)) != WW_OK) {
		fprintf(stderr, "wecom-callback: %s\n", err);
		return 2;
	}
	if (strcmp(argv[optind], "post") == 0)
		rc = do_post(c, ts, nonce, rid);
	else if (strcmp(argv[optind], "get") == 0 && optind + 1 < argc)
		rc = do_get(c, ts, nonce, argv[optind + 1]);
	else if (strcmp(argv[optind], "reply") == 0)
		rc = do_reply(c, ts, nonce);
	else if (strcmp(argv[optind], "open") == 0)
		rc = do_open(c, ts, nonce);
	wxcrypt_free(c);
	return rc;
usage:
	fprintf(stderr, "usage: wecom-callback -t TOKEN -k KEY43 -r RECEIVEID "
	                "[-T TS] [-n NONCE] post | get ECHO | reply | open\n");
	return 2;
}
