/*
 * listen.h: one worker's listening socket on one configured address.
 *
 * Every worker binds its own socket with SO_REUSEPORT, so the kernel
 * spreads new connections over the workers and no accept lock is shared
 * (DESIGN.md, "Threads").  When accept(2) fails for want of descriptors
 * (EMFILE, ENFILE, ENOBUFS, ENOMEM) the listener stops accepting for a
 * moment instead of spinning on a readable socket it cannot serve.
 */
#ifndef WW_LISTEN_H
#define WW_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

struct conf;
struct event_base;
struct listen; /* opaque */

/* listen_new(): IP_TRANSPARENT / IPV6_TRANSPARENT before bind. */
#define LISTEN_TRANSPARENT 0x1u

/* A new connection: fd is the caller's to close. */
typedef void (*listen_accept_cb)(int fd, const struct sockaddr *sa,
                                 socklen_t salen, void *arg);

/*
 * Bind address (a conf_parse_address() string) on base and call cb for
 * every accepted connection, on base's thread.  flags: 0, or
 * LISTEN_TRANSPARENT to accept connections a TPROXY rule diverts to the
 * socket (addressed to other hosts); that needs CAP_NET_ADMIN, and
 * without it the call fails saying so ("... IP_TRANSPARENT needs
 * CAP_NET_ADMIN: ..."): never a plain socket the firewall's rule would
 * not find.  WW_EINVAL (bad address), WW_EIO (socket options, bind or
 * listen failed: the reason in err), WW_ENOMEM.
 */
int listen_new(struct event_base *base, const char *address, unsigned flags,
               listen_accept_cb cb, void *arg, struct listen **out, char *err,
               size_t errlen);

/* The flags listener i of conf needs (transparent.tproxy). */
unsigned listen_conf_flags(const struct conf *conf, size_t i);

/*
 * Check that address is free, without SO_REUSEPORT: with it, a second
 * gateway started by mistake would silently share the port with the
 * first.  WW_OK, WW_EINVAL, WW_EIO (in use: the reason in err).
 */
int listen_probe(const char *address, char *err, size_t errlen);

/* Stop accepting and close the socket; NULL is a no-op. */
void listen_free(struct listen *l);

/* Times accept(2) ran out of descriptors (for logs and tests). */
unsigned long listen_backoffs(const struct listen *l);

#endif
