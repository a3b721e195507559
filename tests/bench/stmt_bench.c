/*
 * Named vs unnamed statement cost of the daemon's ingest statement on one
 * direct connection (issue 14; tests/bench/README.md "Statements"):
 *   cc -O2 -o build/stmt_bench tests/bench/stmt_bench.c -I$(pg_config --includedir) -lpq
 *   build/stmt_bench "host=... dbname=... (migrated)" 10000
 * Rounds alternate named (PQexecPrepared) and unnamed (PQexecParams) runs of
 * N statements; prints statements/s, wall, and the CPU of the server backend
 * (/proc/<PQbackendPID>/stat: the server must be local) and of this client.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#define SQL "SELECT ivs_sync.ingest_event($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::timestamptz, $11, $12::integer)"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static double cpu_of(int pid) {
    char p[64], b[2048]; snprintf(p, sizeof p, "/proc/%d/stat", pid);
    FILE *f = fopen(p, "r"); if (!f) return -1; size_t n = fread(b, 1, sizeof b - 1, f); fclose(f); b[n] = 0;
    char *s = strrchr(b, ')') + 2; long ut = 0, st = 0; int i = 0;
    for (char *tok = strtok(s, " "); tok; tok = strtok(NULL, " "), i++) { if (i == 11) ut = atol(tok); if (i == 12) { st = atol(tok); break; } }
    return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}
static double self_cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    PGconn *c = PQconnectdb(argv[1]); if (PQstatus(c) != CONNECTION_OK) { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
    int N = argc > 2 ? atoi(argv[2]) : 20000, pid = PQbackendPID(c);
    PQclear(PQprepare(c, "ingest_event", SQL, 0, NULL));
    char id[64]; const char *v[12] = {id, NULL, "eventbridge", "arn:aws:ivs:us-east-1:123456789012:channel/abcdEFGH1234", "123456789012",
        "IVS Stream State Change", "Stream Start", "start", "st-1", "2026-01-01T10:00:00Z", NULL, "0"};
    double sum[2][3] = {{0}}; long k = 0; int rounds = 6;
    for (int r = 0; r < rounds; r++) for (int m = 0; m < 2; m++) {
        double w0 = now(), s0 = cpu_of(pid), c0 = self_cpu();
        for (int i = 0; i < N; i++) {
            snprintf(id, sizeof id, "sb-%d-%ld", getpid(), k++);
            PGresult *res = m ? PQexecParams(c, SQL, 12, NULL, v, NULL, NULL, 0) : PQexecPrepared(c, "ingest_event", 12, v, NULL, NULL, 0);
            if (PQresultStatus(res) != PGRES_TUPLES_OK) { fprintf(stderr, "%s", PQresultErrorMessage(res)); return 1; }
            PQclear(res);
        }
        double w = now() - w0, s = cpu_of(pid) - s0, cl = self_cpu() - c0;
        sum[m][0] += w; sum[m][1] += s; sum[m][2] += cl;
        printf("%-8s round %d: %7.0f stmt/s  wall %6.1f us  server CPU %6.1f us  client CPU %5.1f us\n", m ? "unnamed" : "named", r + 1, N / w, 1e6 * w / N, 1e6 * s / N, 1e6 * cl / N);
    }
    for (int m = 0; m < 2; m++) printf("%-8s total:   %7.0f stmt/s  wall %6.1f us  server CPU %6.1f us  client CPU %5.1f us\n", m ? "unnamed" : "named",
        rounds * N / sum[m][0], 1e6 * sum[m][0] / (rounds * N), 1e6 * sum[m][1] / (rounds * N), 1e6 * sum[m][2] / (rounds * N));
    PQfinish(c); return 0;
}
