/*
 * conf.h: the gateway's configuration (wwgate(8), contrib/wwgate.yaml).
 *
 * conf_load() reads one YAML file into an immutable, reference-counted
 * struct conf.  main() loads it once and hands references to whoever keeps
 * it (workers, admin); nothing writes to a loaded conf, so any thread may
 * read it without locks.  A reload of the configuration file itself is a
 * restart; only the policy and the TLS certificates reload on SIGHUP.
 *
 * Keys are described by tables in conf.c (name, type, where it lands,
 * bounds), so a later issue adds a key by adding a field here and a row
 * there.  Relative paths are kept as written: they are relative to the
 * directory wwgate was started in.
 */
#ifndef WW_CONF_H
#define WW_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONF_DEFAULT_FILE "/etc/wwgate/wwgate.yaml"

enum conf_mode {
	CONF_MODE_REVERSE = 0, /* clients reach us as if we were WeCom */
	CONF_MODE_EXPLICIT,    /* HTTP CONNECT proxy (a later issue) */
	CONF_MODE_TRANSPARENT, /* redirected traffic (a later issue) */
};

enum conf_sync {
	CONF_SYNC_FULL = 0,
	CONF_SYNC_NONE,
};

enum conf_log_format {
	CONF_LOG_TEXT = 0,
	CONF_LOG_JSON,
};

/* Where a key was written: for messages that point back into the file. */
struct conf_where {
	int line; /* 1-based; 0 when the key was not in the file */
};

struct conf_tls {
	char *cert;  /* PEM certificate file (NULL: no TLS on this listener) */
	char *key;   /* PEM private key file */
	char *chain; /* PEM intermediate certificates, or NULL */
};

struct conf_listen {
	char *address; /* "127.0.0.1:8443", "[::1]:8443", ":8443" */
	enum conf_mode mode;
	struct conf_tls tls;
	struct conf_where where;
	char *auth_file; /* explicit: htpasswd-style credentials, or NULL */
	char *client_ca; /* PEM CAs that verify client certificates, or NULL */
};

enum conf_default {
	CONF_DEFAULT_REFUSE = 0,
	CONF_DEFAULT_PASSTHROUGH,
};

/* A host class of the explicit and transparent modes (issue 6). */
struct conf_hostclass {
	struct conf_tls ca; /* intercept only: the interception CA */
	char **hosts;       /* NULL-terminated patterns, n_hosts */
	size_t n_hosts;
};

struct conf_modes {
	struct conf_hostclass intercept;
	struct conf_hostclass passthrough;
	enum conf_default fallback; /* key "default" */
	enum conf_default no_sni;   /* key "transparent.no_sni" */
	int tproxy; /* key "transparent.tproxy": TPROXY instead of REDIRECT */
};

/* A WeCom callback route (issue 7): see proxy/callback.h. */
enum conf_cb_fail {
	CONF_CB_REFUSE = 0,
	CONF_CB_FORWARD,
};

struct conf_callback_route {
	char *path;         /* exact request path on the listener */
	char *forward_to;   /* http://host:port/path of the internal receiver */
	char *token_file;   /* the route's Token, from a file ... */
	char *token_env;    /* ... or an environment variable */
	char *aes_key_file; /* the 43-character EncodingAESKey, likewise */
	char *aes_key_env;
	char *receive_id;     /* corp id or suite id; NULL: not compared */
	int on_bad_signature; /* enum conf_cb_fail */
	struct conf_where where;
};

struct conf_callback {
	unsigned max_skew;      /* seconds; default 300 */
	int on_journal_failure; /* enum conf_cb_fail */
};

struct conf_app {
	char *name;
	char *corp_id;
	char *secret_file; /* or NULL */
};

struct conf_upstream {
	char *url;     /* https://qyapi.weixin.qq.com */
	char *ca_file; /* NULL: the system trust store */
	unsigned timeout_ms;
	char *proxy;    /* egress proxy URL, or NULL */
	char **resolve; /* "host:port:address" lines for curl, n_resolve */
	size_t n_resolve;
};

struct conf_journal {
	char *path;
	enum conf_sync sync;
	char *segment; /* "month" | "day" | "none" */
	uint64_t checkpoint_every;
	unsigned checkpoint_secs;
	char *checkpoint_file; /* or NULL */
	size_t max_blob_bytes;
	unsigned commit_delay_us; /* journal_opts.commit_delay_us */
};

struct conf_limits {
	unsigned max_connections;
	size_t max_header_bytes;
	size_t max_body_bytes;
	size_t max_upload_bytes; /* media uploads */
	unsigned header_timeout_ms;
	unsigned body_timeout_ms;
	unsigned keepalive_timeout_ms;
	unsigned handshake_timeout_ms;
};

struct conf_log {
	int level; /* enum log_level (lib/log.h) */
	enum conf_log_format format;
	char *access_log; /* file for access lines, or NULL: the log sink */
};

/*
 * A loaded configuration.  Every field is read-only after conf_load();
 * strings are never NULL unless documented above.
 */
struct conf {
	char *file; /* the file it came from */
	char *gateway_id;
	unsigned workers; /* 0: one per core */
	struct conf_listen *listen;
	size_t n_listen;
	struct conf_upstream upstream;
	struct conf_journal journal;
	struct {
		char *file;
	} policy;
	struct {
		char *address; /* NULL or "": no admin listener */
	} admin;
	struct conf_limits limits;
	struct {
		long block_errcode;
	} refusal;
	unsigned drain_timeout_ms;
	struct conf_log log;
	struct conf_app *apps;
	size_t n_apps;
	struct conf_modes modes; /* keys intercept, passthrough, default,
	                            transparent */
	struct conf_callback_route *callbacks; /* key "callbacks" */
	size_t n_callbacks;
	struct conf_callback callback;

	int refs_; /* private: use conf_ref/conf_unref */
};

/*
 * Load path into a new conf (*out, one reference).  On failure returns
 * WW_EINVAL (bad configuration: every problem found, one per line, as
 * "FILE:LINE: KEY.PATH: what is wrong"), WW_ENOTFOUND / WW_EIO (cannot
 * read the file) or WW_ENOMEM, and writes the explanation to err.
 */
int conf_load(const char *path, struct conf **out, char *err, size_t errlen);

/* Same from a buffer; name stands for the file in messages. */
int conf_load_buf(const char *name, const char *text, size_t len,
                  struct conf **out, char *err, size_t errlen);

struct conf *conf_ref(struct conf *c);
void conf_unref(struct conf *c); /* NULL is a no-op */

/*
 * Parse a numeric "host:port" address ("127.0.0.1:8443", "[::1]:443",
 * ":8443" for every IPv6 and IPv4 address) into ss/len.  WW_OK or
 * WW_EINVAL.  Names are refused: a gateway binds what it is told.
 */
int conf_parse_address(const char *s, struct sockaddr_storage *ss,
                       socklen_t *len);

/* "reverse", "explicit", "transparent". */
const char *conf_mode_name(enum conf_mode m);

#endif
