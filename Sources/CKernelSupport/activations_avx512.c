// The forward pass's row-by-row steps on AVX-512: GELU after an MLP's first product, the
// outer attention's softmax and LayerNorm. Rows of any width, the last zmm of a row masked.
#include "kernel_support.h"
#include "avx512_math.h"

// LayerNorm's rows up to this wide go 16 at a time, one row per lane.
enum { NARROW_ROW_MAX = 64 };

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

// Rows up to 64 wide, 16 at a time with one row per lane: the sums over a row are then
// vector additions, not a horizontal reduction per row (TNT's inner rows are 24 or 40 wide).
TARGET static void layer_norm_16_rows(
    float *out, const float *in, const float *weight, const float *bias, int dim, bool accumulate
) {
    __m512 v[NARROW_ROW_MAX + 16], t[16];
    for (int c0 = 0; c0 < dim; c0 += 16) {
        load_columns(t, in, dim, c0, dim);
        for (int d = 0; d < 16; d++) v[c0 + d] = t[d];
    }
    const __m512 count = _mm512_set1_ps((float)dim);
    __m512 sum = _mm512_setzero_ps();
    for (int d = 0; d < dim; d++) sum = _mm512_add_ps(sum, v[d]);
    const __m512 mean = _mm512_div_ps(sum, count);
    __m512 squares = _mm512_setzero_ps();
    for (int d = 0; d < dim; d++) {
        v[d] = _mm512_sub_ps(v[d], mean);
        squares = _mm512_fmadd_ps(v[d], v[d], squares);
    }
    const __m512 variance = _mm512_div_ps(squares, count);
    const __m512 inverse_std = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_sqrt_ps(_mm512_add_ps(variance, _mm512_set1_ps(1e-5f))));
    for (int d = 0; d < dim; d++) {
        v[d] = _mm512_fmadd_ps(_mm512_mul_ps(v[d], inverse_std), _mm512_set1_ps(weight[d]), _mm512_set1_ps(bias[d]));
    }
    store_columns(v, out, dim, dim, accumulate);
}

TARGET void tnt_layer_norm_avx512(
    float *out, const float *in, const float *weight, const float *bias, int rows, int dim, bool accumulate
) {
    long r = 0;
    if (dim <= NARROW_ROW_MAX) {
        for (; r + 16 <= rows; r += 16) layer_norm_16_rows(out + r * dim, in + r * dim, weight, bias, dim, accumulate);
    }
    for (; r < rows; r++) {
        const float *x = in + r * dim;
        float *y = out + r * dim;
        __m512 sums = _mm512_setzero_ps();
        for (int i = 0; i < dim; i += 16) sums = _mm512_add_ps(sums, _mm512_maskz_loadu_ps(lane_mask(dim - i), x + i));
        const __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(sums) / (float)dim);
        __m512 squares = _mm512_setzero_ps();
        for (int i = 0; i < dim; i += 16) {
            const __mmask16 m = lane_mask(dim - i);
            const __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), mean);
            squares = _mm512_fmadd_ps(d, d, squares);
        }
        const float variance = _mm512_reduce_add_ps(squares) / (float)dim;
        const __m512 inverse_std = _mm512_set1_ps(1.0f / __builtin_sqrtf(variance + 1e-5f));
        for (int i = 0; i < dim; i += 16) {
            const __mmask16 m = lane_mask(dim - i);
            const __m512 centred = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), mean);
            __m512 normalized = _mm512_fmadd_ps(_mm512_mul_ps(centred, inverse_std), _mm512_maskz_loadu_ps(m, weight + i),
                                                _mm512_maskz_loadu_ps(m, bias + i));
            if (accumulate) normalized = _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), normalized);
            _mm512_mask_storeu_ps(y + i, m, normalized);
        }
    }
}
