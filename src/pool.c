/* pool.c — worker threads that spin between jobs: the OpenBLAS backend's
 * workers (see pool.h). */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "error.h"

#define POOL_SPIN 4000

struct clip_pool {
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  pthread_t *threads;
  int n, started;     /* workers including the caller; threads running */
  atomic_ulong round; /* bumped for every clip_pool_run() (and to quit) */
  atomic_int pending; /* threads still in this round */
  atomic_bool quit;
  clip_pool_fn fn; /* written before round is bumped */
  void *arg;
};

typedef struct {
  clip_pool *pool;
  int worker;
} pool_seat;

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static void *
pool_main(void *p)
{
  pool_seat seat = *(pool_seat *) p;
  clip_pool *pool = seat.pool;
  free(p);
  unsigned long seen = 0;
  for (;;) {
    unsigned long r = atomic_load_explicit(&pool->round, memory_order_acquire);
    for (int i = 0; i < POOL_SPIN && r == seen; i++) {
      cpu_relax();
      r = atomic_load_explicit(&pool->round, memory_order_acquire);
    }
    if (r == seen) {
      /* The round is read again under the mutex, which clip_pool_run() takes
       * to broadcast after bumping it: no wake-up is lost. */
      pthread_mutex_lock(&pool->mu);
      while ((r = atomic_load(&pool->round)) == seen)
        pthread_cond_wait(&pool->go, &pool->mu);
      pthread_mutex_unlock(&pool->mu);
    }
    if (atomic_load(&pool->quit))
      break;
    seen = r;
    pool->fn(pool->arg, seat.worker, pool->n);
    if (atomic_fetch_sub_explicit(&pool->pending, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&pool->mu);
      pthread_cond_signal(&pool->done);
      pthread_mutex_unlock(&pool->mu);
    }
  }
  return NULL;
}

void
clip_pool_free(clip_pool *pool)
{
  if (!pool)
    return;
  pthread_mutex_lock(&pool->mu);
  atomic_store(&pool->quit, true);
  atomic_fetch_add(&pool->round, 1);
  pthread_cond_broadcast(&pool->go);
  pthread_mutex_unlock(&pool->mu);
  for (int i = 0; i < pool->started; i++)
    pthread_join(pool->threads[i], NULL);
  pthread_cond_destroy(&pool->go);
  pthread_cond_destroy(&pool->done);
  pthread_mutex_destroy(&pool->mu);
  free(pool->threads);
  free(pool);
}

clip_pool *
clip_pool_new(int n, clip_error *err)
{
  clip_pool *pool = calloc(1, sizeof *pool);
  if (!pool || !(pool->threads = calloc((size_t) n, sizeof *pool->threads))) {
    free(pool);
    return clip_set_error(err, CLIP_ERR_NOMEM, "out of memory for %d worker threads", n), NULL;
  }
  pool->n = n;
  atomic_init(&pool->round, 0);
  atomic_init(&pool->pending, 0);
  atomic_init(&pool->quit, false);
  pthread_mutex_init(&pool->mu, NULL);
  pthread_cond_init(&pool->go, NULL);
  pthread_cond_init(&pool->done, NULL);
  for (int i = 1; i < n; i++) {
    pool_seat *seat = malloc(sizeof *seat);
    if (seat)
      *seat = (pool_seat){ pool, i };
    if (!seat || pthread_create(&pool->threads[pool->started], NULL, pool_main, seat) != 0) {
      free(seat);
      clip_pool_free(pool);
      return clip_set_error(err, CLIP_ERR_NOMEM, "cannot start worker thread %d of %d", i, n - 1),
             NULL;
    }
    pool->started++;
  }
  return pool;
}

void
clip_pool_run(clip_pool *pool, clip_pool_fn fn, void *arg)
{
  pool->fn = fn;
  pool->arg = arg;
  atomic_store_explicit(&pool->pending, pool->n - 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&pool->round, 1, memory_order_release);
  pthread_mutex_lock(&pool->mu);
  pthread_cond_broadcast(&pool->go);
  pthread_mutex_unlock(&pool->mu);
  fn(arg, 0, pool->n);
  for (int i = 0; i < POOL_SPIN && atomic_load_explicit(&pool->pending, memory_order_acquire) > 0;
       i++)
    cpu_relax();
  if (atomic_load_explicit(&pool->pending, memory_order_acquire) > 0) {
    pthread_mutex_lock(&pool->mu);
    while (atomic_load(&pool->pending) > 0)
      pthread_cond_wait(&pool->done, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
  }
}
