/* migrate: apply the SQL files idempotently (blocking libpq, CLI only). */
#include "migrate.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

#define MIGRATE_LOCK "8731203" /* pg_advisory_xact_lock key */

const char *migrate_sql_dir(const struct config *cfg)
{
    if (cfg->sql_dir && *cfg->sql_dir)
        return cfg->sql_dir;
    static const char *const cand[] = {"infra/sql", "/usr/local/share/ivs-syncd/sql",
                                       "/usr/share/ivs-syncd/sql"};
    struct stat st;
    for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++)
        if (stat(cand[i], &st) == 0 && S_ISDIR(st.st_mode))
            return cand[i];
    return "infra/sql";
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted list of *.sql names in dir; returns count or -1. */
static int list_files(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char **v = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".sql") != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **nv = realloc(v, (size_t)cap * sizeof(*v));
            if (!nv)
                goto fail;
            v = nv;
        }
        if (!(v[n] = strdup(e->d_name)))
            goto fail;
        n++;
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof(*v), cmp);
    *out = v;
    return n;
fail:
    closedir(d);
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s)
        s[n] = '\0';
    fclose(f);
    return s;
}

static void sha256_hex(const char *s, char out[65])
{
    unsigned char md[32];
    unsigned int ml = 0;
    EVP_Digest(s, strlen(s), md, &ml, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void free_files(char **files, int n)
{
    for (int i = 0; i < n; i++)
        free(files[i]);
    free(files);
}

static int exec_ok(PGconn *pg, const char *sql, FILE *err, const char *what)
{
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(err, "migrate: %s failed: %s", what, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* One file in one transaction, under the migration lock. The lock is
 * transaction-scoped (pg_advisory_xact_lock): it ends with the transaction, so
 * it works through a transaction pooler and can never outlive this process.
 * Returns 1 applied, 0 already applied, -1 error. */
static int apply_file(PGconn *pg, const char *dir, const char *name, FILE *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *sql = slurp(path);
    if (!sql) {
        fprintf(err, "migrate: cannot read %s\n", path);
        return -1;
    }
    char sha[65];
    sha256_hex(sql, sha);
    int repeatable = strncmp(sql, "-- repeatable", 13) == 0;
    const char *p[2] = {name, sha};
    int rc = -1;
    if (exec_ok(pg, "BEGIN", err, "begin") < 0)
        goto out;
    if (exec_ok(pg, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")", err, "lock") < 0)
        goto rollback;
    PGresult *r = PQexecParams(pg, "SELECT sha256 FROM ivs_sync.migrations WHERE name = $1", 1,
                               NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(err, "migrate: reading ivs_sync.migrations failed: %s", PQresultErrorMessage(r));
        PQclear(r);
        goto rollback;
    }
    int seen = PQntuples(r) == 1;
    int same = seen && !strcmp(PQgetvalue(r, 0, 0), sha);
    PQclear(r);
    if (seen && (same || !repeatable)) {
        rc = exec_ok(pg, "COMMIT", err, "commit") < 0 ? -1 : 0;
        goto out;
    }
    if (exec_ok(pg, sql, err, name) < 0)
        goto rollback;
    r = PQexecParams(pg,
                     "INSERT INTO ivs_sync.migrations (name, sha256) VALUES ($1, $2) "
                     "ON CONFLICT (name) DO UPDATE SET sha256 = $2, applied_at = now()",
                     2, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(err, "migrate: recording %s failed: %s", name, PQresultErrorMessage(r));
    PQclear(r);
    if (!ok)
        goto rollback;
    rc = exec_ok(pg, "COMMIT", err, "commit") < 0 ? -1 : 1;
    goto out;
rollback:
    PQclear(PQexec(pg, "ROLLBACK"));
out:
    free(sql);
    return rc;
}

/* GRANT what `serve` needs to role (ivs_sync.grant_serving_role, 004_role.sql). */
static int grant_to(PGconn *pg, const char *role, FILE *out, FILE *err)
{
    const char *p[1] = {role};
    if (exec_ok(pg, "BEGIN", err, "begin") < 0)
        return -1;
    PGresult *r =
        PQexecParams(pg, "SELECT ivs_sync.grant_serving_role($1)", 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(err, "migrate: --grant-to %s failed: %s", role, PQresultErrorMessage(r));
        PQclear(r);
        PQclear(PQexec(pg, "ROLLBACK"));
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++)
        fprintf(out, "migrate: %s\n", PQgetvalue(r, i, 0));
    PQclear(r);
    if (exec_ok(pg, "COMMIT", err, "commit") < 0)
        return -1;
    fprintf(out, "migrate: role %s can serve\n", role);
    return 0;
}

int migrate_run(const struct config *cfg, const char *conninfo, const char *grant_role, FILE *out,
                FILE *err)
{
    const char *dir = migrate_sql_dir(cfg);
    char **files = NULL;
    int n = list_files(dir, &files);
    int rc = -1;
    if (n <= 0) {
        fprintf(err, "migrate: no SQL files in %s (set SQL_DIR)\n", dir);
        free(files);
        return -1;
    }
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(err, "migrate: cannot connect to the database: %s", PQerrorMessage(pg));
        goto done;
    }
    PQclear(PQexec(pg, "SET client_min_messages = warning"));
    if (exec_ok(pg,
                "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK "); "
                "CREATE SCHEMA IF NOT EXISTS ivs_sync; "
                "CREATE TABLE IF NOT EXISTS ivs_sync.migrations (name text PRIMARY KEY, "
                "sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()); COMMIT",
                err, "bookkeeping") < 0) {
        PQclear(PQexec(pg, "ROLLBACK"));
        goto done;
    }
    int applied = 0;
    for (int i = 0; i < n; i++) {
        int a = apply_file(pg, dir, files[i], err);
        if (a < 0)
            goto done;
        if (a > 0) {
            fprintf(out, "migrate: applied %s\n", files[i]);
            applied++;
        }
    }
    fprintf(out, "migrate: %s (%d file%s applied)\n", applied ? "done" : "up to date", applied,
            applied == 1 ? "" : "s");
    if (grant_role && grant_to(pg, grant_role, out, err) < 0)
        goto done;
    rc = 0;
done:
    PQfinish(pg);
    free_files(files, n);
    return rc;
}

int migrate_check(const char *conninfo, const struct config *cfg, char *why, size_t whylen)
{
    const char *dir = migrate_sql_dir(cfg);
    char **files = NULL;
    int n = list_files(dir, &files);
    int rc = -1;
    PGconn *pg = NULL;
    if (n <= 0) {
        char cwd[1024];
        snprintf(why, whylen,
                 "no migration SQL files found in %s (looked in SQL_DIR, ./infra/sql under %s, "
                 "/usr/local/share/ivs-syncd/sql, /usr/share/ivs-syncd/sql; set SQL_DIR)",
                 dir, getcwd(cwd, sizeof(cwd)) ? cwd : "the current directory");
        n = 0;
        goto done;
    }
    pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        snprintf(why, whylen, "cannot connect: %s", PQerrorMessage(pg));
        goto done;
    }
    rc = 1;
    for (int i = 0; i < n && rc == 1; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        char *sql = slurp(path);
        char sha[65] = "";
        if (sql)
            sha256_hex(sql, sha);
        free(sql);
        const char *p[2] = {files[i], sha};
        PGresult *r =
            PQexecParams(pg, "SELECT 1 FROM ivs_sync.migrations WHERE name = $1 AND sha256 = $2", 2,
                         NULL, p, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            snprintf(why, whylen, "%s not applied (run ivs-syncd migrate)", files[i]);
            rc = 0;
        }
        PQclear(r);
    }
    if (rc == 1)
        snprintf(why, whylen, "%d migrations applied", n);
done:
    PQfinish(pg);
    free_files(files, n);
    return rc;
}
