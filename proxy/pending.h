/*
 * pending.h: a set of accepted sockets that have not yet been handed
 * off (issue 6).  Both mode fronts keep one: the explicit front
 * (connect.h) while it reads a CONNECT head, the transparent front
 * (redirect.h) while it peeks at a ClientHello.  This module owns what
 * they share: the socket until it is taken, an edge-triggered read event,
 * a deadline timer, the peer's address, the count (and the worker's
 * METRICS_CONN_OPEN gauge: an entry counts until it is closed) and the one
 * path that frees an entry.  The protocol logic stays in the fronts.
 *
 * Each entry carries env.data_size bytes of zeroed, maximally aligned
 * storage for the front's own state (pending_data), freed with the entry.
 * Everything runs on the set's event base thread.
 */
#ifndef WW_PENDING_H
#define WW_PENDING_H

#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct metrics;
struct pending_set;
struct pending; /* opaque: one accepted socket, not yet handed off */

/*
 * Called with an entry and env.arg.  on_read and on_timeout may close
 * the entry (pending_close) and must not use it afterwards; on_timeout
 * must close it or hand it off, the timer does not fire twice.  release
 * must not close the entry (it runs while the entry is being closed).
 */
typedef void (*pending_fn)(struct pending *p, void *arg);

struct pending_env {
	struct event_base *base; /* borrowed; outlives the set */
	struct metrics *metrics; /* METRICS_CONN_OPEN while pending, or NULL */
	size_t data_size;        /* bytes of pending_data per entry */
	pending_fn on_read;      /* the socket became readable */
	pending_fn on_timeout;   /* the entry's deadline passed */
	pending_fn release;      /* NULL, or first step of every close */
	void *arg;               /* given to the three */
};

/* A new, empty set in *out.  WW_OK or WW_ENOMEM (*out NULL). */
int pending_set_new(const struct pending_env *env, struct pending_set **out);

/* Close every entry (pending_close_all), then free s.  NULL: no-op. */
void pending_set_free(struct pending_set *s);

/* Close every entry, each with its socket (drain and shutdown). */
void pending_close_all(struct pending_set *s);

/* Entries open in s. */
size_t pending_count(const struct pending_set *s);

/*
 * Take fd (on every path, failure included) from sa (copied, truncated
 * to a sockaddr_storage), make it non-blocking, and wait for it to be
 * readable and for timeout_ms.  *out (may be NULL) borrows the new entry
 * until it is closed.  WW_OK, or WW_ENOMEM with fd closed.
 */
int pending_add(struct pending_set *s, int fd, const struct sockaddr *sa,
                socklen_t salen, unsigned timeout_ms, struct pending **out);

/*
 * Stop watching p's socket and its deadline (the front has decided; it
 * may still wait for something else before it closes p).
 */
void pending_stop(struct pending *p);

/*
 * Close p: release, then free its events, close its socket unless it
 * was taken, and free p with its data.  p is gone afterwards.
 */
void pending_close(struct pending *p);

/* The socket, or -1 once taken.  p still owns it. */
int pending_fd(const struct pending *p);

/* The socket, now the caller's: pending_close leaves it open. */
int pending_take_fd(struct pending *p);

/* The entry's data_size bytes (borrowed; live as long as p). */
void *pending_data(struct pending *p);

/* The peer's address and its length (borrowed; live as long as p). */
const struct sockaddr *pending_sa(const struct pending *p, socklen_t *len);

/* The peer's address as text ("local" if not IP) and port. */
const char *pending_addr(const struct pending *p);
unsigned pending_port(const struct pending *p);

/*
 * Write ss's address as text into out (len bytes; "local" if not IPv4
 * or IPv6) and its port into *port (0 if not IP).
 */
void pending_addr_text(const struct sockaddr_storage *ss, char *out, size_t len,
                       unsigned *port);

#endif
