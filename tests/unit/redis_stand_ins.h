/*
 * redis_stand_ins: what stands between a store test and Redis (header
 * only: each test is one .c), each on its own thread and loopback port:
 *   relay     a TCP relay to a Redis that can pass replies, drop one and
 *             close the connection (a reply lost with its connection), or
 *             drop them and keep it (a reply that never comes);
 *   sentinel  a stand-in Redis Sentinel answering every
 *             get-master-addr-by-name with 127.0.0.1:<answer>, counting
 *             the questions.
 */
#ifndef AUTHFLOW_TEST_REDIS_STAND_INS_H
#define AUTHFLOW_TEST_REDIS_STAND_INS_H

#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef enum {
  RELAY_PASS = 0,  /* both ways */
  RELAY_CUT,       /* a reply is dropped and the connection closed */
  RELAY_HOLD,      /* replies are dropped, the connection kept */
  RELAY_CUT_ONCE,  /* RELAY_CUT for one reply, then RELAY_PASS */
  RELAY_HOLD_ONCE, /* that connection holds from its next reply on; the
                      others (and new ones) pass */
} relay_mode;

#define RELAY_PAIRS 8
static struct {
  int listen_fd, port, target;
  atomic_int mode, swallowed;
  atomic_bool stop;
  int client[RELAY_PAIRS], server[RELAY_PAIRS];
  bool holding[RELAY_PAIRS];
  pthread_t thread;
} relay;

static void relay_close(int i) {
  close(relay.client[i]);
  close(relay.server[i]);
  relay.client[i] = relay.server[i] = -1;
  relay.holding[i] = false;
}

static bool write_all(int fd, const char *p, ssize_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, (size_t)n);
    if (w <= 0)
      return false;
    p += w;
    n -= w;
  }
  return true;
}

static void relay_accept(void) {
  int c = accept(relay.listen_fd, NULL, NULL);
  if (c < 0)
    return;
  int sv = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)relay.target),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  for (int i = 0; i < RELAY_PAIRS; i++)
    if (relay.client[i] < 0 && sv >= 0 &&
        connect(sv, (struct sockaddr *)&a, sizeof a) == 0) {
      relay.client[i] = c;
      relay.server[i] = sv;
      return;
    }
  close(c);
  if (sv >= 0)
    close(sv);
}

/* Move what pair i has to move; the pair is closed at EOF or a cut. */
static void relay_pump(int i, bool from_client) {
  char bytes[65536];
  int from = from_client ? relay.client[i] : relay.server[i];
  ssize_t n = read(from, bytes, sizeof bytes);
  if (n <= 0) {
    relay_close(i);
  } else if (from_client) {
    if (!write_all(relay.server[i], bytes, n))
      relay_close(i);
  } else if (relay.holding[i]) {
    atomic_fetch_add(&relay.swallowed, 1);
  } else if (atomic_load(&relay.mode) == RELAY_PASS) {
    if (!write_all(relay.client[i], bytes, n))
      relay_close(i);
  } else {
    int mode = atomic_load(&relay.mode);
    atomic_fetch_add(&relay.swallowed, 1);
    if (mode == RELAY_CUT_ONCE || mode == RELAY_HOLD_ONCE)
      atomic_store(&relay.mode, RELAY_PASS);
    if (mode == RELAY_HOLD_ONCE)
      relay.holding[i] = true;
    if (mode == RELAY_CUT || mode == RELAY_CUT_ONCE)
      relay_close(i);
  }
}

static void *relay_main(void *arg) {
  (void)arg;
  while (!atomic_load(&relay.stop)) {
    struct pollfd p[1 + 2 * RELAY_PAIRS];
    int n = 0;
    p[n++] = (struct pollfd){.fd = relay.listen_fd, .events = POLLIN};
    for (int i = 0; i < RELAY_PAIRS; i++) {
      p[n++] = (struct pollfd){.fd = relay.client[i], .events = POLLIN};
      p[n++] = (struct pollfd){.fd = relay.server[i], .events = POLLIN};
    }
    if (poll(p, (nfds_t)n, 50) <= 0)
      continue;
    if (p[0].revents)
      relay_accept();
    for (int i = 0; i < RELAY_PAIRS; i++) {
      if (relay.client[i] >= 0 && p[1 + 2 * i].revents)
        relay_pump(i, true);
      if (relay.server[i] >= 0 && p[2 + 2 * i].revents)
        relay_pump(i, false);
    }
  }
  for (int i = 0; i < RELAY_PAIRS; i++)
    if (relay.client[i] >= 0)
      relay_close(i);
  return NULL;
}

/* A listening loopback socket on a port of the kernel's choosing (-1 on
 * failure). */
static int listen_loopback(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      listen(fd, 16) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

/* Start relaying a port of its own (relay.port) to 127.0.0.1:target. */
static bool relay_start(int target) {
  for (int i = 0; i < RELAY_PAIRS; i++)
    relay.client[i] = relay.server[i] = -1;
  relay.target = target;
  atomic_store(&relay.mode, RELAY_PASS);
  atomic_store(&relay.swallowed, 0);
  atomic_store(&relay.stop, false);
  relay.listen_fd = listen_loopback(&relay.port);
  return relay.listen_fd >= 0 &&
         pthread_create(&relay.thread, NULL, relay_main, NULL) == 0;
}

static void relay_stop(void) {
  atomic_store(&relay.stop, true);
  pthread_join(relay.thread, NULL);
  close(relay.listen_fd);
}

static struct {
  int fd, port;
  atomic_int answer, asks;
  atomic_bool stop;
  pthread_t thread;
} sentinel;

/* Answer every request (SENTINEL get-master-addr-by-name) with
 * 127.0.0.1:<answer>, one connection at a time. */
static void *sentinel_main(void *arg) {
  (void)arg;
  while (!atomic_load(&sentinel.stop)) {
    struct pollfd p = {.fd = sentinel.fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0)
      continue;
    int c = accept(sentinel.fd, NULL, NULL);
    if (c < 0)
      continue;
    char bytes[512], port[16], reply[96];
    struct pollfd q = {.fd = c, .events = POLLIN};
    if (poll(&q, 1, 2000) > 0 && read(c, bytes, sizeof bytes) > 0) {
      snprintf(port, sizeof port, "%d", atomic_load(&sentinel.answer));
      int n = snprintf(reply, sizeof reply,
                       "*2\r\n$9\r\n127.0.0.1\r\n$%zu\r\n%s\r\n", strlen(port),
                       port);
      atomic_fetch_add(&sentinel.asks, 1);
      write_all(c, reply, n);
    }
    close(c);
  }
  return NULL;
}

/* Start a stand-in sentinel on a port of its own (sentinel.port). */
static bool sentinel_start(int answer) {
  atomic_store(&sentinel.answer, answer);
  atomic_store(&sentinel.asks, 0);
  atomic_store(&sentinel.stop, false);
  sentinel.fd = listen_loopback(&sentinel.port);
  return sentinel.fd >= 0 &&
         pthread_create(&sentinel.thread, NULL, sentinel_main, NULL) == 0;
}

static void sentinel_stop(void) {
  atomic_store(&sentinel.stop, true);
  pthread_join(sentinel.thread, NULL);
  close(sentinel.fd);
}

#endif
