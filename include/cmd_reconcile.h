/*
 * cmd_reconcile: `ivs-syncd reconcile --once` - build the serving modules
 * (without listening), take the reconcile lock, run one pass and print its
 * result (the sync API's JSON, pretty) on stdout; problems go to stderr.
 * Exit status: 0 no error, 1 a show had an error or the pass could not run
 * (lock held elsewhere, database unavailable for ~10 s, no AWS credentials),
 * 2 usage.
 */
#ifndef IVS_CMD_RECONCILE_H
#define IVS_CMD_RECONCILE_H

struct config;

/* argv[0] is "reconcile"; cfg is loaded (RECONCILE_INTERVAL is set to 0). */
int cmd_reconcile(struct config *cfg, int argc, char **argv);

#endif
