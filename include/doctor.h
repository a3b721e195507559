/*
 * doctor: `ivs-syncd doctor` - checks the database (reachable, migrated),
 * SNS_TOPIC_ARNS, SNS_CERT_DIR, that LISTEN is free, the AWS credentials and
 * the IAM permissions for ivs:GetStream and ivs:ListStreams. One line per
 * check ("ok", "warn" or "FAIL"); returns the exit status (1 on a FAIL).
 */
#ifndef IVS_DOCTOR_H
#define IVS_DOCTOR_H

#include <stdio.h>

struct config;

int doctor_run(const struct config *cfg, FILE *out);

#endif
