/* pool.h — a context's own worker threads (pool.c): the OpenBLAS backend's
 * workers (ops.c). They run all of a pass's parallel work: the products
 * (each worker calls OpenBLAS on one thread), the epilogues, the layer norms
 * and the per-head attention products. A context with n_threads > 1 gets
 * n_threads − 1 pthreads of its own (created at bind; the caller is worker
 * 0), so nothing is shared with another context and OpenBLAS's process-wide
 * thread count stays at one.
 *
 * A pass hands the workers a job a hundred times or more, milliseconds
 * apart or less. A worker that slept on a condition variable between two
 * of them would be woken through the kernel every time, and on a virtual
 * machine an idle vCPU first has to be woken by the host: measured, that
 * made a one-image pass 10 % slower. So a worker spins for a while
 * (POOL_SPIN pause loops, ≈ 0.1 ms) after each job before it sleeps, as
 * OpenMP's and OpenBLAS's own pools do; between frames it sleeps. */
#ifndef CLIP_POOL_H
#define CLIP_POOL_H

#include "clip.h"

typedef struct clip_pool clip_pool;

/* One worker's part of a job: worker in [0, n_workers). */
typedef void (*clip_pool_fn)(void *arg, int worker, int n_workers);

/* n workers in all: the caller and n − 1 threads, started here. NULL and
 * err filled when memory or a thread cannot be had. */
clip_pool *clip_pool_new(int n, clip_error *err);

/* Stops and joins the threads; NULL is allowed. */
void clip_pool_free(clip_pool *pool);

/* Runs fn(arg, w, n) for every worker w, the caller as worker 0, and
 * returns when all are done. */
void clip_pool_run(clip_pool *pool, clip_pool_fn fn, void *arg);

#endif
