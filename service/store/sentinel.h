/*
 * sentinel: find the current Redis master through Redis Sentinel.
 *
 * With sentinels configured, the store asks them for the master's address
 * each time it (re)connects, so after a failover the next connection goes
 * to the promoted replica. A sentinel that is down or does not know the
 * master is skipped; the first that answers wins. The store then checks
 * the node it reached really is a master (ROLE), because a sentinel can
 * briefly report a stale address during a failover.
 *
 * Low-level module: never logs; reasons go to err.
 */
#ifndef AUTHFLOW_SENTINEL_H
#define AUTHFLOW_SENTINEL_H

#include <stdbool.h>
#include <stddef.h>

#define SENTINEL_MAX 8
#define SENTINEL_HOST_MAX 255

typedef struct {
  char host[SENTINEL_HOST_MAX + 1];
  int port;
} sentinel_addr;

/*
 * Parse "host:port" (or "[v6]:port"); port defaults to 26379 when absent.
 * Returns false with a reason in err.
 */
bool sentinel_parse_addr(const char *text, sentinel_addr *out, char *err,
                         size_t err_len);

/*
 * Ask the sentinels, in order, for the address of `master_name`. Each
 * sentinel gets `timeout_ms` to connect and `timeout_ms` to answer.
 * On success fills host (host_len bytes) and *port.
 */
bool sentinel_find_master(const sentinel_addr *sentinels, size_t count,
                          const char *master_name, int timeout_ms, char *host,
                          size_t host_len, int *port, char *err,
                          size_t err_len);

/*
 * Ask the sentinels, in order, for a healthy replica of `master_name`
 * (SENTINEL REPLICAS: flags without s_down/o_down/disconnected, master
 * link ok); the first such replica of the first sentinel that answers.
 * False with a reason in err when none is healthy.
 */
bool sentinel_find_replica(const sentinel_addr *sentinels, size_t count,
                           const char *master_name, int timeout_ms, char *host,
                           size_t host_len, int *port, char *err,
                           size_t err_len);

#endif
