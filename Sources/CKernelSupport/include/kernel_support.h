#ifndef TNT_KERNEL_SUPPORT_H
#define TNT_KERNEL_SUPPORT_H

#include <stdbool.h>

/// What cpuid and xgetbv say about this CPU: instruction sets the CPU has *and* the
/// operating system saves the registers of (AVX needs XCR0 bits 1-2, AVX-512 bits 5-7).
typedef struct {
    char vendor[13];
    unsigned family, model;
    bool sse3, ssse3, sse4_2, avx, fma, avx2;
    bool f16c, bmi1, bmi2, lzcnt, movbe;
    bool avx512f, avx512bw, avx512dq, avx512vl, avx512cd, avx512_bf16;
} tnt_cpu_features;

tnt_cpu_features tnt_cpu_read_features(void);

/// Makes a DYNAMIC_ARCH OpenBLAS already loaded in this process use `family` (an
/// OPENBLAS_CORETYPE name) from now on. Call only while no BLAS call is running.
/// Returns false when this OpenBLAS cannot switch (not a DYNAMIC_ARCH build).
bool tnt_openblas_switch_family(const char *family);

/// y (m, n) = x (m, k) · (alpha·w) + bias, or, with `accumulate`, y += the same; row-major
/// with leading dimensions ldx, ldw, ldy; w is stored (k, n), or (n, k) when `w_transposed`;
/// `bias` (n) may be NULL. Single-threaded; each calling thread keeps a 384 KB packing
/// buffer. Needs AVX-512F, which the caller checks (tnt_cpu_read_features) first.
void tnt_sgemm_avx512(int m, int n, int k, float alpha, const float *x, int ldx, const float *w, int ldw,
                      bool w_transposed, float *y, int ldy, const float *bias, bool accumulate);

enum { TNT_INNER_ATTENTION_MAX_DIM = 64 };

/// Attention among the 16 pixel tokens of each of `patches` patches, per head
/// softmax(q·kᵀ/√head_dim)·v with PaddleClas's split of qk into (2, heads, head_dim):
/// out (patches·16, dim), qk (patches·16, 2·dim), v (patches·16, dim), all row-major;
/// dim ≤ TNT_INNER_ATTENTION_MAX_DIM. Needs AVX-512F, which the caller checks first.
void tnt_inner_attention_avx512(float *out, const float *qk, const float *v, int patches, int dim, int heads);

/// x (rows, dim) = GELU(x + bias), GELU's exact form 0.5·x·(1 + erf(x/√2)). Needs AVX-512F.
void tnt_add_bias_gelu_avx512(float *x, const float *bias, int rows, int dim);

/// Softmax without its last division: each row of x (rows, cols) becomes exp(row − max(row))
/// in place, and reciprocal_sums[r] = 1 / Σ of it. Needs AVX-512F.
void tnt_exponentiate_rows_avx512(float *x, int rows, int cols, float *reciprocal_sums);

/// out (rows, dim) = LayerNorm(in) with epsilon 1e-5 and biased variance, as Paddle; with
/// `accumulate`, out += the same. `out` may be `in` when not accumulating. Needs AVX-512F.
void tnt_layer_norm_avx512(float *out, const float *in, const float *weight, const float *bias, int rows, int dim,
                           bool accumulate);

/// The CPU's spin-wait hint (`pause`), for a thread polling a flag another thread will set.
static inline void tnt_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause");
#endif
}

#endif
