#include "crm_loop.h"

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static struct {
  CURLM *multi;
  int epoll_fd;       /* curl's sockets and wake_fd */
  int wake_fd;        /* eventfd: submit and stop wake the thread */
  double curl_due_ms; /* when curl wants CURL_SOCKET_TIMEOUT; < 0: never */
  crm_job *active;    /* on the multi handle (doubly linked) */
} loop = {.epoll_fd = -1, .wake_fd = -1, .curl_due_ms = -1};

double crm_loop_now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
}

/* CURLMOPT_SOCKETFUNCTION: mirror curl's interest in a socket in the
 * epoll set. socketp is non-NULL once the socket is in the set (curl
 * forgets it when the socket is removed). Errors are ignored: a socket
 * curl already closed has left the epoll set by itself. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *unused,
                          void *socketp) {
  (void)easy, (void)unused;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(loop.epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    return 0;
  }
  struct epoll_event ev = {.data.fd = fd};
  if (what & CURL_POLL_IN)
    ev.events |= EPOLLIN;
  if (what & CURL_POLL_OUT)
    ev.events |= EPOLLOUT;
  if (socketp) {
    epoll_ctl(loop.epoll_fd, EPOLL_CTL_MOD, fd, &ev);
  } else if (epoll_ctl(loop.epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0 ||
             epoll_ctl(loop.epoll_fd, EPOLL_CTL_MOD, fd, &ev) == 0) {
    curl_multi_assign(loop.multi, fd, &loop);
  }
  return 0;
}

/* CURLMOPT_TIMERFUNCTION: curl wants CURL_SOCKET_TIMEOUT after timeout_ms
 * (-1: no timer). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *unused) {
  (void)multi, (void)unused;
  loop.curl_due_ms =
      timeout_ms < 0 ? -1 : crm_loop_now_ms() + (double)timeout_ms;
  return 0;
}

static void close_fds(void) {
  if (loop.epoll_fd >= 0)
    close(loop.epoll_fd);
  if (loop.wake_fd >= 0)
    close(loop.wake_fd);
  loop.epoll_fd = loop.wake_fd = -1;
}

bool crm_loop_open(long max_connections) {
  loop.curl_due_ms = -1;
  loop.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  loop.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct epoll_event wake_ev = {.events = EPOLLIN, .data.fd = loop.wake_fd};
  if (loop.epoll_fd < 0 || loop.wake_fd < 0 ||
      epoll_ctl(loop.epoll_fd, EPOLL_CTL_ADD, loop.wake_fd, &wake_ev) != 0 ||
      !(loop.multi = curl_multi_init())) {
    close_fds();
    return false;
  }
  curl_multi_setopt(loop.multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(loop.multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(loop.multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_connections);
  curl_multi_setopt(loop.multi, CURLMOPT_MAXCONNECTS, max_connections);
  return true;
}

void crm_loop_close(void) {
  if (loop.multi)
    curl_multi_cleanup(loop.multi); /* may still call on_curl_socket */
  loop.multi = NULL;
  close_fds();
}

CURLM *crm_loop_multi(void) {
  return loop.multi;
}

void crm_loop_wake(void) {
  uint64_t one = 1;
  if (write(loop.wake_fd, &one, sizeof one) < 0) {
    /* EAGAIN: the counter is already non-zero, so the thread will wake. */
  }
}

bool crm_loop_add(crm_job *j) {
  if (curl_multi_add_handle(loop.multi, j->easy) != CURLM_OK)
    return false;
  j->next = loop.active;
  j->prev = NULL;
  if (loop.active)
    loop.active->prev = j;
  loop.active = j;
  return true;
}

static void unlink_active(crm_job *j) {
  if (j->prev)
    j->prev->next = j->next;
  else
    loop.active = j->next;
  if (j->next)
    j->next->prev = j->prev;
  j->next = j->prev = NULL;
}

/* Lets curl act on one ready descriptor (the eventfd is only drained). */
static void dispatch(const struct epoll_event *ready) {
  int fd = ready->data.fd;
  if (fd == loop.wake_fd) {
    uint64_t count;
    if (read(fd, &count, sizeof count) < 0) {
      /* EAGAIN: another read took it; nothing to do. */
    }
    return;
  }
  uint32_t ev = ready->events;
  int flags = 0;
  if (ev & (EPOLLIN | EPOLLHUP))
    flags |= CURL_CSELECT_IN;
  if (ev & EPOLLOUT)
    flags |= CURL_CSELECT_OUT;
  if (ev & EPOLLERR)
    flags |= CURL_CSELECT_ERR;
  int running = 0;
  curl_multi_socket_action(loop.multi, fd, flags, &running);
}

void crm_loop_run_once(int wait_ms) {
  if (loop.curl_due_ms >= 0) {
    double until = loop.curl_due_ms - crm_loop_now_ms();
    int curl_wait = until <= 0 ? 0 : (int)until + 1;
    if (curl_wait < wait_ms)
      wait_ms = curl_wait;
  }
  struct epoll_event ready[64];
  int n = epoll_wait(loop.epoll_fd, ready, 64, wait_ms);
  for (int i = 0; i < n; i++)
    dispatch(&ready[i]);
  if (loop.curl_due_ms >= 0 && crm_loop_now_ms() >= loop.curl_due_ms) {
    int running = 0;
    loop.curl_due_ms = -1; /* on_curl_timer may set a new one */
    curl_multi_socket_action(loop.multi, CURL_SOCKET_TIMEOUT, 0, &running);
  }
}

crm_job *crm_loop_next_done(bool *ok_io) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(loop.multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    char *priv = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
    crm_job *j = (crm_job *)priv;
    *ok_io = msg->data.result == CURLE_OK;
    j->curl_rc = (int)msg->data.result;
    unlink_active(j);
    return j;
  }
  return NULL;
}

crm_job *crm_loop_take_active(void) {
  crm_job *j = loop.active;
  if (j)
    unlink_active(j);
  return j;
}
