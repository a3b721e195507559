/*
 * EventBridge events: ivsevent_parse() (+ ivsevent_account_allowed, ivsevent_kind_name)
 * and the channel ARN parser arn_parse_channel() on the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arn.h"
#include "ivsevent.h"
#include "fuzz_util.h"

static void check_cstr(const char *s, size_t cap)
{
    if (!memchr(s, '\0', cap))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    char *json = fuzz_exact(data, size);
    struct ivsevent ev;
    static const int depths[4] = {0, 3, 5, 1000};
    int depth = depths[size % 4];
    if (ivsevent_parse(json, size, depth, &ev, err, sizeof(err)) == 0) {
        check_cstr(ev.id, sizeof(ev.id));
        check_cstr(ev.detail_type, sizeof(ev.detail_type));
        check_cstr(ev.event_name, sizeof(ev.event_name));
        check_cstr(ev.account, sizeof(ev.account));
        check_cstr(ev.time, sizeof(ev.time));
        check_cstr(ev.stream_id, sizeof(ev.stream_id));
        check_cstr(ev.health, sizeof(ev.health));
        if (!*ev.id || strlen(ev.account) != 12)
            abort();
        if ((ev.kind == IVSEVENT_STREAM_START || ev.kind == IVSEVENT_STREAM_END) && !*ev.stream_id)
            abort();
        if (ev.has_channel) {
            struct arn_channel again;
            if (arn_parse_channel(ev.channel.arn, &again, NULL, 0) != 0 ||
                strcmp(again.account, ev.account) != 0)
                abort();
        }
        ivsevent_account_allowed(&ev, NULL);
        ivsevent_account_allowed(&ev, "");
        ivsevent_account_allowed(&ev, " ,123456789012 , 210987654321,");
        ivsevent_kind_name(ev.kind);
    } else {
        fuzz_check_err(err, sizeof(err));
    }
    free(json);

    /* arn: a NUL-terminated string, also used as an account list */
    char *s = fuzz_cstr(data, size);
    struct arn_channel ch;
    if (arn_parse_channel(s, &ch, err, sizeof(err)) == 0) {
        if (strcmp(ch.arn, s) != 0 || strlen(ch.account) != 12 || !*ch.id || !*ch.region)
            abort();
    } else {
        fuzz_check_err(err, sizeof(err));
    }
    struct ivsevent acct;
    memset(&acct, 0, sizeof(acct));
    memcpy(acct.account, "123456789012", 13);
    ivsevent_account_allowed(&acct, s);
    free(s);
    return 0;
}
