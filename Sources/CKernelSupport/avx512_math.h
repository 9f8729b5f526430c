// Vector math shared by the AVX-512 kernels: the same approximations as VectorMath.swift's
// portable exp16 and erf16, one zmm at a time.
#ifndef TNT_AVX512_MATH_H
#define TNT_AVX512_MATH_H

#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,fma")))
#define INLINE static inline __attribute__((always_inline))

// e^x: the same Cephes polynomial and range reduction as exp16 in VectorMath.swift.
TARGET INLINE __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    const __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504f), magic);
    const __m512 n = _mm512_sub_ps(t, magic);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i bits = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(magic));
    const __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(127)), 23));
    return _mm512_mul_ps(y, scale);
}

// erf(x): the rational approximation Eigen and XLA use for float (erf16's). The quotient is
// a reciprocal estimate refined by one Newton step, about 1 ulp, not a division: on a Zen 4
// the division was most of GELU's time.
TARGET INLINE __m512 erf512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-4.0f)), _mm512_set1_ps(4.0f));
    const __m512 x2 = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(-2.72614225801306e-10f);
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(2.77068142495902e-08f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.10102402082508e-06f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-5.69250639462346e-05f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-7.34990630326855e-04f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-2.95459980854025e-03f));
    p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(-1.60960333262415e-02f));
    __m512 q = _mm512_set1_ps(-1.45660718464996e-05f);
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-2.13374055278905e-04f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.68282697438203e-03f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-7.37332916720468e-03f));
    q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(-1.42647390514189e-02f));
    __m512 r = _mm512_rcp14_ps(q);
    r = _mm512_fmadd_ps(r, _mm512_fnmadd_ps(q, r, _mm512_set1_ps(1.0f)), r);
    return _mm512_mul_ps(_mm512_mul_ps(x, p), r);
}

// The first `count` of a zmm's 16 lanes (none when count ≤ 0, all when count ≥ 16).
INLINE __mmask16 lane_mask(int count) {
    return count >= 16 ? 0xFFFF : count <= 0 ? 0 : (__mmask16)((1u << count) - 1);
}

// r[i] holds row i of a 16 × 16 block; afterwards r[i] holds column i. Pairs of rows
// interleave by elements, then by pairs of elements, then by 128-bit quarters, twice.
TARGET INLINE void transpose16x16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
}

// The 16 rows × dim at `rows` (row stride `stride`), columns c0..<c0+16 (fewer at the right
// edge), as lanes: t[d] holds column c0 + d of every row.
TARGET INLINE void load_columns(__m512 t[16], const float *rows, int stride, int c0, int dim) {
    const __mmask16 mask = lane_mask(dim - c0);
    for (int i = 0; i < 16; i++) t[i] = _mm512_maskz_loadu_ps(mask, rows + (long)i * stride + c0);
    transpose16x16(t);
}

// load_columns's inverse for all of a row's columns: column d of 16 rows of `dim` (row stride
// `stride`) from columns[d], written, or with `accumulate` added, back into the rows.
TARGET INLINE void store_columns(const __m512 *columns, float *rows, int stride, int dim, bool accumulate) {
    __m512 t[16];
    for (int c0 = 0; c0 < dim; c0 += 16) {
        const __mmask16 mask = lane_mask(dim - c0);
        for (int d = 0; d < 16; d++) t[d] = c0 + d < dim ? columns[c0 + d] : _mm512_setzero_ps();
        transpose16x16(t);
        for (int i = 0; i < 16; i++) {
            float *y = rows + (long)i * stride + c0;
            _mm512_mask_storeu_ps(y, mask, accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y), t[i]) : t[i]);
        }
    }
}

#endif
