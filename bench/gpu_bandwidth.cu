// gpu_bandwidth.cu - the memory-bandwidth floor of a decode step on this GPU.
//
// Measures device-to-device copy bandwidth (2 x bytes copied / time: every byte is read and
// written), then the floor of an audio decode step of a model as (weight bytes the step reads) /
// bandwidth. usage: gpu_bandwidth [STEP_BYTES]   (default: the base-3b audio step in bf16)
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    // audio step of the released layout: 28 x (q, k, v, o + audio gate, up, down) + audio head
    double layer = 3072.0 * (3072 + 1024 + 1024 + 3072) + 3.0 * 3072 * 8192;
    double step_bytes = argc > 1 ? atof(argv[1]) : 2.0 * (28 * layer + 8208.0 * 3072);
    size_t n = (size_t)4 << 30;
    void *a, *b;
    if (cudaMalloc(&a, n) != cudaSuccess || cudaMalloc(&b, n) != cudaSuccess) {
        fprintf(stderr, "gpu_bandwidth: cannot allocate 2 x 4 GiB\n");
        return 1;
    }
    cudaMemset(a, 1, n);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    float best = 1e30f;
    for (int r = 0; r < 12; r++) {
        cudaEventRecord(e0);
        cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice);
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        if (r > 1 && ms < best) best = ms;
    }
    double bw = 2.0 * (double)n / (best / 1e3);
    cudaDeviceProp p;
    cudaGetDeviceProperties(&p, 0);
    printf("device: %s\n", p.name);
    printf("device-to-device copy bandwidth: %.3f TB/s (best of 10 copies of 4 GiB)\n", bw / 1e12);
    printf("audio step weight bytes: %.3f GB -> bandwidth floor %.3f ms; 85%% of the floor = %.3f ms\n",
           step_bytes / 1e9, step_bytes / bw * 1e3, step_bytes / bw * 1e3 / 0.85);
    return 0;
}
