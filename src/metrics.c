/* metrics: a small Prometheus registry (counters, gauges, histograms). */
#include "metrics.h"

#include <dirent.h>
#include <event2/buffer.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const double default_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS METRICS_MAX_BUCKETS

struct series {
    char *labels;
    double value; /* counter/gauge value, histogram sum */
    uint64_t count;
    uint64_t bucket[NBUCKETS];
    struct series *next; /* in family order */
    struct series *hnext;
    struct family *fam;
    uint32_t hash;
};

struct family {
    char *name;
    char *help;
    enum metric_type type;
    int declared;
    double bounds[NBUCKETS]; /* histogram bucket upper bounds, ascending */
    size_t nbounds;
    struct series *first, *last;
    struct family *next;
};

struct metrics {
    struct family *families, *last_family;
    struct series **table;
    size_t nbuckets, nseries;
};

static uint32_t hash2(const char *a, const char *b)
{
    uint32_t h = 2166136261u;
    for (; *a; a++)
        h = (h ^ (unsigned char)*a) * 16777619u;
    h = (h ^ '{') * 16777619u;
    for (; b && *b; b++)
        h = (h ^ (unsigned char)*b) * 16777619u;
    return h;
}

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->nbuckets = 256;
    m->table = calloc(m->nbuckets, sizeof(*m->table));
    if (!m->table) {
        free(m);
        return NULL;
    }
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    struct family *f = m->families;
    while (f) {
        struct family *fn = f->next;
        struct series *s = f->first;
        while (s) {
            struct series *sn = s->next;
            free(s->labels);
            free(s);
            s = sn;
        }
        free(f->name);
        free(f->help);
        free(f);
        f = fn;
    }
    free(m->table);
    free(m);
}

static struct family *family_get(struct metrics *m, const char *name, enum metric_type type)
{
    for (struct family *f = m->families; f; f = f->next)
        if (!strcmp(f->name, name))
            return f;
    struct family *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->name = strdup(name);
    if (!f->name) {
        free(f);
        return NULL;
    }
    f->type = type;
    f->nbounds = sizeof(default_buckets) / sizeof(default_buckets[0]);
    memcpy(f->bounds, default_buckets, sizeof(default_buckets));
    if (m->last_family)
        m->last_family->next = f;
    else
        m->families = f;
    m->last_family = f;
    return f;
}

void metrics_declare(struct metrics *m, const char *name, enum metric_type type, const char *help)
{
    if (!m)
        return;
    struct family *f = family_get(m, name, type);
    if (!f)
        return;
    f->type = type;
    f->declared = 1;
    free(f->help);
    f->help = help ? strdup(help) : NULL;
}

void metrics_declare_histogram(struct metrics *m, const char *name, const char *help,
                               const double *bounds, size_t n)
{
    if (!m)
        return;
    metrics_declare(m, name, METRIC_HISTOGRAM, help);
    struct family *f = family_get(m, name, METRIC_HISTOGRAM);
    if (!f || !bounds || n == 0 || n > NBUCKETS || f->first)
        return; /* bounds are fixed once a series exists */
    for (size_t i = 1; i < n; i++)
        if (!(bounds[i] > bounds[i - 1]))
            return;
    memcpy(f->bounds, bounds, n * sizeof(*bounds));
    f->nbounds = n;
}

/* ---------------------------------------------------------- process_* */

void metrics_update_process(struct metrics *m)
{
    if (!m)
        return;
    {
        metrics_declare(m, "process_start_time_seconds", METRIC_GAUGE,
                        "Start time of the process since unix epoch in seconds.");
        metrics_declare(m, "process_cpu_seconds_total", METRIC_COUNTER,
                        "Total user and system CPU time spent in seconds.");
        metrics_declare(m, "process_resident_memory_bytes", METRIC_GAUGE,
                        "Resident memory size in bytes.");
        metrics_declare(m, "process_virtual_memory_bytes", METRIC_GAUGE,
                        "Virtual memory size in bytes.");
        metrics_declare(m, "process_open_fds", METRIC_GAUGE, "Number of open file descriptors.");
        metrics_declare(m, "process_max_fds", METRIC_GAUGE,
                        "Maximum number of open file descriptors.");
    }
    long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    /* fields after "(comm)": state is field 3; utime 14, stime 15, starttime 22,
     * vsize 23, rss 24 (proc(5)) */
    const char *p = strrchr(buf, ')');
    unsigned long long v[25] = {0};
    if (p && tck > 0) {
        p += 2;
        for (int i = 3; i <= 24 && *p; i++) {
            while (*p == ' ')
                p++;
            v[i] = strtoull(p, NULL, 10);
            while (*p && *p != ' ')
                p++;
        }
        metrics_set(m, "process_cpu_seconds_total", NULL, (double)(v[14] + v[15]) / (double)tck);
        metrics_set(m, "process_virtual_memory_bytes", NULL, (double)v[23]);
        metrics_set(m, "process_resident_memory_bytes", NULL, (double)v[24] * (double)page);
        /* boot time (btime in /proc/stat) + start ticks */
        FILE *st = fopen("/proc/stat", "r");
        char line[256];
        while (st && fgets(line, sizeof(line), st))
            if (!strncmp(line, "btime ", 6)) {
                metrics_set(m, "process_start_time_seconds", NULL,
                            (double)strtoull(line + 6, NULL, 10) + (double)v[22] / (double)tck);
                break;
            }
        if (st)
            fclose(st);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int fds = 0;
        for (struct dirent *e; (e = readdir(d));)
            fds += e->d_name[0] != '.';
        closedir(d);
        metrics_set(m, "process_open_fds", NULL, fds - 1); /* less the one reading the dir */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        metrics_set(m, "process_max_fds", NULL,
                    rl.rlim_cur == RLIM_INFINITY ? 1e9 : (double)rl.rlim_cur);
}

static void rehash(struct metrics *m)
{
    size_t nb = m->nbuckets * 2;
    struct series **t = calloc(nb, sizeof(*t));
    if (!t)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct series *s = m->table[i];
        while (s) {
            struct series *n = s->hnext;
            s->hnext = t[s->hash & (nb - 1)];
            t[s->hash & (nb - 1)] = s;
            s = n;
        }
    }
    free(m->table);
    m->table = t;
    m->nbuckets = nb;
}

