/*
 * cmd_ivs: the "ivs" subcommand, a direct IVS client for operators and tests.
 *
 *   ivs-syncd ivs get-stream [--repeat N] [--interval-ms M] ARN [ARN...]
 *       GetStream for every ARN, concurrently through the rate limit; prints
 *       one JSON object per ARN (in argument order) per round on stdout:
 *       the stream {"channelArn","streamId","startTime","state","health",
 *       "viewerCount"}, {"channelArn","offline":true}, or
 *       {"channelArn","error":"..."}. --repeat runs N rounds M ms apart.
 *   ivs-syncd ivs list-streams [--region R]
 *       Every ListStreams page of region R (default AWS_REGION); prints
 *       {"streams":[...],"complete":bool,"pages":n} (+ "error" when a page failed).
 *
 * Each run has its own event base, HTTP client, credentials and IVS client.
 * Exit status: 0 no error, 1 some error (including "AWS credentials not
 * configured"), 2 usage.
 */
#ifndef IVS_CMD_IVS_H
#define IVS_CMD_IVS_H

struct config;

/* argv[0] is "ivs"; cfg is loaded and borrowed. Returns the exit status. */
int cmd_ivs(const struct config *cfg, int argc, char **argv);

#endif
