/* fuzz_safetensors.c - libFuzzer target for the safetensors header parser.
 *
 * Whatever the header claims, every tensor it accepts must lie inside the buffer. */
#include <stdint.h>
#include <stdlib.h>

#include "higgsbench/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hb_safetensors st;
    hb_error e = {0};
    if (hb_st_parse(data, size, "fuzz", &st, &e) == HB_OK) {
        for (size_t i = 0; i < st.ntensors; i++) {
            const uint8_t *p = st.tensors[i].data;
            if (p < data || p + st.tensors[i].nbytes > data + size) abort();
            volatile uint8_t sink = 0;
            for (size_t j = 0; j < st.tensors[i].nbytes; j++) sink ^= p[j]; /* touch every byte */
            (void)sink;
        }
        hb_st_close(&st);
    } else if (!e.msg[0]) {
        abort();
    }
    return 0;
}
