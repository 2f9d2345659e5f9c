/*
 * crm: the enterprise CRM's REST API as requests and answers (pure, no I/O).
 *
 * Builds the HTTP request for a flow_crm_request and maps the HTTP answer
 * back to a flow_crm_result. The transport is crm_client. Targets the
 * reference CRM API of SPEC §4:
 *   GET  {base}/customers?phone=%2B13175550116   (customerId=, accountNumber=,
 *                                                 trackingNumber= likewise)
 *     -> 200 {"customers":[{"id":"100234","name":"Ana García"}, ...]}
 *   POST {base}/customers/{id}/verify  {"answer":"1234"}
 *     -> 200 {"verified":true|false}
 * Values are escaped for where they go (query or path segment, JSON string).
 * Any status other than 200, or a body that does not have that shape, maps
 * to result.ok = false (a CRM error).
 *
 * Other CRMs are described by a crm_profile (crm_config.c reads it from the
 * "crm" config section): per operation a method, URL template, header and
 * body templates (crm_template) and a response mapping (crm_map), plus
 * auth, transport and resilience settings used by crm_client. The profile
 * from crm_profile_default() is the reference API above, exactly.
 */
#ifndef AUTHFLOW_CRM_H
#define AUTHFLOW_CRM_H

#include <stdbool.h>
#include <stddef.h>

#include "crm_map.h"
#include "flow.h"

#define CRM_URL_TEMPLATE_MAX 1024
#define CRM_BODY_TEMPLATE_MAX 2048
#define CRM_HEADER_MAX 512
#define CRM_OP_HEADERS_MAX 8
#define CRM_SECRET_MAX 1024
#define CRM_PATH_MAX 512
#define CRM_MASK_MAX 16 /* secret values remembered for masking */

typedef enum {
  CRM_OP_LOOKUP_PHONE = 0,
  CRM_OP_LOOKUP_CUSTOMER_ID,
  CRM_OP_LOOKUP_ACCOUNT_NUMBER,
  CRM_OP_LOOKUP_TRACKING_NUMBER,
  CRM_OP_VERIFY,
  CRM_OP_COUNT
} crm_op;

/* One operation. Templates may use {baseUrl} (raw), {value} (lookups),
 * {customerId} and {answer} (verify); secrets are already resolved. */
typedef struct {
  char method[8]; /* GET, POST, PUT or PATCH */
  char url[CRM_URL_TEMPLATE_MAX + 1];
  char body[CRM_BODY_TEMPLATE_MAX + 1];                 /* "" = no body */
  char headers[CRM_OP_HEADERS_MAX][CRM_HEADER_MAX + 1]; /* "Name: value" */
  size_t header_count;
  crm_mapping map;
} crm_operation;

typedef enum {
  CRM_AUTH_NONE = 0,
  CRM_AUTH_BEARER,
  CRM_AUTH_BASIC,
  CRM_AUTH_OAUTH2, /* client credentials, token cached by crm_client */
} crm_auth_kind;

typedef struct {
  crm_auth_kind kind;
  char token[CRM_SECRET_MAX + 1];           /* BEARER */
  char username[256];                       /* BASIC */
  char password[CRM_SECRET_MAX + 1];        /* BASIC */
  char token_url[CRM_URL_TEMPLATE_MAX + 1]; /* OAUTH2 */
  char client_id[256];
  char client_secret[CRM_SECRET_MAX + 1];
  char scope[256];
  long refresh_margin_ms; /* refresh this long before expiry */
} crm_auth;

typedef struct {
  crm_operation ops[CRM_OP_COUNT];
  crm_auth auth;
  /* transport */
  bool tls_verify; /* default true */
  char ca_file[CRM_PATH_MAX + 1];
  char client_cert[CRM_PATH_MAX + 1];
  char client_key[CRM_PATH_MAX + 1];
  char proxy[CRM_URL_TEMPLATE_MAX + 1];
  /* resilience */
  long budget_ms;       /* whole step incl. retry and token fetch */
  int lookup_retries;   /* extra attempts for lookups (idempotent) */
  int breaker_failures; /* consecutive failures that open it; 0 = off */
  long breaker_open_ms; /* fail fast this long, then probe */
  /* every resolved secret value, for masking in --check-crm output */
  char secrets[CRM_MASK_MAX][CRM_SECRET_MAX + 1];
  size_t secret_count;
} crm_profile;

typedef struct {
  char method[8]; /* "GET", "POST", "PUT" or "PATCH" */
  char *url;      /* owned, heap */
  char *body;     /* owned, heap; NULL when none. Holds the security answer
                     for VERIFY: crm_http_request_free() wipes it. */
  size_t body_len;
  char **headers; /* owned: header_count "Name: value" lines (op + auth) */
  size_t header_count;
  bool idempotent; /* a lookup: safe to retry */
} crm_http_request;

/* The reference API (SPEC §4) as a profile: the defaults. Also wipes. */
void crm_profile_default(crm_profile *p);

/* The reference profile (built once; read-only, lives forever). */
const crm_profile *crm_profile_reference(void);

/* Wipe every secret in the profile. */
void crm_profile_wipe(crm_profile *p);

/* The operation serving a request. */
crm_op crm_op_for(const flow_crm_request *req);

/* Config name of an operation: "lookupPhone", ..., "verify". */
const char *crm_op_name(crm_op op);

/*
 * Build a request from profile `p`. Adds the operation's headers and, for
 * BEARER and BASIC auth, the Authorization header (OAUTH2's is added by
 * crm_client, which holds the token). `answer` is for VERIFY only. Caller
 * frees with crm_http_request_free(). Returns false (nothing allocated)
 * on an unusable request or allocation failure.
 */
bool crm_build(const crm_profile *p, const char *base_url,
               const flow_crm_request *req, const char *answer,
               crm_http_request *out);

/* Map an answer with the profile's mapping for the request's operation. */
void crm_map(const crm_profile *p, const flow_crm_request *req,
             long http_status, const char *body, size_t body_len,
             flow_crm_result *out);

/* The "Authorization: ..." line of BEARER or BASIC auth into out (a
 * secret: the caller wipes it); false for other kinds or when it does not
 * fit. Also used by the one-time code sender (otp_send). */
bool crm_auth_header_line(const crm_auth *a, char *out, size_t out_len);

/* Append a header line (copied) to a built request; false on OOM. */
bool crm_http_request_add_header(crm_http_request *r, const char *line);

/*
 * Build the request with the default profile. `base_url` has no trailing '/'.
 * `answer` is used for VERIFY only. On success the caller owns out's buffers
 * and must call crm_http_request_free(). Returns false (nothing allocated) on
 * allocation failure or an unusable request.
 */
bool crm_build_request(const char *base_url, const flow_crm_request *req,
                       const char *answer, crm_http_request *out);

/* Free and wipe (the body may hold a security answer). Safe on zeroed. */
void crm_http_request_free(crm_http_request *req);

/*
 * Map an answer with the default profile. `http_status` 0 means the transfer
 * failed (timeout, connection refused). `body` need not be NUL-terminated.
 * Never fails: an unusable answer is result.ok = false. A lookup's customer id
 * may be a JSON string or integer; ids and names that do not fit are a CRM
 * error.
 */
void crm_parse_response(const flow_crm_request *req, long http_status,
                        const char *body, size_t body_len,
                        flow_crm_result *out);

/* Query parameter name of a lookup type: "phone", "customerId", ... */
const char *crm_lookup_param(flow_identifier_type type);

#endif
