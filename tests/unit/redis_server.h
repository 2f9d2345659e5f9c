/*
 * redis_server: a private redis-server for the store's unit tests, on a
 * loopback port chosen at run time (header only: each test is one .c).
 * The server dies with the test process (PR_SET_PDEATHSIG).
 */
#ifndef AUTHFLOW_TEST_REDIS_SERVER_H
#define AUTHFLOW_TEST_REDIS_SERVER_H

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline int64_t redis_test_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void redis_test_sleep_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* A loopback port nobody listens on right now. */
static inline int redis_test_free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int port = -1;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
      getsockname(fd, (struct sockaddr *)&a, &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

/* Whether a redis-server on `port` answers PING. */
static inline bool redis_test_ping(int port) {
  struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  bool ok = false;
  if (c && !c->err) {
    redisSetTimeout(c, tv);
    redisReply *r = redisCommand(c, "PING");
    ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
  }
  redisFree(c);
  return ok;
}

/* Start redis-server on `port`, a replica of 127.0.0.1:replica_of when
 * that is > 0, and wait until it answers PING: its pid, or -1. */
static inline pid_t redis_test_start_replica(int port, int replica_of) {
  char port_arg[16], master_arg[16];
  snprintf(port_arg, sizeof port_arg, "%d", port);
  snprintf(master_arg, sizeof master_arg, "%d", replica_of);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    char *argv[] = {"redis-server", "--port",      port_arg, "--bind",
                    "127.0.0.1",    "--save",      "",       "--appendonly",
                    "no",           "--daemonize", "no",     NULL,
                    NULL,           NULL,          NULL};
    if (replica_of > 0) {
      argv[11] = "--replicaof";
      argv[12] = "127.0.0.1";
      argv[13] = master_arg;
    }
    execvp("redis-server", argv);
    execv("/usr/bin/redis-server", argv);
    _exit(127);
  }
  for (int i = 0; i < 100; i++) {
    if (redis_test_ping(port))
      return pid;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid)
      return -1;
    redis_test_sleep_ms(50);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

static inline pid_t redis_test_start(int port) {
  return redis_test_start_replica(port, 0);
}

/* Kill a server started by redis_test_start (no-op for pid <= 0); its
 * sockets are closed when this returns. */
static inline void redis_test_stop(pid_t pid) {
  if (pid <= 0)
    return;
  kill(pid, SIGCONT);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

#endif
