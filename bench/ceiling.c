/*
 * ceiling: the fastest libmicrohttpd server we could write, answering every
 * request with a fixed JSON body of about the size of a session answer. It
 * runs with the same thread model as authflow, so authflow's throughput can
 * be read as a fraction of it.
 *
 *   ceiling PORT THREADS
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char body[] =
    "{\"conversationId\":\"bench-0000000000\",\"serviceLine\":\"bench\","
    "\"language\":\"en-US\",\"state\":\"completed\",\"nextAction\":\"continue\","
    "\"authStatus\":\"identified_verified\",\"identified\":true,\"verified\":"
    "true,\"identificationMethod\":\"ani\",\"outcome\":\"verified\","
    "\"lastResult\":\"match\",\"attemptsRemaining\":0,\"promptId\":"
    "\"welcome_verified\",\"promptText\":\"Thank you, Ana. You're verified.\","
    "\"customerId\":\"100234\",\"customerName\":\"Ana Garcia\"}";

static struct MHD_Response *response;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **ctx) {
  (void)cls, (void)url, (void)method, (void)version, (void)upload;
  if (*ctx == NULL) {
    *ctx = c;
    return MHD_YES;
  }
  if (*upload_size) {
    *upload_size = 0;
    return MHD_YES;
  }
  return MHD_queue_response(c, 200, response);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: ceiling PORT THREADS\n");
    return 2;
  }
  response = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                             MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(response, "Content-Type", "application/json");
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, (uint16_t)atoi(argv[1]),
      NULL, NULL, on_request, NULL, MHD_OPTION_THREAD_POOL_SIZE,
      (unsigned)atoi(argv[2]), MHD_OPTION_CONNECTION_LIMIT, 10000u,
      MHD_OPTION_END);
  if (!d)
    return 1;
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  sigprocmask(SIG_BLOCK, &s, NULL);
  int sig;
  sigwait(&s, &sig);
  MHD_stop_daemon(d);
  MHD_destroy_response(response);
  return 0;
}
