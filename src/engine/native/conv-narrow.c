/*
 * Convolutions with few input or few output channels, direct, in wasm SIMD (conv2d-narrow.ts): the
 * ResNets' 7x7 layers from and to RGB and their input gradients, where XNNPACK's products have
 * 3 rows or columns and run far below its speed. Same rules as instance-norm.c: the module works
 * in tfjs's heap on buffers the caller allocated, with no globals, data or stack.
 *
 * y[n][oh][ow][o] = bias[o] + Σ over kh, kw, c of x[n][oh·sh + kh - pad_top][ow·sw + kw - pad_left][c]
 * · w[kh][kw][c][o], zero outside x, then relu when asked. Output pixels go in pairs, so each
 * filter load serves two. Where a filter row's window lies inside x (stride-1 columns: most
 * pixels) its kw·ci inputs are contiguous and run as one loop; elsewhere taps outside x read from
 * `zero`, a block of at least ci zeros, and rows outside x are skipped. Both paths sum in the
 * same order (kh, kw, c), and every output element is computed the same way whoever computes it. A call takes the output rows (n·out_high + oh) begin..end-1, so threads
 * split rows and results do not depend on their number.
 */
#include "simd.h"

static inline float hsum(f4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

static inline const float *input_pixel(const float *x, const float *zero, int n, int ih, int iw, int height, int width, int c) {
  if (ih < 0 || ih >= height || iw < 0 || iw >= width) return zero;
  return x + (((long)n * height + ih) * width + iw) * c;
}

/* Where the taps of one filter row start for a pair of pixels, or null when a tap lies outside x. */
static inline const float *window(const float *x, int n, int ih, int iw0, int height, int width, int c, int kernel_wide) {
  if (iw0 < 0 || iw0 + kernel_wide > width) return 0;
  return x + (((long)n * height + ih) * width + iw0) * c;
}

/*
 * Few outputs (co <= 4), ci a multiple of 4: vectors over input channels, four accumulators per
 * pixel (one per output), summed across lanes at the end. wt is the filter rearranged to
 * [kh][4][kw][ci], outputs past co zero (conv2d-narrow.ts writes it), so that a filter row of one
 * output is contiguous like the inputs it meets.
 */
#define FEW_OUT_STEP(pa, pb, w, t)                                                                                                  \
  do {                                                                                                                           \
    f4 va = ld((pa) + (t)), vb = ld((pb) + (t));                                                                                 \
    f4 w0 = ld((w) + (t)), w1 = ld((w) + row_len + (t)), w2 = ld((w) + 2 * row_len + (t)), w3 = ld((w) + 3 * row_len + (t));       \
    a0 += va * w0;                                                                                                               \
    a1 += va * w1;                                                                                                               \
    a2 += va * w2;                                                                                                               \
    a3 += va * w3;                                                                                                               \
    b0 += vb * w0;                                                                                                               \
    b1 += vb * w1;                                                                                                               \
    b2 += vb * w2;                                                                                                               \
    b3 += vb * w3;                                                                                                               \
  } while (0)

EXPORT("conv_few_out")
void conv_few_out(const float *x, const float *wt, const float *bias, const float *zero, float *y, int height, int width, int ci, int out_high,
                  int out_wide, int co, int kernel_high, int kernel_wide, int stride_high, int stride_wide, int pad_top, int pad_left,
                  int relu, int begin, int end) {
  int row_len = kernel_wide * ci;
  for (int row = begin; row < end; row++) {
    int n = row / out_high, oh = row - n * out_high;
    for (int ow = 0; ow < out_wide; ow += 2) {
      int ow_b = ow + 1 < out_wide ? ow + 1 : ow;
      int iw_a = ow * stride_wide - pad_left, iw_b = ow_b * stride_wide - pad_left;
      f4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
      for (int kh = 0; kh < kernel_high; kh++) {
        int ih = oh * stride_high + kh - pad_top;
        if (ih < 0 || ih >= height) continue;
        const float *w = wt + (long)kh * 4 * row_len;
        const float *pa = window(x, n, ih, iw_a, height, width, ci, kernel_wide);
        const float *pb = window(x, n, ih, iw_b, height, width, ci, kernel_wide);
        if (pa && pb) {
          for (int t = 0; t < row_len; t += 4) FEW_OUT_STEP(pa, pb, w, t);
        } else {
          for (int kw = 0; kw < kernel_wide; kw++, w += ci) {
            const float *xa = input_pixel(x, zero, n, ih, iw_a + kw, height, width, ci);
            const float *xb = input_pixel(x, zero, n, ih, iw_b + kw, height, width, ci);
            for (int c = 0; c < ci; c += 4) FEW_OUT_STEP(xa, xb, w, c);
          }
        }
      }
      float *ya = y + ((long)row * out_wide + ow) * co;
      // Selected, not indexed: an array of the sums would live on the stack.
      for (int o = 0; o < co; o++) {
        float va = o == 0 ? hsum(a0) : o == 1 ? hsum(a1) : o == 2 ? hsum(a2) : hsum(a3);
        float vb = o == 0 ? hsum(b0) : o == 1 ? hsum(b1) : o == 2 ? hsum(b2) : hsum(b3);
        if (bias) va += bias[o], vb += bias[o];
        ya[o] = relu && va < 0 ? 0 : va;
        if (ow_b != ow) ya[co + o] = relu && vb < 0 ? 0 : vb;
      }
    }
  }
}

/*
 * Few inputs (ci <= 4), co a multiple of 4: vectors over output channels, 16 at a time (then 4),
 * each input value splatted across them. A filter row's kw·ci inputs meet the filter's rows
 * w[kh][kw][c] in the same contiguous order.
 */
#define FEW_IN_STEP16(pa, pb, wp)                                                                                                   \
  do {                                                                                                                           \
    f4 va = ld_splat(pa), vb = ld_splat(pb);                                                                                     \
    f4 w0 = ld(wp), w1 = ld((wp) + 4), w2 = ld((wp) + 8), w3 = ld((wp) + 12);                                                    \
    a0 += va * w0;                                                                                                               \
    a1 += va * w1;                                                                                                               \
    a2 += va * w2;                                                                                                               \
    a3 += va * w3;                                                                                                               \
    b0 += vb * w0;                                                                                                               \
    b1 += vb * w1;                                                                                                               \
    b2 += vb * w2;                                                                                                               \
    b3 += vb * w3;                                                                                                               \
  } while (0)
#define FEW_IN_STEP4(pa, pb, wp)                                                                                                    \
  do {                                                                                                                           \
    f4 w0 = ld(wp);                                                                                                              \
    a0 += ld_splat(pa) * w0;                                                                                                     \
    b0 += ld_splat(pb) * w0;                                                                                                     \
  } while (0)
/* The taps of the pair's output pixels, for one group of output channels, with STEP per input. */
#define FEW_IN_TAPS(STEP)                                                                                                          \
  for (int kh = 0; kh < kernel_high; kh++) {                                                                                     \
    int ih = oh * stride_high + kh - pad_top;                                                                                    \
    if (ih < 0 || ih >= height) continue;                                                                                        \
    const float *wp = w + (long)kh * row_len * co + g;                                                                           \
    const float *pa = window(x, n, ih, iw_a, height, width, ci, kernel_wide);                                                    \
    const float *pb = window(x, n, ih, iw_b, height, width, ci, kernel_wide);                                                    \
    if (pa && pb) {                                                                                                              \
      for (int t = 0; t < row_len; t++, wp += co) STEP(pa + t, pb + t, wp);                                                      \
    } else {                                                                                                                     \
      for (int kw = 0; kw < kernel_wide; kw++) {                                                                                 \
        const float *xa = input_pixel(x, zero, n, ih, iw_a + kw, height, width, ci);                                             \
        const float *xb = input_pixel(x, zero, n, ih, iw_b + kw, height, width, ci);                                             \
        for (int c = 0; c < ci; c++, wp += co) STEP(xa + c, xb + c, wp);                                                         \
      }                                                                                                                          \
    }                                                                                                                            \
  }

EXPORT("conv_few_in")
void conv_few_in(const float *x, const float *w, const float *bias, const float *zero, float *y, int height, int width, int ci, int out_high,
                 int out_wide, int co, int kernel_high, int kernel_wide, int stride_high, int stride_wide, int pad_top, int pad_left,
                 int relu, int begin, int end) {
  f4 floor = splat(relu ? 0.0f : -__builtin_inff());
  int row_len = kernel_wide * ci;
  for (int row = begin; row < end; row++) {
    int n = row / out_high, oh = row - n * out_high;
    for (int ow = 0; ow < out_wide; ow += 2) {
      int ow_b = ow + 1 < out_wide ? ow + 1 : ow;
      int iw_a = ow * stride_wide - pad_left, iw_b = ow_b * stride_wide - pad_left;
      float *ya = y + ((long)row * out_wide + ow) * co, *yb = y + ((long)row * out_wide + ow_b) * co;
      int g = 0;
      for (; g + 16 <= co; g += 16) {
        f4 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
        FEW_IN_TAPS(FEW_IN_STEP16)
        if (bias) {
          f4 c0 = ld(bias + g), c1 = ld(bias + g + 4), c2 = ld(bias + g + 8), c3 = ld(bias + g + 12);
          a0 += c0, a1 += c1, a2 += c2, a3 += c3, b0 += c0, b1 += c1, b2 += c2, b3 += c3;
        }
        // b first: for a row's last, unpaired pixel yb is ya, and a's values must be the ones left.
        st(yb + g, wasm_f32x4_pmax(b0, floor));
        st(yb + g + 4, wasm_f32x4_pmax(b1, floor));
        st(yb + g + 8, wasm_f32x4_pmax(b2, floor));
        st(yb + g + 12, wasm_f32x4_pmax(b3, floor));
        st(ya + g, wasm_f32x4_pmax(a0, floor));
        st(ya + g + 4, wasm_f32x4_pmax(a1, floor));
        st(ya + g + 8, wasm_f32x4_pmax(a2, floor));
        st(ya + g + 12, wasm_f32x4_pmax(a3, floor));
      }
      for (; g < co; g += 4) {
        f4 a0 = {0}, b0 = {0};
        FEW_IN_TAPS(FEW_IN_STEP4)
        if (bias) {
          f4 c0 = ld(bias + g);
          a0 += c0, b0 += c0;
        }
        st(yb + g, wasm_f32x4_pmax(b0, floor));
        st(ya + g, wasm_f32x4_pmax(a0, floor));
      }
    }
  }
}
