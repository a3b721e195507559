/*
 * checks: targeted checks - one GetStream now for one channel (e.g. after a
 * Stream Failure event), applied like any observation. Fire and forget:
 * failures are logged; the event stays in ivs_sync.pending_checks for the
 * next pass.
 */
#ifndef IVS_CHECKS_H
#define IVS_CHECKS_H

struct ivs;
struct observe;
struct metrics;
struct checks;

/* The hook whoever asks for checks is given: fn(arg, channel_arn). */
typedef void (*checks_fn)(void *arg, const char *channel_arn);

/* ivs NULL (no AWS credentials): checks do nothing. None is owned. */
struct checks *checks_new(struct ivs *ivs, struct observe *obs, struct metrics *m);
void checks_free(struct checks *c);
/* Check channel_arn now. A checks_fn: arg is the struct checks. */
void checks_request(void *checks, const char *channel_arn);

#endif
