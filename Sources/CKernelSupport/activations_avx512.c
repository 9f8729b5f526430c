// The forward pass's elementwise steps on AVX-512: GELU after an MLP's first product, and the
// outer attention's softmax. Rows of any width, the last zmm of a row masked.
#include "kernel_support.h"
#include "avx512_math.h"

TARGET void tnt_add_bias_gelu_avx512(float *x, const float *bias, int rows, int dim) {
    const __m512 half = _mm512_set1_ps(0.5f), inverse_sqrt2 = _mm512_set1_ps(0.70710678118654752f);
    for (long r = 0; r < rows; r++) {
        float *row = x + r * dim;
        for (int i = 0; i < dim; i += 16) {
            const __mmask16 m = lane_mask(dim - i);
            const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, row + i), _mm512_maskz_loadu_ps(m, bias + i));
            const __m512 h = _mm512_mul_ps(v, half);
            _mm512_mask_storeu_ps(row + i, m, _mm512_fmadd_ps(h, erf512(_mm512_mul_ps(v, inverse_sqrt2)), h));
        }
    }
}

TARGET void tnt_exponentiate_rows_avx512(float *x, int rows, int cols, float *reciprocal_sums) {
    for (long r = 0; r < rows; r++) {
        float *row = x + r * cols;
        __m512 maxima = _mm512_set1_ps(-__builtin_inff());
        for (int i = 0; i < cols; i += 16) {
            const __mmask16 m = lane_mask(cols - i);
            maxima = _mm512_mask_max_ps(maxima, m, maxima, _mm512_maskz_loadu_ps(m, row + i));
        }
        const __m512 row_max = _mm512_set1_ps(_mm512_reduce_max_ps(maxima));
        __m512 sums = _mm512_setzero_ps();
        for (int i = 0; i < cols; i += 16) {
            const __mmask16 m = lane_mask(cols - i);
            const __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + i), row_max)));
            _mm512_mask_storeu_ps(row + i, m, e);
            sums = _mm512_add_ps(sums, e);
        }
        reciprocal_sums[r] = 1.0f / _mm512_reduce_add_ps(sums);
    }
}
