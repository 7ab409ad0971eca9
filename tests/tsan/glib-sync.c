/* glib-sync.c — preloaded into the element's tests under ThreadSanitizer
 * (scripts/tsan.sh): tells TSan about GLib's locks.
 *
 * GLib and GStreamer are not instrumented, and GLib implements GMutex,
 * GRecMutex, GRWLock and GCond with atomics and futex system calls of its
 * own, not with pthread mutexes, so TSan sees none of the ordering they
 * give: every access made under GST_OBJECT_LOCK or the element's mutexes
 * would look unordered. These wrappers call GLib's functions (the next
 * definition, dlsym(RTLD_NEXT)) and add __tsan_acquire after taking a lock
 * and __tsan_release before letting it go, on the lock's address: the same
 * happens-before TSan gives a pthread mutex. Calls from the element, its
 * tests and GStreamer go through the dynamic linker and reach these; GLib's
 * calls to itself do not (it binds them directly), which only matters for
 * GLib's own data.
 *
 * Threads themselves need nothing here: g_thread_new and g_thread_join
 * end in pthread_create and pthread_join, which TSan intercepts. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <glib.h>
#include <sanitizer/tsan_interface.h>
#include <stdio.h>
#include <stdlib.h>

static void *
next(const char *name)
{
  void *f = dlsym(RTLD_NEXT, name);

  if (!f) {
    fprintf(stderr, "glib-sync: no %s after this library\n", name);
    abort();
  }
  return f;
}

/* GLib's function, looked up at the first call (a lock may be taken
 * before this library's constructors would run); the slot is atomic, as
 * several threads may make that first call at once. */
#define NEXT(ret, name, ...)                                                                       \
  static ret (*slot)(__VA_ARGS__);                                                                 \
  ret (*real)(__VA_ARGS__) = __atomic_load_n(&slot, __ATOMIC_ACQUIRE);                             \
  if (!real) {                                                                                     \
    real = (ret(*)(__VA_ARGS__)) next(#name);                                                      \
    __atomic_store_n(&slot, real, __ATOMIC_RELEASE);                                               \
  }

void
g_mutex_lock(GMutex *m)
{
  NEXT(void, g_mutex_lock, GMutex *);
  real(m);
  __tsan_acquire(m);
}

gboolean
g_mutex_trylock(GMutex *m)
{
  NEXT(gboolean, g_mutex_trylock, GMutex *);
  if (!real(m))
    return FALSE;
  __tsan_acquire(m);
  return TRUE;
}

void
g_mutex_unlock(GMutex *m)
{
  NEXT(void, g_mutex_unlock, GMutex *);
  __tsan_release(m);
  real(m);
}

void
g_rec_mutex_lock(GRecMutex *m)
{
  NEXT(void, g_rec_mutex_lock, GRecMutex *);
  real(m);
  __tsan_acquire(m);
}

gboolean
g_rec_mutex_trylock(GRecMutex *m)
{
  NEXT(gboolean, g_rec_mutex_trylock, GRecMutex *);
  if (!real(m))
    return FALSE;
  __tsan_acquire(m);
  return TRUE;
}

void
g_rec_mutex_unlock(GRecMutex *m)
{
  NEXT(void, g_rec_mutex_unlock, GRecMutex *);
  __tsan_release(m);
  real(m);
}

/* Readers are ordered with each other too: stricter than an rwlock, so
 * it can hide nothing but a race between two reads, which is no race. */
void
g_rw_lock_writer_lock(GRWLock *l)
{
  NEXT(void, g_rw_lock_writer_lock, GRWLock *);
  real(l);
  __tsan_acquire(l);
}

void
g_rw_lock_writer_unlock(GRWLock *l)
{
  NEXT(void, g_rw_lock_writer_unlock, GRWLock *);
  __tsan_release(l);
  real(l);
}

void
g_rw_lock_reader_lock(GRWLock *l)
{
  NEXT(void, g_rw_lock_reader_lock, GRWLock *);
  real(l);
  __tsan_acquire(l);
}

void
g_rw_lock_reader_unlock(GRWLock *l)
{
  NEXT(void, g_rw_lock_reader_unlock, GRWLock *);
  __tsan_release(l);
  real(l);
}

/* A wait lets the mutex go and takes it back. */
void
g_cond_wait(GCond *c, GMutex *m)
{
  NEXT(void, g_cond_wait, GCond *, GMutex *);
  __tsan_release(m);
  real(c, m);
  __tsan_acquire(m);
}

gboolean
g_cond_wait_until(GCond *c, GMutex *m, gint64 end_time)
{
  gboolean r;

  NEXT(gboolean, g_cond_wait_until, GCond *, GMutex *, gint64);
  __tsan_release(m);
  r = real(c, m, end_time);
  __tsan_acquire(m);
  return r;
}
