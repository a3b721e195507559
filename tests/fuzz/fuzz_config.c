/*
 * config_load() on a command line built from the input: one argument per
 * line ("--listen-port=8080", "--sns-max-age", "5m", ...), and
 * config_list_contains() on the same text. --help / --version (which print
 * to stdout) are dropped; the words config_load() keeps are checked. The process environment is left as it is (constant
 * across runs).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_util.h"

#define MAX_ARGS 64

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    if (!devnull)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    char *args[MAX_ARGS + 1];
    int argc = 0;
    args[argc++] = "ivs-syncd";
    char *save = NULL;
    for (char *w = strtok_r(text, "\n", &save); w && argc < MAX_ARGS;
         w = strtok_r(NULL, "\n", &save)) {
        if (!strcmp(w, "--help") || !strcmp(w, "-h") || !strcmp(w, "--version") ||
            !strcmp(w, "-V"))
            continue;
        args[argc++] = w;
    }
    args[argc] = NULL;

    struct config cfg;
    int n = argc;
    int rc = config_load(&cfg, &n, args, devnull);
    /* the words that are not option flags stay, in order, NULL-terminated */
    if (rc == 0 && (n < 1 || n > argc || args[n] != NULL || strcmp(args[0], "ivs-syncd") != 0))
        abort();
    config_free(&cfg);

    /* list helper: first word is the item, the whole input the list */
    char *list = fuzz_cstr(data, size);
    size_t il = strcspn(list, ",");
    config_list_contains(list, list, il);
    config_list_contains(list + il, list, il);
    free(list);
    free(text);
    return 0;
}
