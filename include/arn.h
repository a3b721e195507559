/*
 * arn: strict parsing of Amazon IVS channel ARNs (and checks of AWS region
 * names and SNS topic ARNs).
 *
 *   arn:<partition>:ivs:<region>:<account>:channel/<id>
 *
 * partition: "aws", "aws-cn" or "aws-us-gov", and the region must belong to it
 * ("cn-..." only in aws-cn, "us-gov-..." only in aws-us-gov); region: lowercase
 * like "us-east-1" (two letters, one or more "-word" parts, "-" and 1-2 digits);
 * account: exactly 12 digits; id: 1-64 of [A-Za-z0-9]. Whole ARN at most
 * ARN_MAX_LEN bytes. Nothing else is accepted (no spaces, no trailing bytes).
 *
 * Pure: no allocation, no global state. The result is plain fixed-size arrays,
 * owned by the caller.
 */
#ifndef IVS_ARN_H
#define IVS_ARN_H

#include <stddef.h>

#define ARN_MAX_LEN        128
#define ARN_PARTITION_MAX  10 /* "aws-us-gov" */
#define ARN_REGION_MAX     31
#define ARN_ACCOUNT_LEN    12
#define ARN_CHANNEL_ID_MAX 64

struct arn_channel {
    char arn[ARN_MAX_LEN + 1]; /* the whole ARN, as given */
    char partition[ARN_PARTITION_MAX + 1];
    char region[ARN_REGION_MAX + 1];
    char account[ARN_ACCOUNT_LEN + 1];
    char id[ARN_CHANNEL_ID_MAX + 1];
};

/*
 * Parse the NUL-terminated string arn (NULL is an error). Returns 0 and fills
 * *out on success; -1 with a short message in err (errlen bytes, may be 0) and
 * *out zeroed otherwise. Reads at most ARN_MAX_LEN + 1 bytes of arn.
 */
int arn_parse_channel(const char *arn, struct arn_channel *out, char *err, size_t errlen);

/*
 * 1 when s[0..n) is an AWS region name as above, [a-z]{2}(-[a-z]+)+-[0-9]{1,2}
 * and at most ARN_REGION_MAX bytes ("us-east-1", "us-gov-west-1"); else 0.
 */
int aws_region_valid(const char *s, size_t n);

/*
 * 1 when s[0..n) is an SNS topic ARN, arn:<partition>:sns:<region>:<12 digits>:<name>
 * (partition aws, aws-cn or aws-us-gov; region as above), the name 1-256 of
 * [A-Za-z0-9_-], optionally ending in ".fifo"; else 0. (SNS_TOPIC_ARNS.)
 */
int arn_sns_topic_valid(const char *s, size_t n);

#endif
