/*
 * What the engine's compiled kernels share: 4-float vectors, their loads and stores, exports, and
 * the 4x8 block of their matrix products.
 */
#ifndef CYCLEGAN_SIMD_H
#define CYCLEGAN_SIMD_H
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))

typedef float f4 __attribute__((vector_size(16)));

static inline f4 ld(const float *p) { return (f4)wasm_v128_load(p); }
static inline void st(float *p, f4 v) { wasm_v128_store(p, (v128_t)v); }
static inline f4 splat(float x) { return (f4)wasm_f32x4_splat(x); }
static inline f4 ld_splat(const float *p) { return (f4)wasm_v128_load32_splat(p); }

/*
 * The 4x8 block of the matrix products (winograd.c's and filter-grad.c's): accumulators c00..c31 (rows 0-3, column halves 0-1) take
 * x_r · b_h; then the block is stored at row stride n. Macros, not functions: the accumulators
 * must stay wasm locals (a pointer to them would put them on the stack, which this module has not).
 */
#define ACCUMULATE_4X8(x0, x1, x2, x3, b0, b1)                                                                                      \
  do {                                                                                                                           \
    c00 += (x0) * (b0);                                                                                                          \
    c01 += (x0) * (b1);                                                                                                          \
    c10 += (x1) * (b0);                                                                                                          \
    c11 += (x1) * (b1);                                                                                                          \
    c20 += (x2) * (b0);                                                                                                          \
    c21 += (x2) * (b1);                                                                                                          \
    c30 += (x3) * (b0);                                                                                                          \
    c31 += (x3) * (b1);                                                                                                          \
  } while (0)
#define STORE_4X8(at, n)                                                                                                           \
  do {                                                                                                                           \
    float *cp_ = (at);                                                                                                           \
    st(cp_, c00);                                                                                                                \
    st(cp_ + 4, c01);                                                                                                            \
    st(cp_ + (n), c10);                                                                                                          \
    st(cp_ + (n) + 4, c11);                                                                                                      \
    st(cp_ + 2 * (n), c20);                                                                                                      \
    st(cp_ + 2 * (n) + 4, c21);                                                                                                  \
    st(cp_ + 3 * (n), c30);                                                                                                      \
    st(cp_ + 3 * (n) + 4, c31);                                                                                                  \
  } while (0)

#endif
