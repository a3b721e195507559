/* secret_file: secrets from <NAME>_FILE or $CREDENTIALS_DIRECTORY/<NAME>. */
#include "secret_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Secrets that may also come from <NAME>_FILE or $CREDENTIALS_DIRECTORY/<NAME>. */
static const char *const file_secrets[] = {"SERVICE_ROLE_KEY",  "JWT_SECRET",
                                           "EVENTBRIDGE_TOKEN", "AWS_SECRET_ACCESS_KEY",
                                           "AWS_SESSION_TOKEN", "DATABASE_URL"};

int secret_file_accepts(const char *name)
{
    for (size_t i = 0; i < sizeof(file_secrets) / sizeof(file_secrets[0]); i++)
        if (!strcmp(name, file_secrets[i]))
            return 1;
    return 0;
}

/* The content of a secret file, one trailing newline (LF or CRLF) stripped.
 * NULL with a message in err when it cannot be read, is too large or empty. */
static char *read_secret_file(const char *name, const char *where, const char *path, FILE *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(err, "%s: cannot read %s %s: %s\n", name, where, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(SECRET_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, SECRET_FILE_MAX + 1, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad || n > SECRET_FILE_MAX) {
        fprintf(err, "%s: cannot read %s %s: %s\n", name, where, path,
                bad ? "read error" : "larger than 64 KiB");
        free(buf);
        return NULL;
    }
    if (n > 0 && buf[n - 1] == '\n') {
        n--;
        if (n > 0 && buf[n - 1] == '\r')
            n--;
    }
    buf[n] = '\0';
    if (n == 0 || memchr(buf, '\0', n)) {
        fprintf(err, "%s: %s %s is %s\n", name, where, path, n ? "binary" : "empty");
        memset(buf, 0, n);
        free(buf);
        return NULL;
    }
    return buf;
}

int secret_file_load(const char *name, const char *env_src, char **value, char *where,
                     size_t wherelen, FILE *err)
{
    *value = NULL;
    char fname[96], cpath[4096];
    where[0] = '\0';
    snprintf(fname, sizeof(fname), "%s_FILE", name);
    const char *fpath = getenv(fname);
    const char *cdir = getenv("CREDENTIALS_DIRECTORY");
    int in_cdir = 0;
    if (cdir && *cdir) {
        snprintf(cpath, sizeof(cpath), "%s/%s", cdir, name);
        in_cdir = access(cpath, F_OK) == 0;
    }
    const char *places[3] = {env_src, fpath && *fpath ? fname : NULL,
                             in_cdir ? "$CREDENTIALS_DIRECTORY" : NULL};
    const char *first = NULL;
    for (int i = 0; i < 3; i++) {
        if (!places[i])
            continue;
        if (first) {
            fprintf(err, "%s: set in both %s and %s; give a secret in one place only\n", name,
                    first, places[i]);
            return -1;
        }
        first = places[i];
    }
    const char *path = places[1] ? fpath : places[2] ? cpath : NULL;
    if (!path)
        return 0;
    *value = read_secret_file(name, places[1] ? fname : "credential", path, err);
    if (!*value)
        return -1;
    snprintf(where, wherelen, "%s", places[1] ? fname : "$CREDENTIALS_DIRECTORY");
    return 0;
}
