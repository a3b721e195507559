/*
 * secret_file: secrets that may come from a file instead of the environment
 * (Docker and Kubernetes secrets, systemd's LoadCredential=): the file named
 * by <NAME>_FILE, or $CREDENTIALS_DIRECTORY/<NAME>. A secret is given in one
 * place only. Files are read whole (at most SECRET_FILE_MAX bytes), one
 * trailing newline (LF or CRLF) stripped; an empty or binary one is refused.
 */
#ifndef IVS_SECRET_FILE_H
#define IVS_SECRET_FILE_H

#include <stddef.h>
#include <stdio.h>

#define SECRET_FILE_MAX (64 * 1024)

/* 1 when the option name may come from a file (SERVICE_ROLE_KEY, JWT_SECRET...). */
int secret_file_accepts(const char *name);

/*
 * The secret name from <name>_FILE or $CREDENTIALS_DIRECTORY/<name>, if one
 * is set there. env_src names the environment variable it was already set
 * from (NULL: none), for the one-place check. Returns 0 with *value NULL (no
 * file), or with *value the content (malloc'd; the caller wipes and frees
 * it) and where (wherelen bytes) naming the place ("<name>_FILE" or
 * "$CREDENTIALS_DIRECTORY"); -1 with one line on err.
 */
int secret_file_load(const char *name, const char *env_src, char **value, char *where,
                     size_t wherelen, FILE *err);

#endif
