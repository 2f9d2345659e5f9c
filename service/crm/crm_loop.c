/*
 * crm_loop: curl's multi socket API on a service/loop. See crm_loop.h.
 */
#include "crm_loop.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

/* A socket curl asked us to watch (its socketp). */
typedef struct sock {
  loop_io io;
  struct crm_loop *cl;
  curl_socket_t fd;
  struct sock *next, *prev;
} sock;

struct crm_loop {
  loop *l;
  CURLM *multi;
  loop_timer timer; /* curl's CURL_SOCKET_TIMEOUT */
  crm_loop_done_fn done;
  void *ctx;
  sock *socks; /* every watcher (freed at close) */
};

double crm_loop_now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
}

static void sock_free(crm_loop *cl, sock *s) {
  loop_io_stop(cl->l, &s->io);
  if (s->prev)
    s->prev->next = s->next;
  else
    cl->socks = s->next;
  if (s->next)
    s->next->prev = s->prev;
  free(s);
}

/* Hands every finished transfer to the done callback. */
static void finish(crm_loop *cl) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(cl->multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    char *priv = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
    crm_job *j = (crm_job *)priv;
    j->curl_rc = (int)msg->data.result;
    cl->done(cl->ctx, j, msg->data.result == CURLE_OK);
  }
}

/* A watched socket is ready. The watcher may be freed by curl's socket
 * callback during the action: it is not touched after. */
static void on_io(void *ctx, uint32_t events) {
  sock *s = ctx;
  crm_loop *cl = s->cl;
  int flags = 0;
  if (events & (EPOLLIN | EPOLLHUP))
    flags |= CURL_CSELECT_IN;
  if (events & EPOLLOUT)
    flags |= CURL_CSELECT_OUT;
  if (events & EPOLLERR)
    flags |= CURL_CSELECT_ERR;
  int running = 0;
  curl_multi_socket_action(cl->multi, s->fd, flags, &running);
  finish(cl);
}

static void on_timer(void *ctx) {
  crm_loop *cl = ctx;
  int running = 0;
  curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  finish(cl);
}

/* A new watcher for fd. A stale one for the same number (a socket curl
 * closed without a CURL_POLL_REMOVE; its close left the epoll set) is
 * dropped first. NULL when out of memory or refused. */
static sock *sock_new(crm_loop *cl, curl_socket_t fd, uint32_t events) {
  for (sock *s = cl->socks; s; s = s->next)
    if (s->fd == fd) {
      sock_free(cl, s);
      break;
    }
  sock *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->cl = cl;
  s->fd = fd;
  if (!loop_io_start(cl->l, &s->io, fd, events, on_io, s)) {
    free(s);
    return NULL;
  }
  s->next = cl->socks;
  if (cl->socks)
    cl->socks->prev = s;
  cl->socks = s;
  return s;
}

/* CURLMOPT_SOCKETFUNCTION: mirror curl's interest in a socket. socketp is
 * the socket's watcher once it has one. -1 (curl fails the transfer) when
 * the socket cannot be watched. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                          void *socketp) {
  (void)easy;
  crm_loop *cl = userp;
  sock *s = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (s)
      sock_free(cl, s);
    return 0;
  }
  uint32_t events = 0;
  if (what & CURL_POLL_IN)
    events |= EPOLLIN;
  if (what & CURL_POLL_OUT)
    events |= EPOLLOUT;
  if (s)
    return loop_io_update(cl->l, &s->io, events) ? 0 : -1;
  s = sock_new(cl, fd, events);
  if (!s)
    return -1;
  curl_multi_assign(cl->multi, fd, s);
  return 0;
}

/* CURLMOPT_TIMERFUNCTION: curl wants CURL_SOCKET_TIMEOUT after timeout_ms
 * (-1: no timer). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  crm_loop *cl = userp;
  if (timeout_ms < 0) {
    loop_timer_stop(cl->l, &cl->timer);
    return 0;
  }
  return loop_timer_start(cl->l, &cl->timer, timeout_ms, on_timer, cl) ? 0 : -1;
}

crm_loop *crm_loop_open(loop *l, long max_connections, long max_idle,
                        crm_loop_done_fn done, void *ctx) {
  crm_loop *cl = calloc(1, sizeof *cl);
  if (!cl)
    return NULL;
  cl->l = l;
  cl->done = done;
  cl->ctx = ctx;
  cl->multi = curl_multi_init();
  if (!cl->multi) {
    free(cl);
    return NULL;
  }
  curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
  curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
  curl_multi_setopt(cl->multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_connections);
  curl_multi_setopt(cl->multi, CURLMOPT_MAXCONNECTS, max_idle);
  return cl;
}

void crm_loop_close(crm_loop *cl) {
  if (!cl)
    return;
  curl_multi_cleanup(cl->multi); /* may still call on_curl_socket */
  loop_timer_stop(cl->l, &cl->timer);
  while (cl->socks)
    sock_free(cl, cl->socks);
  free(cl);
}

CURLM *crm_loop_multi(const crm_loop *cl) {
  return cl->multi;
}

bool crm_loop_add(crm_loop *cl, crm_job *j) {
  return curl_multi_add_handle(cl->multi, j->easy) == CURLM_OK;
}
