/* pool.c - the thread pool (see pool.h): one generation counter wakes the workers, an atomic
 * cursor hands out tasks, a counter of finished workers ends the run. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

struct hb_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t start, done;
    unsigned long generation;
    int finished;
    bool quit;
    /* the current run */
    size_t ntasks;
    atomic_size_t next;
    void (*fn)(void *, size_t, int);
    void *ctx;
};

typedef struct {
    hb_pool *p;
    int id;
} worker_arg;

static void work(hb_pool *p, int id)
{
    for (;;) {
        size_t t = atomic_fetch_add(&p->next, 1);
        if (t >= p->ntasks) break;
        p->fn(p->ctx, t, id);
    }
}

static void *worker_main(void *arg)
{
    worker_arg *w = arg;
    hb_pool *p = w->p;
    int id = w->id;
    free(w);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->start, &p->mu);
        if (p->quit) break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        work(p, id);
        pthread_mutex_lock(&p->mu);
        if (++p->finished == p->n) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

hb_pool *hb_pool_create(int nthreads)
{
    hb_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = calloc((size_t)(nthreads > 0 ? nthreads : 1), sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->start, NULL);
    pthread_cond_init(&p->done, NULL);
    for (int i = 0; i < nthreads; i++) {
        worker_arg *w = malloc(sizeof *w);
        if (!w) break;
        *w = (worker_arg){p, i + 1};
        if (pthread_create(&p->threads[i], NULL, worker_main, w) != 0) {
            free(w);
            break;
        }
        p->n++;
    }
    return p;
}

void hb_pool_destroy(hb_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->start);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

int hb_pool_workers(const hb_pool *p) { return p ? p->n + 1 : 1; }

void hb_pool_run(hb_pool *p, size_t ntasks, void (*fn)(void *, size_t, int), void *ctx)
{
    if (!p || p->n == 0 || ntasks < 2) {
        for (size_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->ntasks = ntasks;
    atomic_store(&p->next, 0);
    p->fn = fn;
    p->ctx = ctx;
    p->finished = 0;
    p->generation++;
    pthread_cond_broadcast(&p->start);
    pthread_mutex_unlock(&p->mu);
    work(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->finished < p->n) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
