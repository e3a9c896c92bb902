/* The per-example squared weight gradients of one linear layer, summed over a batch:

       S[j, k] += sum_b ( sum_{t < len[b]} E[b, t, j] * A[b, t, k] )^2

   over all output rows j. E (B x T x out) holds the gradients at the layer's
   output, A (B x T x in) its inputs, both row-major float32; S is out x in. Each example's
   gradient tile lives only in registers: it is never written to memory, which is what makes
   this faster than a matmul per example followed by a square-and-add pass (memory-bound).
   Tiles of JB rows are shared out over OpenMP threads (the process's OpenMP runtime, which
   torch has loaded already: no second thread pool competes for the cores); each tile is
   computed by one thread in a fixed order (b, then t), so results do not depend on the
   thread count. Built by fute.methods.kernels with the system C compiler; plain C with
   GCC/Clang vector extensions, so one source serves AVX2 and AVX-512 machines. */
#include <stdint.h>
#include <string.h>

typedef float v16 __attribute__((vector_size(64)));
#define JB 6 /* output rows per micro-tile */
#define KV 4 /* 4 x 16 input columns per micro-tile */

static inline v16 load16(const float *p) { v16 v; memcpy(&v, p, sizeof v); return v; }
static inline void store16(float *p, v16 v) { memcpy(p, &v, sizeof v); }

void fute_sq_grad(const float *E, const float *A, const int32_t *len, int64_t B, int64_t T,
                  int64_t out, int64_t in, float *S, int32_t threads)
{
    const int64_t kfull = in - in % (16 * KV), tiles = (out + JB - 1) / JB;
    (void)threads;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t tile = 0; tile < tiles; tile++) {
        const int64_t j0 = tile * JB, jn = out - j0 < JB ? out - j0 : JB;
        for (int64_t k0 = 0; k0 < kfull; k0 += 16 * KV) {
            v16 sum[JB][KV];
            memset(sum, 0, sizeof sum);
            for (int64_t b = 0; b < B; b++) {
                v16 acc[JB][KV];
                memset(acc, 0, sizeof acc);
                const float *Eb = E + b * T * out + j0, *Ab = A + b * T * in + k0;
                for (int64_t t = 0; t < len[b]; t++) {
                    v16 a[KV];
                    for (int q = 0; q < KV; q++) a[q] = load16(Ab + t * in + 16 * q);
                    for (int jj = 0; jj < JB; jj++) {
                        const float e = jj < jn ? Eb[t * out + jj] : 0.0f;
                        for (int q = 0; q < KV; q++) acc[jj][q] += e * a[q];
                    }
                }
                for (int jj = 0; jj < JB; jj++)
                    for (int q = 0; q < KV; q++) sum[jj][q] += acc[jj][q] * acc[jj][q];
            }
            for (int64_t jj = 0; jj < jn; jj++)
                for (int q = 0; q < KV; q++) {
                    float *s = S + (j0 + jj) * in + k0 + 16 * q;
                    store16(s, load16(s) + sum[jj][q]);
                }
        }
        for (int64_t k = kfull; k < in; k++) /* columns past the last full micro-tile */
            for (int64_t jj = 0; jj < jn; jj++) {
                float total = 0.0f;
                for (int64_t b = 0; b < B; b++) {
                    float g = 0.0f;
                    for (int64_t t = 0; t < len[b]; t++)
                        g += E[(b * T + t) * out + j0 + jj] * A[(b * T + t) * in + k];
                    total += g * g;
                }
                S[(j0 + jj) * in + k] += total;
            }
    }
}
