/*
 * aws_profile: the shared credentials and config files (a profile's static
 * keys or its credential_process) and the credential_process runner: /bin/sh
 * -c COMMAND, forked with its stdout on a pipe that the event loop reads, a
 * timeout, and the JSON it prints.
 */
#include "aws_creds.h"
#include "aws_creds_int.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "errbuf.h"
#include "iso8601.h"
#include "jsonx.h"
#include "log.h"

#define SHARED_FILE_MAX    (1024 * 1024)
#define PROCESS_OUTPUT_MAX (64 * 1024)
#define PROCESS_TIMEOUT_US (30LL * 1000000)
#define PROCESS_REAP_US    10000LL

/* ---- INI (pure) ---- */

static const char *unsupported_keys[] = {"role_arn",          "source_profile",
                                         "credential_source", "web_identity_token_file",
                                         "role_session_name", NULL};

struct ini_vals {
    const char *akid, *secret, *token, *process;
    size_t akid_n, secret_n, token_n, process_n;
    char bad[64]; /* first unsupported key */
    int found;
};

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Does the header text [s, s+n) (inside the brackets) name profile `name`? */
static int section_matches(const char *s, size_t n, const char *name, int is_config)
{
    while (n > 0 && is_space(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_space(s[n - 1]))
        n--;
    size_t nl = strlen(name);
    if (is_config) {
        if (n > 7 && memcmp(s, "profile", 7) == 0 && is_space(s[7])) {
            s += 7;
            n -= 7;
            while (n > 0 && is_space(*s)) {
                s++;
                n--;
            }
            return n == nl && memcmp(s, name, nl) == 0;
        }
        /* Only [default] goes without the "profile " prefix in config. */
        return strcmp(name, "default") == 0 && n == 7 && memcmp(s, "default", 7) == 0;
    }
    return n == nl && memcmp(s, name, nl) == 0;
}

static void ini_scan(const char *text, const char *name, int is_config, struct ini_vals *v)
{
    memset(v, 0, sizeof(*v));
    if (!text)
        return;
    int in = 0, have_key = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        const char *end = eol ? eol : p + strlen(p);
        const char *next = eol ? eol + 1 : end;
        const char *s = p;
        int indented = s < end && is_space(*s) && *s != '\r';
        while (s < end && is_space(*s))
            s++;
        const char *e = end;
        while (e > s && is_space(e[-1]))
            e--;
        p = next;
        if (s == e || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            const char *rb = memchr(s, ']', (size_t)(e - s));
            in = rb && section_matches(s + 1, (size_t)(rb - s - 1), name, is_config);
            have_key = 0;
            if (in)
                v->found = 1;
            continue;
        }
        if (!in)
            continue;
        if (indented && have_key)
            continue; /* a sub-property of the previous key */
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq)
            continue;
        have_key = 1;
        const char *ke = eq;
        while (ke > s && is_space(ke[-1]))
            ke--;
        const char *vs = eq + 1;
        while (vs < e && is_space(*vs))
            vs++;
        size_t kn = (size_t)(ke - s), vn = (size_t)(e - vs);
#define KEY_IS(lit) (kn == sizeof(lit) - 1 && strncasecmp(s, lit, kn) == 0)
        if (KEY_IS("aws_access_key_id")) {
            v->akid = vs;
            v->akid_n = vn;
        } else if (KEY_IS("aws_secret_access_key")) {
            v->secret = vs;
            v->secret_n = vn;
        } else if (KEY_IS("aws_session_token")) {
            v->token = vs;
            v->token_n = vn;
        } else if (KEY_IS("credential_process")) {
            v->process = vs;
            v->process_n = vn;
        } else if (!v->bad[0]) {
            int bad = kn > 4 && strncasecmp(s, "sso_", 4) == 0;
            for (int i = 0; !bad && unsupported_keys[i]; i++)
                bad = kn == strlen(unsupported_keys[i]) &&
                      strncasecmp(s, unsupported_keys[i], kn) == 0;
            if (bad)
                snprintf(v->bad, sizeof(v->bad), "%.*s", (int)(kn > 60 ? 60 : kn), s);
        }
#undef KEY_IS
    }
}

