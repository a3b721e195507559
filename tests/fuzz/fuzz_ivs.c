/*
 * IVS answers and container credentials, all fed the same bytes:
 * ivs_parse_error(), ivs_parse_get_stream(), ivs_parse_list_streams(),
 * aws_creds_parse_json(), and on the input as a string aws_creds_parse_time()
 * and aws_creds_check_full_uri().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws_creds.h"
#include "fuzz_util.h"
#include "ivs.h"

static void check_stream(const struct ivs_stream *s)
{
    if (!memchr(s->channel_arn, '\0', sizeof(s->channel_arn)) ||
        !memchr(s->stream_id, '\0', sizeof(s->stream_id)) ||
        !memchr(s->state, '\0', sizeof(s->state)) || !memchr(s->health, '\0', sizeof(s->health)))
        abort();
    if (!*s->channel_arn || !*s->stream_id || s->viewer_count < -1)
        abort();
    char buf[32];
    ivs_format_time(s->start_time_us, buf, sizeof(buf));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[160];
    char *body = fuzz_exact(data, size);
    char *s = fuzz_cstr(data, size);

    /* errors: status and header picked from the input */
    static const long statuses[8] = {0, 400, 401, 403, 404, 429, 500, 503};
    long status = statuses[size % 8];
    struct ivs_error e;
    ivs_parse_error(status, NULL, body, size, &e);
    if (!memchr(e.code, '\0', sizeof(e.code)) || !memchr(e.message, '\0', sizeof(e.message)))
        abort();
    ivs_error_retryable(&e);
    ivs_outcome_name(e.outcome);
    /* the header value: the first line of the input */
    char hdr[256];
    size_t hl = strcspn(s, "\r\n");
    if (hl >= sizeof(hdr))
        hl = sizeof(hdr) - 1;
    memcpy(hdr, s, hl);
    hdr[hl] = '\0';
    ivs_parse_error(status, hdr, body, size, &e);
    if (!memchr(e.code, '\0', sizeof(e.code)) || !memchr(e.message, '\0', sizeof(e.message)))
        abort();

    struct ivs_stream st;
    if (ivs_parse_get_stream(body, size, &st, err, sizeof(err)) == 0)
        check_stream(&st);
    else
        fuzz_check_err(err, sizeof(err));

    struct ivs_stream *arr = (struct ivs_stream *)1;
    size_t n = 99;
    char token[IVS_TOKEN_MAX + 1];
    size_t tokcap = (size & 1) ? sizeof(token) : 8;
    if (ivs_parse_list_streams(body, size, &arr, &n, token, tokcap, err, sizeof(err)) == 0) {
        if ((n == 0) != (arr == NULL) || !memchr(token, '\0', tokcap))
            abort();
        for (size_t i = 0; i < n; i++)
            check_stream(&arr[i]);
        free(arr);
    } else {
        if (arr || n || token[0])
            abort();
        fuzz_check_err(err, sizeof(err));
    }
    ivs_parse_list_streams(body, size, &arr, &n, token, 0, err, sizeof(err));
    free(arr);

    struct aws_credentials c;
    if (aws_creds_parse_json(body, size, &c, err, sizeof(err)) == 0) {
        if (!*c.access_key_id || !*c.secret_access_key ||
            !memchr(c.session_token, '\0', sizeof(c.session_token)))
            abort();
    } else {
        fuzz_check_err(err, sizeof(err));
    }

    int64_t us = 0;
    if (aws_creds_parse_time(s, &us) == 0) {
        char buf[32];
        ivs_format_time(us, buf, sizeof(buf));
    }
    aws_creds_check_full_uri(s, err, sizeof(err));

    free(s);
    free(body);
    return 0;
}
