/*
 * Element-wise kernels whose stock wasm versions are scalar loops on one thread
 * (src/engine/elementwise.ts). Same rules as instance-norm.c: the module works on buffers the
 * caller allocated, with no globals, data or stack. Each computes every element by the same
 * formula as the stock kernel or op it replaces, in float32, so the results are the same bits.
 */
#include "simd.h"

/* y = x < 0 ? alpha·x : x (tfjs-wasm's LeakyRelu) over elements [4·begin, min(4·end, n)). */
EXPORT("leaky_relu")
void leaky_relu(const float *x, float *y, float alpha, int n, int begin, int end) {
  int stop = 4 * end < n ? 4 * end : n;
  int j = 4 * begin;
  const f4 a = splat(alpha), zero = splat(0);
  for (; j + 4 <= stop; j += 4) {
    f4 v = ld(x + j);
    st(y + j, (f4)wasm_v128_bitselect((v128_t)(a * v), (v128_t)v, wasm_f32x4_lt((v128_t)v, (v128_t)zero)));
  }
  for (; j < stop; j++) y[j] = x[j] < 0 ? alpha * x[j] : x[j];
}

/* dx = x > 0 ? dy : dy·alpha (tfjs's LeakyRelu gradient: where(greater(x, 0), dy, mul(dy, alpha))). */
EXPORT("leaky_relu_grad")
void leaky_relu_grad(const float *dy, const float *x, float *dx, float alpha, int n, int begin, int end) {
  int stop = 4 * end < n ? 4 * end : n;
  int j = 4 * begin;
  const f4 a = splat(alpha), zero = splat(0);
  for (; j + 4 <= stop; j += 4) {
    f4 d = ld(dy + j);
    st(dx + j, (f4)wasm_v128_bitselect((v128_t)d, (v128_t)(d * a), wasm_f32x4_gt((v128_t)ld(x + j), (v128_t)zero)));
  }
  for (; j < stop; j++) dx[j] = x[j] > 0 ? dy[j] : dy[j] * alpha;
}

/*
 * One piece of a split along the last axis: out[p][k] = x[p][offset + k] for k < width, rows p
 * in [begin, end) of x's rows of `row` values (tfjs's SplitV on that axis: the gradient of a
 * channel concatenation, the U-Net's skip connections).
 */
EXPORT("slice_last_axis")
void slice_last_axis(const float *x, float *out, int row, int offset, int width, int begin, int end) {
  for (int p = begin; p < end; p++) {
    const float *s = x + (long)p * row + offset;
    float *d = out + (long)p * width;
    int k = 0;
    for (; k + 4 <= width; k += 4) st(d + k, ld(s + k));
    for (; k < width; k++) d[k] = s[k];
  }
}

/*
 * out[k] = Σ_p x[p][k] over the rows p of x (`rows` of `c` values), summed in row order in float32
 * as tfjs-wasm's Sum does over the axes before the last (a bias's gradient), for the channel groups
 * [begin, end) of 4; the last group may be partial.
 */
EXPORT("sum_rows")
void sum_rows(const float *x, float *out, int rows, int c, int begin, int end) {
  int stop = 4 * end < c ? 4 * end : c;
  int k = 4 * begin;
  for (; k + 4 <= stop; k += 4) {
    f4 acc = splat(0);
    for (int p = 0; p < rows; p++) acc += ld(x + (long)p * c + k);
    st(out + k, acc);
  }
  for (; k < stop; k++) {
    float acc = 0;
    for (int p = 0; p < rows; p++) acc += x[(long)p * c + k];
    out[k] = acc;
  }
}