static int copy_val(const char *s, size_t n, char *dst, size_t cap)
{
    if (!s || n == 0 || n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int aws_profile_resolve(const char *creds_text, const char *config_text, const char *name,
                        struct aws_profile_info *out, char *err, size_t errlen)
{
    struct ini_vals cv, fv;
    memset(out, 0, sizeof(*out));
    ini_scan(creds_text, name, 0, &cv);
    ini_scan(config_text, name, 1, &fv);
    out->found = cv.found || fv.found;
    if (cv.bad[0] || fv.bad[0]) {
        errbuf_set(err, errlen,
                   "profile %s: %s (in the %s file) is not supported by ivs-syncd; use static "
                   "keys or credential_process, or another credential source",
                   name, cv.bad[0] ? cv.bad : fv.bad, cv.bad[0] ? "credentials" : "config");
        return -1;
    }
    /* The credentials file's static keys, then credential_process, then config's keys. */
    const struct ini_vals *st = cv.akid || cv.secret ? &cv : NULL;
    const char *proc = cv.process ? cv.process : fv.process;
    size_t proc_n = cv.process ? cv.process_n : fv.process_n;
    if (!st && !proc && (fv.akid || fv.secret))
        st = &fv;
    if (st) {
        const char *file = st == &cv ? "credentials" : "config";
        if (!st->akid || !st->secret || !st->akid_n || !st->secret_n) {
            errbuf_set(err, errlen, "profile %s: %s without %s (in the %s file)", name,
                       st->akid ? "aws_access_key_id" : "aws_secret_access_key",
                       st->akid ? "aws_secret_access_key" : "aws_access_key_id", file);
            return -1;
        }
        if (copy_val(st->akid, st->akid_n, out->access_key_id, sizeof(out->access_key_id)) ||
            copy_val(st->secret, st->secret_n, out->secret_access_key,
                     sizeof(out->secret_access_key)) ||
            (st->token && st->token_n &&
             copy_val(st->token, st->token_n, out->session_token, sizeof(out->session_token)))) {
            aws_creds_wipe(out, sizeof(*out));
            out->found = 1;
            errbuf_set(err, errlen, "profile %s: a key is too long (in the %s file)", name, file);
            return -1;
        }
        return 1;
    }
    if (proc) {
        if (copy_val(proc, proc_n, out->credential_process, sizeof(out->credential_process))) {
            errbuf_set(err, errlen, "profile %s: credential_process is empty or too long", name);
            return -1;
        }
        return 1;
    }
    return 0;
}

/* ---- credential_process JSON (pure) ---- */

static int get_field(json_object *o, const char *key, char *dst, size_t cap, int required,
                     char *err, size_t errlen)
{
    const char *s = NULL;
    size_t n = 0;
    enum jsonx_member r = jsonx_get_string(o, key, &s, &n);
    dst[0] = '\0';
    if (r == JSONX_MEMBER_ABSENT || r == JSONX_MEMBER_NULL) {
        if (required)
            errbuf_set(err, errlen, "credential_process output: %s missing", key);
        return required ? -1 : 0;
    }
    if (r != JSONX_MEMBER_STRING || n >= cap || (required && n == 0)) {
        errbuf_set(err, errlen, "credential_process output: %s is not a usable string", key);
        return -1;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int aws_creds_parse_process_json(const char *body, size_t len, struct aws_credentials *out,
                                 char *err, size_t errlen)
{
    json_object *root = NULL, *ver = NULL;
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (!body || jsonx_parse_object(body, len, 16, &root) != JSONX_OK) {
        errbuf_set(err, errlen, "credential_process output: not a JSON object");
        return -1;
    }
    if (!json_object_object_get_ex(root, "Version", &ver) ||
        !json_object_is_type(ver, json_type_int) || json_object_get_int64(ver) != 1) {
        errbuf_set(err, errlen, "credential_process output: Version must be 1");
        goto done;
    }
    char exp[64];
    if (get_field(root, "AccessKeyId", out->access_key_id, sizeof(out->access_key_id), 1, err,
                  errlen) ||
        get_field(root, "SecretAccessKey", out->secret_access_key, sizeof(out->secret_access_key),
                  1, err, errlen) ||
        get_field(root, "SessionToken", out->session_token, sizeof(out->session_token), 0, err,
                  errlen) ||
        get_field(root, "Expiration", exp, sizeof(exp), 0, err, errlen))
        goto done;
    if (exp[0] && iso8601_parse(exp, strlen(exp), ISO8601_RFC3339, &out->expiration_us) != 0) {
        errbuf_set(err, errlen, "credential_process output: Expiration is not an ISO 8601 time");
        goto done;
    }
    rc = 0;
done:
    if (rc != 0)
        aws_creds_wipe(out, sizeof(*out));
    json_object_put(root);
    return rc;
}

/* ---- the shared files ---- */

/* "~/x" -> "$HOME/x"; NULL when HOME is unset (then that file is not used). */
static char *expand_home(const char *path)
{
    if (strncmp(path, "~/", 2) != 0)
        return aws_creds_dupstr(path);
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    size_t n = strlen(home) + strlen(path);
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s", home, path + 1);
    return p;
}

/* 0 with *out (NULL when the file does not exist), -1 with err. */
static int read_shared(const char *opt, const char *path, char **out, char *err, size_t errlen)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        errbuf_set(err, errlen, "%s: cannot read %s: %s", opt, path, strerror(errno));
        return -1;
    }
    char *buf = malloc(SHARED_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, SHARED_FILE_MAX + 1, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad || n > SHARED_FILE_MAX) {
        errbuf_set(err, errlen, "%s: cannot read %s: %s", opt, path,
                   bad ? "read error" : "larger than 1 MiB");
        if (buf)
            aws_creds_wipe(buf, n);
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        errbuf_set(err, errlen, "%s: %s is binary", opt, path);
        aws_creds_wipe(buf, n);
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

int aws_profile_setup(struct aws_creds *c, const struct config *cfg, char *err, size_t errlen)
{
    int explicit = cfg->aws_profile && *cfg->aws_profile;
    const char *name = explicit ? cfg->aws_profile : "default";
    char *cpath = cfg->aws_shared_credentials_file && *cfg->aws_shared_credentials_file
                      ? expand_home(cfg->aws_shared_credentials_file)
                      : NULL;
    char *fpath =
        cfg->aws_config_file && *cfg->aws_config_file ? expand_home(cfg->aws_config_file) : NULL;
    char *ctext = NULL, *ftext = NULL;
    struct aws_profile_info *pi = calloc(1, sizeof(*pi));
    int rc = -1;
    if (!pi) {
        errbuf_set(err, errlen, "out of memory");
        goto done;
    }
    if ((cpath && read_shared("AWS_SHARED_CREDENTIALS_FILE", cpath, &ctext, err, errlen) != 0) ||
        (fpath && read_shared("AWS_CONFIG_FILE", fpath, &ftext, err, errlen) != 0))
        goto done;
    int r = aws_profile_resolve(ctext, ftext, name, pi, err, errlen);
    if (r < 0)
        goto done;
    if (!pi->found && explicit) {
        errbuf_set(err, errlen, "AWS_PROFILE: profile %s is in neither %s nor %s", name,
                   cpath ? cpath : "(no credentials file)", fpath ? fpath : "(no config file)");
        goto done;
    }
    rc = 0;
    if (r == 0) {
        if (pi->found)
            LOG_DEBUG(NULL, "AWS profile %s names no credentials; trying the next source", name);
        goto done;
    }
    c->profile = aws_creds_dupstr(name);
    if (!c->profile) {
        errbuf_set(err, errlen, "out of memory");
        rc = -1;
        goto done;
    }
    if (pi->credential_process[0]) {
        c->process_cmd = aws_creds_dupstr(pi->credential_process);
        if (!c->process_cmd) {
            errbuf_set(err, errlen, "out of memory");
            rc = -1;
            goto done;
        }
        c->source = SRC_PROCESS;
    } else {
        memcpy(c->cur.access_key_id, pi->access_key_id, sizeof(c->cur.access_key_id));
        memcpy(c->cur.secret_access_key, pi->secret_access_key, sizeof(c->cur.secret_access_key));
        memcpy(c->cur.session_token, pi->session_token, sizeof(c->cur.session_token));
        c->have = 1;
        c->done_once = 1;
        c->source = SRC_PROFILE;
    }
    rc = 1;
done:
    if (pi) {
        aws_creds_wipe(pi, sizeof(*pi));
        free(pi);
    }
    if (ctext) {
        aws_creds_wipe(ctext, strlen(ctext));
        free(ctext);
    }
    if (ftext) {
        aws_creds_wipe(ftext, strlen(ftext));
        free(ftext);
    }
    free(cpath);
    free(fpath);
    return rc;
}

/* ---- credential_process, off the loop ---- */

struct aws_proc {
    struct aws_creds *c;
    pid_t pid;
    int fd;
    int eof;
    int status;
    struct event *rd;
    struct event *timer;
    char *buf;
    size_t len;
    int64_t deadline_us;
};

static void proc_free(struct aws_proc *p)
{
    if (!p)
        return;
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (p->rd)
        event_free(p->rd);
    if (p->timer)
        event_free(p->timer);
    if (p->fd >= 0)
        close(p->fd);
    if (p->buf) {
        aws_creds_wipe(p->buf, PROCESS_OUTPUT_MAX + 1);
        free(p->buf);
    }
    free(p);
}

void aws_process_cancel(struct aws_creds *c)
{
    proc_free(c->proc);
    c->proc = NULL;
}

/* The process is over (status in p->status) or must be abandoned (why != NULL). */
static void proc_finish(struct aws_proc *p, const char *why)
{
    struct aws_creds *c = p->c;
    struct aws_credentials nc;
    char perr[200];
    int ok = 0;
    if (why) {
        snprintf(c->err, sizeof(c->err), "credential_process (profile %s): %s", c->profile, why);
    } else if (WIFSIGNALED(p->status)) {
        snprintf(c->err, sizeof(c->err), "credential_process (profile %s): killed by signal %d",
                 c->profile, WTERMSIG(p->status));
    } else if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
        snprintf(c->err, sizeof(c->err), "credential_process (profile %s): exited with status %d",
                 c->profile, WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1);
    } else if (aws_creds_parse_process_json(p->buf, p->len, &nc, perr, sizeof(perr)) != 0) {
        snprintf(c->err, sizeof(c->err), "profile %s: %s", c->profile, perr);
    } else {
        ok = 1;
    }
    c->proc = NULL;
    proc_free(p);
    if (ok)
        aws_creds_fetch_ok(c, &nc);
    else
        aws_creds_fetch_failed(c);
}

static void arm(struct aws_proc *p, int64_t us)
{
    struct timeval tv = {.tv_sec = us / 1000000, .tv_usec = us % 1000000};
    evtimer_add(p->timer, &tv);
}

/* 1 when reaped (p->pid = 0), 0 when still running. */
static int try_reap(struct aws_proc *p)
{
    pid_t r;
    while ((r = waitpid(p->pid, &p->status, WNOHANG)) < 0 && errno == EINTR)
        ;
    if (r == p->pid || r < 0) {
        if (r < 0)
            p->status = 0x7f00; /* not ours to reap any more: "status 127" */
        p->pid = 0;
        return 1;
    }
    return 0;
}

static void proc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct aws_proc *p = arg;
    if (clock_mono_us() >= p->deadline_us) {
        proc_finish(p, "timed out after 30 s");
        return;
    }
    if (p->eof && try_reap(p)) {
        proc_finish(p, NULL);
        return;
    }
    int64_t left = p->deadline_us - clock_mono_us();
    arm(p, p->eof && left > PROCESS_REAP_US ? PROCESS_REAP_US : left);
}

static void proc_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct aws_proc *p = arg;
    for (;;) {
        ssize_t n = read(fd, p->buf + p->len, PROCESS_OUTPUT_MAX + 1 - p->len);
        if (n > 0) {
            p->len += (size_t)n;
            if (p->len > PROCESS_OUTPUT_MAX) {
                proc_finish(p, "output larger than 64 KiB");
                return;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break; /* EOF or error */
    }
    p->buf[p->len] = '\0';
    event_del(p->rd);
    close(p->fd);
    p->fd = -1;
    p->eof = 1;
    if (try_reap(p)) {
        proc_finish(p, NULL);
        return;
    }
    arm(p, PROCESS_REAP_US);
}

int aws_process_start(struct aws_creds *c)
{
    int pfd[2] = {-1, -1}, devnull = -1;
    struct aws_proc *p = calloc(1, sizeof(*p));
    if (!p)
        goto oom;
    p->c = c;
    p->fd = -1;
    p->buf = malloc(PROCESS_OUTPUT_MAX + 1);
    p->rd = NULL;
    p->timer = evtimer_new(c->base, proc_timer_cb, p);
    if (!p->buf || !p->timer)
        goto oom;
    if (pipe2(pfd, O_CLOEXEC) != 0 || (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(c->err, sizeof(c->err), "credential_process (profile %s): %s", c->profile,
                 strerror(errno));
        goto fail;
    }
    char *const argv[] = {"sh", "-c", c->process_cmd, NULL};
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(c->err, sizeof(c->err), "credential_process (profile %s): fork: %s", c->profile,
                 strerror(errno));
        goto fail;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls from here on. stderr stays the daemon's. */
        if (dup2(devnull, 0) < 0 || dup2(pfd[1], 1) < 0)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        close_range(3, ~0U, 0); /* the daemon's sockets are not the process's business */
        execv("/bin/sh", argv);
        _exit(127);
    }
    close(pfd[1]);
    close(devnull);
    p->pid = pid;
    p->fd = pfd[0];
    fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
    p->rd = event_new(c->base, p->fd, EV_READ | EV_PERSIST, proc_read_cb, p);
    if (!p->rd) {
        c->proc = p;
        aws_process_cancel(c);
        snprintf(c->err, sizeof(c->err), "out of memory");
        return -1;
    }
    event_add(p->rd, NULL);
    p->deadline_us = clock_mono_us() + PROCESS_TIMEOUT_US;
    arm(p, PROCESS_TIMEOUT_US);
    c->proc = p;
    return 0;
oom:
    snprintf(c->err, sizeof(c->err), "out of memory");
fail:
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    if (devnull >= 0)
        close(devnull);
    proc_free(p);
    return -1;
}
