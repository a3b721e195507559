/*
 * migrate: apply infra/sql/NNN_*.sql in order, once each, recording what ran
 * in ivs_sync.migrations (a file whose first line says "repeatable" is
 * re-applied when its content changes). Each file is applied in its own
 * transaction under a transaction-scoped advisory lock, so replicas starting
 * together do not race, and the lock cannot outlive the run (it works through
 * a transaction pooler too). Blocking: for the CLI only.
 */
#ifndef IVS_MIGRATE_H
#define IVS_MIGRATE_H

#include <stdio.h>

struct config;

/* Returns 0 on success; messages go to out (progress) and err (one line).
 * grant_role (NULL = none): afterwards, grant that role what `serve` needs
 * (ivs_sync.grant_serving_role: privileges, and RLS policies when shows has
 * row-level security on); the statements run are printed to out. */
int migrate_run(const struct config *cfg, const char *conninfo, const char *grant_role, FILE *out,
                FILE *err);
/* The SQL directory in use (SQL_DIR or the first that exists). */
const char *migrate_sql_dir(const struct config *cfg);
/* 1 when every file has been applied (for doctor/readiness); -1 on error. */
int migrate_check(const char *conninfo, const struct config *cfg, char *why, size_t whylen);

#endif
