/* fuzz_samples.c - libFuzzer target for the number/CSV/JSON sample reader.
 *
 * Any input must give HB_OK with finite values or an error with a message; never a crash, an
 * out-of-bounds access or a leak (the fuzz build runs under ASan and UBSan).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "higgsbench/samples.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const columns[] = {NULL, "2", "latency_ms", "b/latency"};
    for (size_t c = 0; c < sizeof columns / sizeof columns[0]; c++) {
        hb_samples s;
        hb_error e = {0};
        hb_status st = hb_samples_parse((const char *)data, size, "fuzz", columns[c], &s, &e);
        if (st == HB_OK) {
            if (s.n == 0) abort();
            for (size_t i = 0; i < s.n; i++)
                if (!isfinite(s.values[i])) abort();
            hb_samples_free(&s);
        } else if (e.msg[0] == '\0') {
            abort(); /* every failure explains itself */
        }
    }
    return 0;
}
