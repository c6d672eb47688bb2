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

/*
 * The gradient of a reflect (offset 1) or symmetric (offset 0) padding of NHWC x by top, bottom,
 * left and right: each pixel of dx gathers the pixels of dy that are copies of it. Summed as the
 * op-by-op fold in models/layers/reflection-padding.ts does, rows first, then columns, each as
 * (interior + before) + after with a zero where a padded side has no copy of the pixel, so the
 * two give the same bits. Rows (sample · h + i) of dx in [begin, end).
 */
static inline int before_copy(int i, int pad, int offset) { return i >= offset && i < offset + pad ? pad - 1 - (i - offset) : -1; }
static inline int after_copy(int i, int size, int pad, int before, int offset) {
  int first = size - offset - pad;
  return i >= first && i < size - offset ? before + size + (pad - 1 - (i - first)) : -1;
}

static inline f4 fold_rows(const float *dy, int pw, int c, int col, int k, int ri, int rb, int ra, int top, int bottom) {
  f4 v = ld(dy + ((long)ri * pw + col) * c + k);
  if (top > 0) v += rb >= 0 ? ld(dy + ((long)rb * pw + col) * c + k) : splat(0);
  if (bottom > 0) v += ra >= 0 ? ld(dy + ((long)ra * pw + col) * c + k) : splat(0);
  return v;
}

static inline float fold_rows1(const float *dy, int pw, int c, int col, int k, int ri, int rb, int ra, int top, int bottom) {
  float v = dy[((long)ri * pw + col) * c + k];
  if (top > 0) v += rb >= 0 ? dy[((long)rb * pw + col) * c + k] : 0.0f;
  if (bottom > 0) v += ra >= 0 ? dy[((long)ra * pw + col) * c + k] : 0.0f;
  return v;
}

EXPORT("mirror_pad_grad")
void mirror_pad_grad(const float *dy, float *dx, int h, int w, int c, int top, int bottom, int left, int right, int offset, int begin,
                     int end) {
  int ph = h + top + bottom, pw = w + left + right;
  for (int row = begin; row < end; row++) {
    int n = row / h, i = row - n * h;
    const float *d = dy + (long)n * ph * pw * c;
    int ri = i + top, rb = before_copy(i, top, offset), ra = after_copy(i, h, bottom, top, offset);
    for (int j = 0; j < w; j++) {
      int ci = j + left, cb = before_copy(j, left, offset), ca = after_copy(j, w, right, left, offset);
      float *out = dx + ((long)row * w + j) * c;
      int k = 0;
      for (; k + 4 <= c; k += 4) {
        f4 v = fold_rows(d, pw, c, ci, k, ri, rb, ra, top, bottom);
        if (left > 0) v += cb >= 0 ? fold_rows(d, pw, c, cb, k, ri, rb, ra, top, bottom) : splat(0);
        if (right > 0) v += ca >= 0 ? fold_rows(d, pw, c, ca, k, ri, rb, ra, top, bottom) : splat(0);
        st(out + k, v);
      }
      for (; k < c; k++) {
        float v = fold_rows1(d, pw, c, ci, k, ri, rb, ra, top, bottom);
        if (left > 0) v += cb >= 0 ? fold_rows1(d, pw, c, cb, k, ri, rb, ra, top, bottom) : 0.0f;
        if (right > 0) v += ca >= 0 ? fold_rows1(d, pw, c, ca, k, ri, rb, ra, top, bottom) : 0.0f;
        out[k] = v;
      }
    }
  }
}