static struct series *series_get(struct metrics *m, const char *name, const char *labels,
                                 enum metric_type type)
{
    if (!labels)
        labels = "";
    uint32_t h = hash2(name, labels);
    for (struct series *s = m->table[h & (m->nbuckets - 1)]; s; s = s->hnext)
        if (s->hash == h && !strcmp(s->labels, labels) && !strcmp(s->fam->name, name))
            return s;
    struct family *f = family_get(m, name, type);
    if (!f)
        return NULL;
    struct series *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->labels = strdup(labels);
    if (!s->labels) {
        free(s);
        return NULL;
    }
    s->fam = f;
    s->hash = h;
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    s->hnext = m->table[h & (m->nbuckets - 1)];
    m->table[h & (m->nbuckets - 1)] = s;
    if (++m->nseries > m->nbuckets)
        rehash(m);
    return s;
}

void metrics_add(struct metrics *m, const char *name, const char *labels, double v)
{
    if (!m)
        return;
    struct series *s = series_get(m, name, labels, METRIC_COUNTER);
    if (s)
        s->value += v;
}

void metrics_inc(struct metrics *m, const char *name, const char *labels)
{
    metrics_add(m, name, labels, 1);
}

void metrics_set(struct metrics *m, const char *name, const char *labels, double v)
{
    if (!m)
        return;
    struct series *s = series_get(m, name, labels, METRIC_GAUGE);
    if (s)
        s->value = v;
}

void metrics_observe(struct metrics *m, const char *name, const char *labels, double v)
{
    if (!m)
        return;
    struct series *s = series_get(m, name, labels, METRIC_HISTOGRAM);
    if (!s)
        return;
    s->value += v;
    s->count++;
    for (size_t i = 0; i < s->fam->nbounds; i++)
        if (v <= s->fam->bounds[i])
            s->bucket[i]++;
}

double metrics_get(struct metrics *m, const char *name, const char *labels)
{
    if (!m)
        return 0;
    if (!labels)
        labels = "";
    uint32_t h = hash2(name, labels);
    for (struct series *s = m->table[h & (m->nbuckets - 1)]; s; s = s->hnext)
        if (s->hash == h && !strcmp(s->labels, labels) && !strcmp(s->fam->name, name))
            return s->fam->type == METRIC_HISTOGRAM ? (double)s->count : s->value;
    return 0;
}

static void render_labels(struct evbuffer *out, const char *labels, const char *extra)
{
    int has = labels && *labels;
    if (!has && !extra)
        return;
    evbuffer_add_printf(out, "{%s%s%s}", has ? labels : "", has && extra ? "," : "",
                        extra ? extra : "");
}

void metrics_render(struct metrics *m, struct evbuffer *out)
{
    static const char *const tn[] = {"counter", "gauge", "histogram"};
    for (struct family *f = m->families; f; f = f->next) {
        if (f->help)
            evbuffer_add_printf(out, "# HELP %s %s\n", f->name, f->help);
        evbuffer_add_printf(out, "# TYPE %s %s\n", f->name, tn[f->type]);
        for (struct series *s = f->first; s; s = s->next) {
            if (f->type != METRIC_HISTOGRAM) {
                evbuffer_add_printf(out, "%s", f->name);
                render_labels(out, s->labels, NULL);
                evbuffer_add_printf(out, " %.17g\n", s->value);
                continue;
            }
            char le[48];
            for (size_t i = 0; i < f->nbounds; i++) {
                snprintf(le, sizeof(le), "le=\"%g\"", f->bounds[i]);
                evbuffer_add_printf(out, "%s_bucket", f->name);
                render_labels(out, s->labels, le);
                evbuffer_add_printf(out, " %llu\n", (unsigned long long)s->bucket[i]);
            }
            evbuffer_add_printf(out, "%s_bucket", f->name);
            render_labels(out, s->labels, "le=\"+Inf\"");
            evbuffer_add_printf(out, " %llu\n", (unsigned long long)s->count);
            evbuffer_add_printf(out, "%s_sum", f->name);
            render_labels(out, s->labels, NULL);
            evbuffer_add_printf(out, " %.17g\n", s->value);
            evbuffer_add_printf(out, "%s_count", f->name);
            render_labels(out, s->labels, NULL);
            evbuffer_add_printf(out, " %llu\n", (unsigned long long)s->count);
        }
    }
}
