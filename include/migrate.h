/*
 * migrate: apply infra/sql/NNN_*.sql in order, once each, recording what ran
 * in ivs_sync.migrations (a file whose first line says "repeatable" is
 * re-applied when its content changes). Runs under an advisory lock, so
 * replicas starting together do not race. Blocking: for the CLI only.
 */
#ifndef IVS_MIGRATE_H
#define IVS_MIGRATE_H

#include <stdio.h>

struct config;

/* Returns 0 on success; messages go to out (progress) and err (one line). */
int migrate_run(const struct config *cfg, const char *conninfo, FILE *out, FILE *err);
/* The SQL directory in use (SQL_DIR or the first that exists). */
const char *migrate_sql_dir(const struct config *cfg);
/* 1 when every file has been applied (for doctor/readiness); -1 on error. */
int migrate_check(const char *conninfo, const struct config *cfg, char *why, size_t whylen);

#endif
