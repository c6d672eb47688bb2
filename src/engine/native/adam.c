/*
 * Adam's update of one variable, in place on tfjs's heap (src/train/adam.ts). Same rules as
 * instance-norm.c: the module works on buffers the caller allocated, with no globals, data or stack.
 *
 * Float32 storage, float64 arithmetic, in exactly the operations and order of adam.ts's JavaScript
 * loop (the path of the cpu backend), so both give the same bits:
 *   m' = beta1·m + (1 − beta1)·g
 *   v' = beta2·v + ((1 − beta2)·g)·g
 *   w' = w − (step_size·m') / (sqrt(v') / sqrt_correction2 + epsilon)
 * with m' and v' used unrounded in w' and stored rounded to float32, as JavaScript does when it
 * assigns to a Float32Array inside an expression. wasm's f64 operations, sqrt included, are
 * IEEE-754 correctly rounded, like JavaScript's, and nothing is fused (wasm SIMD has no fused
 * multiply-add), so the two lanes of a vector round as the scalar tail does.
 */
#include "simd.h"

typedef double d2 __attribute__((vector_size(16)));

static inline d2 dsplat(double x) { return (d2)wasm_f64x2_splat(x); }
static inline d2 low(f4 x) { return (d2)wasm_f64x2_promote_low_f32x4((v128_t)x); }
static inline d2 high(f4 x) { return (d2)wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle((v128_t)x, (v128_t)x, 2, 3, 2, 3)); }
static inline f4 join(d2 lo, d2 hi) {
  return (f4)wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero((v128_t)lo), wasm_f32x4_demote_f64x2_zero((v128_t)hi), 0, 1, 4, 5);
}

/*
 * Elements [4·begin, min(4·end, n)) of g, w, m, v: writes next (the new weights) and the new
 * moments over m and v. The unit is a group of 4 elements; the last group may be partial.
 */
EXPORT("adam_update")
void adam_update(const float *g, const float *w, float *next, float *m, float *v, int n, double beta1, double one_minus_beta1,
                 double beta2, double one_minus_beta2, double step_size, double sqrt_correction2, double epsilon, int begin,
                 int end) {
  int stop = 4 * end < n ? 4 * end : n;
  int j = 4 * begin;
  const d2 b1 = dsplat(beta1), c1 = dsplat(one_minus_beta1), b2 = dsplat(beta2), c2 = dsplat(one_minus_beta2);
  const d2 lr = dsplat(step_size), sc2 = dsplat(sqrt_correction2), eps = dsplat(epsilon);
  for (; j + 4 <= stop; j += 4) {
    f4 g4 = ld(g + j), m4 = ld(m + j), v4 = ld(v + j), w4 = ld(w + j);
    d2 g0 = low(g4), g1 = high(g4);
    d2 m0 = b1 * low(m4) + c1 * g0, m1 = b1 * high(m4) + c1 * g1;
    d2 v0 = b2 * low(v4) + c2 * g0 * g0, v1 = b2 * high(v4) + c2 * g1 * g1;
    d2 n0 = low(w4) - (lr * m0) / ((d2)wasm_f64x2_sqrt((v128_t)v0) / sc2 + eps);
    d2 n1 = high(w4) - (lr * m1) / ((d2)wasm_f64x2_sqrt((v128_t)v1) / sc2 + eps);
    st(m + j, join(m0, m1));
    st(v + j, join(v0, v1));
    st(next + j, join(n0, n1));
  }
  for (; j < stop; j++) {
    double gj = g[j];
    double mj = beta1 * (double)m[j] + one_minus_beta1 * gj;
    double vj = beta2 * (double)v[j] + one_minus_beta2 * gj * gj;
    m[j] = (float)mj;
    v[j] = (float)vj;
    next[j] = (float)((double)w[j] - (step_size * mj) / (__builtin_sqrt(vj) / sqrt_correction2 + epsilon));
  }
}
