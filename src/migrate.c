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

#define MIGRATE_LOCK "8731203"

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

static int exec_ok(PGconn *pg, const char *sql, FILE *err, const char *what)
{
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(err, "migrate: %s failed: %s", what, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

int migrate_run(const struct config *cfg, const char *conninfo, FILE *out, FILE *err)
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
    if (exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")", err, "lock") < 0 ||
        exec_ok(pg,
                "CREATE SCHEMA IF NOT EXISTS ivs_sync; "
                "CREATE TABLE IF NOT EXISTS ivs_sync.migrations (name text PRIMARY KEY, "
                "sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                err, "bookkeeping") < 0)
        goto done;
    int applied = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        char *sql = slurp(path);
        if (!sql) {
            fprintf(err, "migrate: cannot read %s\n", path);
            goto done;
        }
        char sha[65];
        sha256_hex(sql, sha);
        int repeatable = strncmp(sql, "-- repeatable", 13) == 0;
        const char *p[2] = {files[i], sha};
        PGresult *r = PQexecParams(pg, "SELECT sha256 FROM ivs_sync.migrations WHERE name = $1", 1,
                                   NULL, p, NULL, NULL, 0);
        int seen = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        int same = seen && !strcmp(PQgetvalue(r, 0, 0), sha);
        PQclear(r);
        if (seen && (same || !repeatable)) {
            free(sql);
            continue;
        }
        if (exec_ok(pg, "BEGIN", err, "begin") < 0) {
            free(sql);
            goto done;
        }
        if (exec_ok(pg, sql, err, files[i]) < 0) {
            free(sql);
            PQclear(PQexec(pg, "ROLLBACK"));
            goto done;
        }
        free(sql);
        r = PQexecParams(pg,
                         "INSERT INTO ivs_sync.migrations (name, sha256) VALUES ($1, $2) "
                         "ON CONFLICT (name) DO UPDATE SET sha256 = $2, applied_at = now()",
                         2, NULL, p, NULL, NULL, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok || exec_ok(pg, "COMMIT", err, "commit") < 0)
            goto done;
        fprintf(out, "migrate: applied %s\n", files[i]);
        applied++;
    }
    fprintf(out, "migrate: %s (%d file%s applied)\n", applied ? "done" : "up to date", applied,
            applied == 1 ? "" : "s");
    rc = 0;
done:
    PQfinish(pg);
    for (int i = 0; i < n; i++)
        free(files[i]);
    free(files);
    return rc;
}

int migrate_check(const char *conninfo, const struct config *cfg, char *why, size_t whylen)
{
    const char *dir = migrate_sql_dir(cfg);
    char **files = NULL;
    int n = list_files(dir, &files);
    int rc = -1;
    PGconn *pg = PQconnectdb(conninfo);
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
    for (int i = 0; i < n; i++)
        free(files[i]);
    free(files);
    return rc;
}
