/*
 * admin.h: the operations endpoint (plain HTTP, loopback by default):
 *
 *   GET /healthz   200 "ok": the process runs its loop
 *   GET /readyz    200 "ready", or 503 with the reason: journal not
 *                  writable, no policy, upstream not answering
 *   GET /metrics   Prometheus text format (metrics.h)
 *
 * It runs on main()'s event base, never on a worker.
 */
#ifndef WW_ADMIN_H
#define WW_ADMIN_H

#include <stddef.h>

struct event_base;
struct metrics;
struct admin; /* opaque */

/*
 * Readiness: 1 when ready, else 0 with a short reason (no secrets) in why.
 * Called on main's thread.
 */
typedef int (*admin_ready_cb)(void *arg, char *why, size_t whylen);

/*
 * Listen on address (conf_parse_address() syntax) on base.  metrics and
 * ready/arg are borrowed.  WW_EINVAL, WW_EIO (bind: reason in err),
 * WW_ENOMEM.
 */
int admin_new(struct event_base *base, const char *address,
              struct metrics *metrics, admin_ready_cb ready, void *arg,
              struct admin **out, char *err, size_t errlen);

/* Close the listener; NULL is a no-op. */
void admin_free(struct admin *a);

#endif
