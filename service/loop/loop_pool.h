/*
 * loop_pool: N threads, each running its own loop (loop.h), started one
 * after the other, so whatever the first sets up (a bound port) is there
 * for the next.
 *
 * Functions here are called from a thread that is not one of the pool's
 * (main, in practice).
 */
#ifndef AUTHFLOW_LOOP_POOL_H
#define AUTHFLOW_LOOP_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"

typedef struct loop_pool loop_pool;

/* Runs on loop `index`'s own thread. A start function returns false (with
 * err filled) to fail the start; an `each` function's result is ignored. */
typedef bool (*loop_pool_fn)(loop *l, size_t index, void *ctx, char *err,
                             size_t err_len);

/* Starts n loop threads; each runs on_start(l, i, ctx) before its loop,
 * and thread i+1 is started only after thread i's on_start returned. NULL
 * with err filled when a thread or loop could not be made or an on_start
 * failed. A failed on_start must undo its own work; every loop that had
 * started then runs on_abort (may be NULL) on its own thread, and all are
 * stopped, before this returns. */
loop_pool *loop_pool_start(size_t n, loop_pool_fn on_start,
                           loop_pool_fn on_abort, void *ctx, char *err,
                           size_t err_len);

/* Runs fn on every loop's thread (as a posted task) and waits until all
 * have returned. */
void loop_pool_each(loop_pool *p, loop_pool_fn fn, void *ctx);

/* Stops every loop, joins the threads and frees the pool (NULL: no-op). */
void loop_pool_stop(loop_pool *p);

#endif
