/*
 * tunnel.h: passthrough connections, spliced byte for byte between the
 * client and the server it asked for, and the TUNNEL record journaled
 * when each one ends (issue 6): client, SNI or CONNECT host, original
 * destination, bytes each way, duration, how it ended, the decision.
 *
 * Nothing is decoded or judged: the TLS session is end to end between
 * the client and that server.  Refused connections get the same record
 * through tunnel_record() without a splice.
 *
 * A struct tunnel_set holds one worker's tunnels; everything runs on that
 * worker's thread.  Records are handed to the journal without waiting
 * (journal_append_take with no callback): a tunnel carries no message,
 * so nothing has to be durable before its bytes flow.
 */
#ifndef WW_TUNNEL_H
#define WW_TUNNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct journal;
struct metrics;
struct tunnel_set;

/* What the record says about a connection; strings copied (or NULL). */
struct tunnel_info {
	const char *client_addr;
	unsigned client_port;
	const char *sni;          /* transparent: the ClientHello's */
	const char *proxy_user;   /* explicit with auth_file */
	const char *host;         /* SNI or CONNECT host ("" when none) */
	const char *original_dst; /* "addr:port" the client wanted, or NULL */
	const char *decision;     /* "passthrough", "refuse", "undecodable" */
};

struct tunnel_env {
	struct event_base *base;
	struct journal **journal; /* the worker's pointer: NULL at shutdown */
	unsigned idle_ms;         /* both directions quiet this long: end */
	unsigned connect_ms;      /* server connect timeout */
	struct metrics *metrics;  /* connections open (the client side), or
	                             NULL */
};

int tunnel_set_new(const struct tunnel_env *env, struct tunnel_set **out);

/* End every tunnel now (records say "shutdown") and free s; NULL ok. */
void tunnel_set_free(struct tunnel_set *s);

/* End every tunnel now (records say "shutdown"); keep s. */
void tunnel_set_close_all(struct tunnel_set *s);

size_t tunnel_set_count(const struct tunnel_set *s);

/*
 * Connect to target and, once connected, write ok_reply (may be NULL)
 * to the client and splice.  When the connect fails, fail_reply (may be
 * NULL) is written to the client and the record says "connect failed".
 * fd is taken (closed on every path).  WW_OK or WW_ENOMEM (a record is
 * still attempted).
 */
int tunnel_start(struct tunnel_set *s, int fd, const struct sockaddr *target,
                 socklen_t tlen, const struct tunnel_info *info,
                 const char *ok_reply, const char *fail_reply);

/*
 * Journal one TUNNEL record for a connection that was not spliced
 * (refused).  journal NULL is a no-op.  WW_OK or WW_ENOMEM.
 */
int tunnel_record(struct journal *j, const struct tunnel_info *info,
                  uint64_t bytes_up, uint64_t bytes_down, uint64_t duration_us,
                  const char *end_reason);

#endif
