/*
 * config: the one option table and the parsed configuration.
 *
 * Every option has a name (the environment variable), a --kebab-case flag, a
 * type, a default and a help text; --help is printed from the table. Values
 * come from the environment first, then from flags (flags win). Strings in
 * struct config are owned by it and freed by config_free().
 */
#ifndef IVS_CONFIG_H
#define IVS_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum reconcile_strategy { RECONCILE_AUTO, RECONCILE_LIST, RECONCILE_GET };
enum log_format { LOG_FORMAT_JSON, LOG_FORMAT_TEXT };
enum sse_auth { SSE_AUTH_JWT, SSE_AUTH_NONE };

struct config {
    /* server */
    char *listen_host; /* e.g. "0.0.0.0" */
    int listen_port;   /* 0 = ephemeral */
    size_t max_body;   /* bytes */
    size_t max_headers;
    int read_timeout;         /* seconds */
    int write_timeout;        /* seconds */
    int keepalive_timeout;    /* seconds an idle keep-alive connection stays open */
    int max_connections;      /* 0 = derived from RLIMIT_NOFILE */
    size_t max_buffered_body; /* request bytes buffered across all connections */
    char *tls_cert_file;      /* both set = HTTPS */
    char *tls_key_file;
    char *trusted_proxies; /* CIDR list: X-Forwarded-For is believed from these peers */
    int json_max_depth;
    char *cors_allow_origins; /* comma list or "*" */

    /* database */
    char *database_url; /* NULL = embedded default */
    char *sql_dir;
    int db_pool_size;
    int db_queue_max;         /* bounded wait queue */
    int db_connect_timeout;   /* seconds */
    int db_statement_timeout; /* milliseconds, 0 = none */
    char *db_prepared;        /* auto, on, off (db_prepared_mode) */

    /* SNS */
    char *sns_topic_arns;     /* comma list; NULL/empty = accept none */
    char *sns_fetch_base_url; /* testing only: scheme+host that replaces SNS hosts when fetching */
    char *sns_cert_dir;
    int sns_auto_confirm;
    int sns_max_age;               /* seconds, 0 disables */
    int sns_min_signature_version; /* 1 or 2 */
    int sns_cert_cache_size;

    /* EventBridge */
    char *eventbridge_token; /* secret */
    char *eventbridge_token_header;
    char *aws_account_ids; /* comma list */

    /* sync API auth */
    char *service_role_key; /* secret */
    char *jwt_secret;       /* secret */

    /* AWS */
    char *aws_access_key_id;     /* secret-ish */
    char *aws_secret_access_key; /* secret */
    char *aws_session_token;     /* secret */
    char *aws_region;
    char *aws_endpoint_url_ivs; /* NULL = https://ivs.<region>.amazonaws.com */
    char *aws_container_credentials_relative_uri;
    char *aws_container_credentials_full_uri;
    char *aws_container_authorization_token; /* secret */
    char *aws_container_authorization_token_file;
    char *aws_role_arn;                      /* web identity */
    char *aws_web_identity_token_file;       /* web identity */
    char *aws_role_session_name;             /* NULL = ivs-syncd-<time> */
    char *aws_endpoint_url_sts;              /* NULL = https://sts.<region>.amazonaws.com */
    char *aws_profile;                       /* NULL = "default" */
    char *aws_shared_credentials_file;       /* "~/" = $HOME; NULL = none */
    char *aws_config_file;                   /* "~/" = $HOME; NULL = none */
    char *aws_ec2_metadata_service_endpoint; /* NULL = instance metadata off */
    int aws_ec2_metadata_disabled;
    int aws_max_attempts;
    int ivs_timeout; /* seconds per IVS HTTP call */

    /* reconcile */
    int reconcile_interval; /* seconds, 0 disables */
    double leader_lease;    /* seconds the reconcile lease lasts unless renewed */
    enum reconcile_strategy reconcile_strategy;
    double ivs_max_rps;
    int ivs_max_inflight;
    int end_grace_seconds;
    int event_retention;   /* seconds */
    double sync_freshness; /* seconds */
    double sync_max_wait;  /* seconds */

    /* push (Server-Sent Events) */
    int sse_heartbeat;       /* seconds between ": ping" comments */
    enum sse_auth sse_auth;  /* jwt or none */
    int sse_max_subscribers; /* 503 beyond */
    size_t sse_max_buffer;   /* bytes unsent to one subscriber before it is dropped */

    /* operations */
    int shutdown_timeout; /* seconds */
    enum log_format log_format;
    int log_level; /* enum log_level */
    char *log_file;

    int embedded_db; /* DATABASE_URL was not set: use ./var */
};

/*
 * Parse the environment, then the --flags anywhere in argv (flags win).
 * Known option flags are consumed; every other word (the command, its
 * arguments, command-specific flags like --once) is kept in order in
 * argv[1 .. *argc - 1]. On error writes one line "NAME: problem" to err and
 * returns -1. Returns 1 when --help or --version was printed (exit 0).
 */
int config_load(struct config *cfg, int *argc, char **argv, FILE *err);
void config_free(struct config *cfg);
/* Print the option table (name, flag, default, help) to out. */
void config_print_help(FILE *out);
/* Print the option table as a Markdown table (used to check the README). */
void config_print_markdown(FILE *out);

/* Helpers for comma-separated lists: 1 if item is in list (exact match). */
int config_list_contains(const char *list, const char *item, size_t item_len);

/* The conninfo to use: DATABASE_URL, or the embedded ./var cluster (a static buffer). */
const char *config_conninfo(const struct config *cfg);

#endif
