// streak.cu - the delay pattern and the draw plans of audio decode steps made on the device, so
// a run of steps is queued without the host (see hb_streak_row and generate.c). The same rules
// as generate.c's audio_plan and audio_apply, for request state r and the row p = r.nrows that
// the step produces, codebook k (K = 8), w = p - k its wrapped frame index:
//   forced code: hb_delay_code (BOS when w <= 0; EOS when w - 1 >= max_frames, or after the
//     first sampled EOS (row e, codebook c): k < c, or p >= e + (k - c)); otherwise a draw with
//     u = hb_uniform(seed, 32 pos + 1 + k) and, with RAS, u_ras = hb_uniform(seed, 32 pos + 9 + k)
//     and the codebook's latest ras_window content codes (sampling.h, shared with the host);
//   after the draw: the first sampled EOS (highest such k) sets (e, c) = (p, k) and ends the
//     codebooks below k at once (where p - k >= 1); the row is the next input; a row all EOS
//     closes the clip (later steps then leave the state alone and re-feed the same position).
#include "cuda_kernels.cuh"

// One block a row, a thread a codebook: the step's token and its 8 picks.
__global__ void streak_plan_kernel(const hb_streak_row *rows, dev_token *tok, hb_pick *picks,
                                   int bos, int eos)
{
    pdl_enter(); /* the state is the previous step's apply */
    const int i = blockIdx.x, k = threadIdx.x;
    const hb_streak_row &st = rows[i];
    hb_pick q;
    memset(&q, 0, sizeof q);
    q.forced = st.done ? eos : hb_delay_code(st.nrows, k, st.max_frames, st.eos_row, st.eos_cb, bos, eos);
    if (q.forced < 0) {
        uint64_t c0 = (uint64_t)st.pos * 32;
        q.ban_eos = st.exact;
        q.top_k = st.top_k;
        q.top_p = st.top_p;
        q.temperature = st.temperature;
        q.u = hb_uniform(st.seed, c0 + HB_STREAM_CODEBOOK + k);
        if (st.ras_repeat > 0) {
            q.ras_repeat = st.ras_repeat;
            q.u_ras = hb_uniform(st.seed, c0 + HB_STREAM_RAS + k);
            int m = min(st.nhist[k], st.ras_window);
            for (int j = 0; j < m; j++) q.hist[j] = st.hist[k][(st.hnew[k] - j + HB_PICK_HIST) % HB_PICK_HIST];
            q.nhist = m;
        }
    }
    picks[(size_t)i * HB_NUM_CODEBOOKS + k] = q;
    if (k == 0) {
        dev_token t;
        t.slot = st.slot;
        t.pos = st.pos;
        t.audio = 1;
        t.text_id = 0;
        for (int j = 0; j < HB_NUM_CODEBOOKS; j++) t.codes[j] = st.codes[j];
        t.logits = 1;
        tok[i] = t;
    }
}

// A warp a row, lane k < 8 codebook k: the drawn codes (16 a row: 8 codes, then the non-finite
// reports) applied. The RAS history is a ring, so keeping a code is one store.
__global__ void streak_apply_kernel(hb_streak_row *rows, int n, const hb_pick *picks,
                                    const int32_t *codes, int eos, int codebook_size)
{
    pdl_enter();
    const int i = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), k = threadIdx.x & 31;
    if (i >= n) return;
    hb_streak_row &st = rows[i];
    if (st.done) return; /* the same for the whole warp */
    const bool cb = k < HB_NUM_CODEBOOKS;
    const int p = st.nrows, eos_row = st.eos_row;
    int32_t code = cb ? codes[(size_t)i * 2 * HB_NUM_CODEBOOKS + k] : 0;
    bool sampled = cb && picks[(size_t)i * HB_NUM_CODEBOOKS + k].forced < 0 && code == eos;
    unsigned s = __ballot_sync(0xffffffffu, sampled);
    int sampled_eos = s ? 31 - __clz(s) : -1; /* the highest codebook that sampled EOS */
    if (sampled_eos >= 0 && eos_row < 0 && k < sampled_eos && p - k >= 1) code = eos;
    unsigned all = __ballot_sync(0xffffffffu, !cb || code == eos);
    if (!cb) return;
    st.codes[k] = code;
    if (code < codebook_size) { /* a content code: the newest of the RAS history */
        int h = (st.hnew[k] + 1) % HB_PICK_HIST;
        st.hist[k][h] = code;
        st.hnew[k] = h;
        st.nhist[k] = min(st.nhist[k] + 1, HB_PICK_HIST);
    }
    if (k == 0) {
        if (sampled_eos >= 0 && eos_row < 0) {
            st.eos_row = p;
            st.eos_cb = sampled_eos;
        }
        st.nrows = p + 1;
        if (all == 0xffffffffu) st.done = 1;
        else st.pos++;
    }
}

void hb_cuda_streak_plan(const hb_streak_row *rows, int n, dev_token *tok, hb_pick *picks, int bos,
                         int eos, cudaStream_t s)
{
    hb_launch(streak_plan_kernel, n, HB_NUM_CODEBOOKS, 0, s, rows, tok, picks, bos, eos);
}

void hb_cuda_streak_apply(hb_streak_row *rows, int n, const hb_pick *picks, const int32_t *codes,
                          int eos, int codebook_size, cudaStream_t s)
{
    hb_launch(streak_apply_kernel, (n + 3) / 4, 128, 0, s, rows, n, picks, codes, eos, codebook_size);
}
