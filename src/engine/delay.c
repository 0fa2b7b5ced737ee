/* delay.c - the RVQ delay pattern: codebook k is shifted right by k positions. */
#include "higgsbench/engine.h"

#define K HB_NUM_CODEBOOKS

void hb_delay_apply(const int32_t (*frames)[K], size_t T, int32_t bos, int32_t eos,
                    int32_t (*out)[K])
{
    for (size_t p = 0; p < T + K - 1; p++)
        for (size_t k = 0; k < K; k++)
            out[p][k] = p < k ? bos : p - k < T ? frames[p - k][k] : eos;
}

void hb_delay_revert(const int32_t (*positions)[K], size_t T, int32_t (*frames)[K])
{
    for (size_t t = 0; t < T; t++)
        for (size_t k = 0; k < K; k++) frames[t][k] = positions[t + k][k];
}

void hb_delay_wrap(const int32_t (*frames)[K], size_t T, int32_t bos, int32_t eos,
                   int32_t (*out)[K])
{
    /* wrapped frame w: 0 = all BOS, 1..T = the clip, T + 1 = all EOS; then delayed */
    for (size_t p = 0; p < T + 2 + K - 1; p++)
        for (size_t k = 0; k < K; k++) {
            if (p < k) {
                out[p][k] = bos;
                continue;
            }
            size_t w = p - k;
            out[p][k] = w == 0 ? bos : w <= T ? frames[w - 1][k] : eos;
        }
}
