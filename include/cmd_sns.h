/*
 * cmd_sns: the verify-sns command (ivs-syncd verify-sns FILE|-), built on the
 * pure sns module.
 */
#ifndef IVS_CMD_SNS_H
#define IVS_CMD_SNS_H

#include <stddef.h>

/*
 * Parse body, demand SignatureVersion >= min_sigver, check SigningCertURL,
 * load <cert_dir>/<file name> strictly (reads that one file, at most
 * SNS_MAX_CERT_FILE bytes) and verify at the message Timestamp. Prints
 * nothing. Returns 0 with why = "valid: ..." or -1 with why = "invalid: <reason>".
 */
int cmd_sns_verify_offline(const char *body, size_t len, const char *cert_dir, int min_sigver,
                           char *why, size_t whylen);

#endif
