/*
 * aws_creds_int: what the credential sources share inside the aws_creds
 * module (aws_creds.c: the chain, the refresh engine, environment and
 * container; aws_fetch.c: web identity and instance metadata; aws_profile.c:
 * shared files and credential_process). Not for other modules.
 */
#ifndef IVS_AWS_CREDS_INT_H
#define IVS_AWS_CREDS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "aws_creds.h"

struct event;

enum aws_source {
    SRC_NONE,
    SRC_ENV,
    SRC_WEB_IDENTITY,
    SRC_PROFILE,
    SRC_PROCESS,
    SRC_CONTAINER,
    SRC_IMDS,
};

struct aws_creds_waiter {
    aws_creds_ready_cb cb;
    void *arg;
    TAILQ_ENTRY(aws_creds_waiter) link;
};

struct aws_proc; /* a credential_process run (aws_profile.c) */

struct aws_creds {
    struct event_base *base;
    struct http_client *hc;
    enum aws_source source;
    char source_name[192]; /* "profile x", "instance metadata (role r)", ... */

    /* container */
    char *url;        /* container endpoint */
    char *auth_token; /* secret */
    char *auth_token_file;

    /* web identity */
    char *role_arn;
    char *web_token_file;
    char *session_name;
    char *sts_url;

    /* credential_process */
    char *profile;
    char *process_cmd;
    struct aws_proc *proc;

    /* instance metadata */
    char *imds_base;     /* "http://169.254.169.254", no trailing slash */
    char *imds_token;    /* secret, during one fetch */
    char imds_role[128]; /* "" until known */
    int imds_step;       /* 0 idle, 1 token, 2 role list, 3 credentials */
    int imds_seen;       /* instance metadata answered with credentials once */

    struct aws_credentials cur;
    int have;
    int done_once; /* at least one fetch finished (ok or not) */
    int fetching;
    int failures;
    unsigned fetches;
    char err[320];

    struct event *timer;  /* next fetch */
    struct event *notify; /* runs waiters */
    TAILQ_HEAD(aws_creds_waiters, aws_creds_waiter) waiters;
};

/* aws_creds.c: a fetch ended. ok: nc holds new credentials (wiped here). */
void aws_creds_fetch_ok(struct aws_creds *c, struct aws_credentials *nc);
/* A fetch failed; c->err says why (no secret). */
void aws_creds_fetch_failed(struct aws_creds *c);
void aws_creds_wipe(void *p, size_t n);
char *aws_creds_dupstr(const char *s);
/* Read a small token file (trailing whitespace stripped); NULL and c->err. */
char *aws_creds_read_token(struct aws_creds *c, const char *what, const char *path);

/* aws_fetch.c */
int aws_fetch_web_identity(struct aws_creds *c); /* 0 started; -1 with c->err */
int aws_fetch_imds(struct aws_creds *c);

/* aws_profile.c */
/* Pick the profile source for cfg: 1 chosen (c->source set, static keys in
 * c->cur or c->process_cmd), 0 nothing there, -1 error in err. */
int aws_profile_setup(struct aws_creds *c, const struct config *cfg, char *err, size_t errlen);
int aws_process_start(struct aws_creds *c); /* 0 started; -1 with c->err */
void aws_process_cancel(struct aws_creds *c);

#endif
