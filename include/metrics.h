/*
 * metrics: counters, gauges and histograms, rendered as Prometheus text.
 *
 * A series is (name, labels) where labels is a preformatted label list
 * without braces, e.g. "route=\"/sns\",status=\"200\"" (or NULL/""). Series
 * are created on first use. Names must be declared with metrics_declare()
 * for HELP/TYPE lines (undeclared names render as untyped). All strings are
 * copied; the caller keeps ownership of its arguments.
 */
#ifndef IVS_METRICS_H
#define IVS_METRICS_H

#include <stddef.h>

struct metrics;
struct evbuffer;

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRICS_MAX_BUCKETS 20

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
void metrics_declare(struct metrics *m, const char *name, enum metric_type type, const char *help);
void metrics_inc(struct metrics *m, const char *name, const char *labels);
void metrics_add(struct metrics *m, const char *name, const char *labels, double v);
void metrics_set(struct metrics *m, const char *name, const char *labels, double v);
/* A histogram with its own bucket upper bounds (ascending, at most
 * METRICS_MAX_BUCKETS; +Inf is implied), e.g. a pass that takes minutes.
 * Without it a histogram has latency buckets 0.5 ms .. 10 s. */
void metrics_declare_histogram(struct metrics *m, const char *name, const char *help,
                               const double *bounds, size_t n);
/* Read the process_* metrics every Prometheus client exports (start time, CPU
 * seconds, resident and virtual memory, open and max fds) from /proc: call at
 * scrape time. */
void metrics_update_process(struct metrics *m);
/* Histogram in seconds, default latency buckets 0.5 ms .. 10 s. */
void metrics_observe(struct metrics *m, const char *name, const char *labels, double v);
double metrics_get(struct metrics *m, const char *name, const char *labels);
void metrics_render(struct metrics *m, struct evbuffer *out);

#endif
