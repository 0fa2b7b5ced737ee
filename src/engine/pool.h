/* pool.h - a small persistent thread pool for the host side of a step (sampling requests in
 * parallel). Tasks are independent; the calling thread works too; a run returns when all are
 * done. */
#ifndef HB_POOL_H
#define HB_POOL_H

#include <stddef.h>

typedef struct hb_pool hb_pool;

/* nthreads extra threads (0: none, every run is serial). NULL when threads cannot be made. */
hb_pool *hb_pool_create(int nthreads);
void hb_pool_destroy(hb_pool *p);

/* Workers the pool has, the caller included (1 + nthreads). */
int hb_pool_workers(const hb_pool *p);

/* Runs fn(ctx, task, worker) for task in [0, ntasks); worker in [0, workers). */
void hb_pool_run(hb_pool *p, size_t ntasks, void (*fn)(void *ctx, size_t task, int worker),
                 void *ctx);

#endif
