/*
 * http_client: outgoing HTTP(S) through one libcurl multi handle driven by
 * libevent (socket and timer callbacks). Never blocks the loop.
 *
 * http_client_request() copies everything in the request; the callback gets
 * a response that is valid only during the call (copy what you keep). The
 * callback is called exactly once per accepted request, except that
 * http_client_free() drops pending requests without calling them.
 */
#ifndef IVS_HTTP_CLIENT_H
#define IVS_HTTP_CLIENT_H

#include <stddef.h>

struct event_base;
struct http_client;

struct http_request {
    const char *method; /* "GET", "POST" */
    const char *url;
    const char *body; /* may be NULL */
    size_t body_len;
    const char *const *headers; /* NULL-terminated "Name: value" list, or NULL */
    long timeout_ms;            /* whole transfer; 0 = 10 s */
    long connect_timeout_ms;    /* 0 = 5 s */
    size_t max_response;        /* 0 = 1 MiB; larger bodies fail */
    /* SigV4 by libcurl (CURLOPT_AWS_SIGV4), e.g. "aws:amz:us-east-1:ivs"; NULL = none */
    const char *aws_sigv4;
    const char *aws_access_key; /* with aws_sigv4 */
    const char *aws_secret_key;
    /* never follows redirects; https only unless allow_http */
    int allow_http;
};

struct http_response {
    long status;       /* 0 when the transfer failed */
    int failed;        /* transport error (connect, timeout, too large, ...) */
    const char *error; /* transport error message or NULL */
    const char *body;  /* NUL-terminated */
    size_t body_len;
    double seconds; /* total time */
    const struct http_client_headers *headers_;
};

typedef void (*http_done_cb)(const struct http_response *resp, void *arg);

struct http_client *http_client_new(struct event_base *base);
void http_client_free(struct http_client *c);
/* Returns 0 when accepted (callback will run later, never inside this call), -1 otherwise. */
int http_client_request(struct http_client *c, const struct http_request *req, http_done_cb cb,
                        void *arg);
/* Response header lookup (case-insensitive), valid during the callback; NULL if absent. */
const char *http_response_header(const struct http_response *resp, const char *name);
/*
 * Cancel every pending request whose callback argument is arg, without calling
 * its callback (for an owner that goes away before its answers arrive).
 * Returns how many were cancelled.
 */
int http_client_cancel(struct http_client *c, void *arg);
/* Number of transfers in flight. */
int http_client_pending(const struct http_client *c);

#endif
