/* connleak.h: tell connleak about your own session types.
 *
 * A "session" is anything that holds connections for a while: a connection
 * pool, a client object, a tunnel. Mark where each one begins, where it
 * finishes a unit of work, and where it is invalidated; connleak then
 * reports sessions that were never invalidated (leaked-session, with api
 * "user:<kind>") and call sites that create a session per request
 * (session-churn).
 *
 *   #include <connleak/connleak.h>
 *
 *   struct pool *pool_new(void) {
 *     struct pool *p = calloc(1, sizeof *p);
 *     connleak_session_begin("pool", p);
 *     return p;
 *   }
 *   void pool_request_done(struct pool *p) { connleak_session_transfer_done(p); }
 *   void pool_free(struct pool *p) { connleak_session_end(p); free(p); }
 *
 * The functions are weak: without the shim (no LD_PRELOAD) they are absent
 * and these calls do nothing, so the program builds, links and runs
 * unchanged. Header-only; nothing to link. */
#ifndef CONNLEAK_CONNLEAK_H
#define CONNLEAK_CONNLEAK_H

#ifdef __cplusplus
extern "C" {
#endif

/* Defined by the shim (libconnleak.so) when it is preloaded; weak, so they
 * are null without it. */

/* A session of type `kind` (a short name: "pool", "grpc-channel") now lives
 * at `handle`. The caller is its creation site. */
void connleak_session_begin(const char *kind, const void *handle) __attribute__((weak));

/* The session at `handle` completed one unit of work (a request). */
void connleak_session_transfer_done(const void *handle) __attribute__((weak));

/* The session at `handle` is invalidated: its connections are closed. */
void connleak_session_end(const void *handle) __attribute__((weak));

/* Calls go through these macros, which skip an absent function. Macros, not
 * inline functions, so the caller's own line is the creation site. (The
 * parenthesised name is the function itself, not the macro.) */
#define connleak_session_begin(kind, handle) \
  (connleak_session_begin ? (connleak_session_begin)((kind), (handle)) : (void)0)
#define connleak_session_transfer_done(handle) \
  (connleak_session_transfer_done ? (connleak_session_transfer_done)(handle) : (void)0)
#define connleak_session_end(handle) \
  (connleak_session_end ? (connleak_session_end)(handle) : (void)0)

#ifdef __cplusplus
}
#endif

#endif /* CONNLEAK_CONNLEAK_H */
