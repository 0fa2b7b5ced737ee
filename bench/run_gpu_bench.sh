#!/usr/bin/env bash
# The GPU benchmarks, on one GPU: the bandwidth floor, the CUDA backend on the base-3b layout
# (unified and separate), and the PyTorch peer in the reference implementation's style, all in
# one run on the same machine. usage: bench/run_gpu_bench.sh BUILD_DIR [WORK_DIR]
set -euo pipefail
build=$1
work=${2:-/tmp/hb-gpu-bench}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
"$build/bench/gpu_bandwidth"
"$build/bench/cuda_kernel_bench" 512
eng="$work/base3b"
if [ ! -f "$eng/unified/engine.json" ]; then
  /usr/bin/time -f "build-engine base-3b: %e s" "$build/src/higgs-bench" build-engine --preset base-3b \
    --topology both --max-batch 64 --max-seq-len 1024 --output "$eng"
fi
"$build/bench/bench_engine" --backend cuda --context 512 --batches 1,8,32,64 "$eng/unified"
# the main row's raw times, and the peer's below, go to a directory of this run's own
samples="$work/samples-$(date -u +%Y%m%dT%H%M%SZ)"
"$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 1,8,32,64 --samples "$samples/engine" "$eng/unified"
"$build/bench/bench_engine" --backend cuda --context 512 --batches 1,8 "$eng/text" --pair "$eng/audio"
# what the choices buy, same build: audio steps planned on the host each step (one round trip
# a step) instead of queued from device state, tokens drawn on the host, launches in plain
# stream order (no programmatic dependent launch)
"$build/bench/bench_engine" --backend cuda --graphs on --device-steps off --context 512 --batches 1,8,32,64 "$eng/unified"
"$build/bench/bench_engine" --backend cuda --graphs on --host-sampling on --context 512 --batches 1,64 "$eng/unified"
HB_PDL=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 1,64 "$eng/unified"
# and the batched products by cublasGemmEx instead of the per-shape tuned cuBLASLt algorithms
# (batches above 32 tokens: the smaller ones do not reach cuBLAS); 2-8 tokens by cuBLASLt
# instead of the batched GEMV
HB_GEMM=cublas "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 64 "$eng/unified"
HB_MMV=0 HB_WSG=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 2,4,8 "$eng/unified"
# 9-32 tokens by cuBLASLt instead of the weight-streaming GEMM (and gate/up up to 64 with it);
# the SwiGLU as its own kernel instead of in the gate/up product's epilogue
HB_WSG=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 16,32,64 "$eng/unified"
HB_FUSE_SWIGLU=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 1,8,16,32,64 "$eng/unified"
# down_proj at 33-64 tokens by cuBLASLt instead of the weight-streaming GEMM
HB_WSG_DOWN=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 48,64 "$eng/unified"
# the weight-streaming GEMM's MMAs by mma.sync instead of warpgroup MMAs (sm_90a builds)
HB_WSG_WGMMA=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 16,32,64 "$eng/unified"
# and the audio draw in blocks of at most 256 threads even where its blocks are fewer than the SMs
HB_DRAW_WIDE=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 1,8 "$eng/unified"
# and its top-k / top-p cuts by sorting every entry instead of the bucket the cut falls in
HB_DRAW_BKT=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 1,64 "$eng/unified"
# one-token steps through the one-token GEMVs (fp32 activations, fused epilogues) instead of the
# batched path; with them, o_proj streamed after attention instead of copied on chip during it;
# and the GEMVs' first weights requested after the wait on the previous kernel instead of before
HB_ONE_MMV=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 1 "$eng/unified"
HB_ONE_MMV=0 HB_RESIDENT_O=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 1 "$eng/unified"
HB_GEMV_EARLY=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 1,8 "$eng/unified"
# one-token steps' down_proj by the batched GEMV instead of the one-token split-K GEMV
HB_ONE_LONG=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 1 "$eng/unified"
# at 1-8 tokens of one path, the MLP's input norm as its own kernel instead of folded into o_proj
# and gate/up
HB_FOLD_NORM=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 1,8 "$eng/unified"
# batch-1 decode attention's runs added through a counter instead of as a thread-block cluster
HB_DEC_CLUSTER=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 1 "$eng/unified"
# prompts' attention by the tiled CUDA-core kernel (or, under 264 tokens, the decode kernel
# attending only) instead of the tensor-core prompt kernel: the prefill and first-frame figures
HB_PF_MMA=0 "$build/bench/bench_engine" --backend cuda --graphs on --context 512 --batches 1 "$eng/unified"
# a prompt's clip BOS frame fed in a decode step of its own (the reference's order) instead of in
# the prompt's pass: the first-frame figure
"$build/bench/bench_engine" --backend cuda --graphs on --bos-step own --context 512 --batches 1 "$eng/unified"
# batches with half their requests in text mode, the two paths' MLPs side by side (the default)
# and one after the other
"$build/bench/bench_engine" --backend cuda --graphs on --mixed on --context 512 --batches 8,16,32,64 "$eng/unified"
HB_SIDE_PATH=0 "$build/bench/bench_engine" --backend cuda --graphs on --mixed on --context 512 --batches 8,16,32,64 "$eng/unified"
python3 "$here/torch_peer.py" --batches 1,8,32,64 --context 512 --samples "$samples/peer"
# the engine (graphs on) against the peer, step by step: the change of the median with its
# bootstrap interval (twice the peer's speed is a change of -50 % or lower); the intervals cover
# the step-to-step spread of this run, not the spread between runs
echo "engine (graphs on) against the PyTorch peer, raw times in $samples:"
for f in step_b1 step_b8 step_b32 step_b64 ttfa; do
  out=$("$build/src/higgs-bench" stats compare "$samples/peer/$f.csv" "$samples/engine/$f.csv" --column ms || true)
  line=$(echo "$out" | grep -A1 '^Change of the median' | tail -1 | sed 's/^ *//')
  echo "$f: $line$(echo "$line" | awk '$2 == "->" && $3 + 0 > 0 { printf "; %.2fx the peer'"'"'s speed", $1 / $3 }')"
done
