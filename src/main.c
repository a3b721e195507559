/* main: the command line - serve, migrate, reconcile, verify-sns, ivs, doctor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "cmd_ivs.h"
#include "cmd_reconcile.h"
#include "cmd_sns.h"
#include "config.h"
#include "doctor.h"
#include "log.h"
#include "migrate.h"

static int cmd_serve(struct config *cfg)
{
    struct app a;
    if (app_init(&a, cfg) < 0) {
        fprintf(stderr, "ivs-syncd: start-up failed\n");
        return 1;
    }
    int rc = app_run(&a);
    app_free(&a);
    return rc;
}

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
        if (n == cap) {
            if (cap >= 16 * 1024 * 1024)
                break;
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static int cmd_verify_sns(const struct config *cfg, const char *file)
{
    FILE *f = strcmp(file, "-") ? fopen(file, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "verify-sns: cannot open %s\n", file);
        return 2;
    }
    size_t len;
    char *body = read_all(f, &len);
    if (f != stdin)
        fclose(f);
    if (!body) {
        fprintf(stderr, "verify-sns: cannot read %s\n", file);
        return 2;
    }
    char why[512];
    int r = cmd_sns_verify_offline(body, len, cfg->sns_cert_dir, cfg->sns_min_signature_version,
                                   why, sizeof(why));
    free(body);
    printf("%s\n", why);
    return r == 0 ? 0 : 1;
}

static int no_args(const char *cmd, int argc, char **argv, int from)
{
    if (argc > from) {
        fprintf(stderr, "%s: %s %s (see --help)\n", cmd,
                strncmp(argv[from], "--", 2) ? "unexpected argument" : "unknown option",
                argv[from]);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct config cfg;
    int r = config_load(&cfg, &argc, argv, stderr);
    if (r != 0) {
        config_free(&cfg);
        return r > 0 ? 0 : 2;
    }
    const char *cmd = argc > 1 ? argv[1] : "serve";
    if (!strncmp(cmd, "--", 2) || !strcmp(cmd, "-h")) {
        fprintf(stderr, "ivs-syncd: unknown option %s (see --help)\n", cmd);
        config_free(&cfg);
        return 2;
    }
    if (log_init(cfg.log_level, cfg.log_format == LOG_FORMAT_JSON, cfg.log_file) < 0) {
        fprintf(stderr, "LOG_FILE: cannot open %s\n", cfg.log_file);
        config_free(&cfg);
        return 2;
    }
    int rc = 2;
    if (!strcmp(cmd, "serve")) {
        if (no_args(cmd, argc, argv, 2) == 0)
            rc = cmd_serve(&cfg);
    } else if (!strcmp(cmd, "migrate")) {
        const char *role = NULL;
        int from = 2;
        if (argc > 2 && !strncmp(argv[2], "--grant-to", 10)) {
            if (argv[2][10] == '=') {
                role = argv[2] + 11;
                from = 3;
            } else if (!argv[2][10] && argc > 3) {
                role = argv[3];
                from = 4;
            }
            if (!role || !*role) {
                fprintf(stderr, "migrate: --grant-to needs a role name\n");
                from = -1;
            }
        }
        if (from > 0 && no_args(cmd, argc, argv, from) == 0)
            rc = migrate_run(&cfg, config_conninfo(&cfg), role, stdout, stderr) == 0 ? 0 : 1;
    } else if (!strcmp(cmd, "verify-sns")) {
        if (argc != 3)
            fprintf(stderr, "verify-sns: usage: ivs-syncd verify-sns FILE|-\n");
        else
            rc = cmd_verify_sns(&cfg, argv[2]);
    } else if (!strcmp(cmd, "reconcile")) {
        rc = cmd_reconcile(&cfg, argc - 1, argv + 1);
    } else if (!strcmp(cmd, "config-markdown")) {
        config_print_markdown(stdout); /* the README's option table */
        rc = 0;
    } else if (!strcmp(cmd, "doctor")) {
        if (no_args(cmd, argc, argv, 2) == 0)
            rc = doctor_run(&cfg, stdout);
    } else if (!strcmp(cmd, "ivs")) {
        rc = cmd_ivs(&cfg, argc - 1, argv + 1);
    } else {
        fprintf(stderr, "ivs-syncd: unknown command %s (see --help)\n", cmd);
    }
    config_free(&cfg);
    log_close();
    return rc;
}
