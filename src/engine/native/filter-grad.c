/*
 * The filter gradient of a convolution with few input or output channels (the ResNets' 7x7
 * layers from and to RGB, PatchGAN's last layer), in wasm SIMD: there the matrix products the
 * general kernel (conv2d-backprop-filter.ts) reduces to have 1-4 rows or columns, which XNNPACK
 * runs far below its speed. Same rules as instance-norm.c: the module works in tfjs's heap on
 * buffers the caller allocated, with no globals, data or stack.
 *
 * dW[kh][kw][ci][co] = Σ over n, oh, ow of x[n][oh·sh + kh - pad_top][ow·sw + kw - pad_left][ci] ·
 * dy[n][oh][ow][co], accumulated pixel by pixel in a fixed order. A call computes the kernel rows
 * kh = begin..end-1 whole, so threads split the rows and results do not depend on their number.
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))

typedef float f4 __attribute__((vector_size(16)));

static inline f4 ld(const float *p) { return (f4)wasm_v128_load(p); }
static inline void st(float *p, f4 v) { wasm_v128_store(p, (v128_t)v); }
static inline f4 splat(float x) { return (f4)wasm_f32x4_splat(x); }

/*
 * vector_co: 1 when co is a multiple of 4 (accumulate over output channels straight into dw,
 * HWIO); else ci must be a multiple of 4 and the sums go to acc [kh][kw][co][ci] (kernel rows
 * begin..end-1), transposed into dw at the end.
 */
EXPORT("filter_grad_small")
void filter_grad_small(const float *x, const float *dy, float *dw, float *acc, int batch, int height, int width, int ci, int out_high,
                       int out_wide, int co, int kernel_high, int kernel_wide, int stride_high, int stride_wide, int pad_top, int pad_left,
                       int vector_co, int begin, int end) {
  long tap = (long)ci * co;
  float *sums = vector_co ? dw : acc;
  for (long i = begin * kernel_wide * tap; i < end * kernel_wide * tap; i++) sums[i] = 0;
  for (int n = 0; n < batch; n++) {
    for (int oh = 0; oh < out_high; oh++) {
      for (int ow = 0; ow < out_wide; ow++) {
        const float *g = dy + (((long)n * out_high + oh) * out_wide + ow) * co;
        for (int kh = begin; kh < end; kh++) {
          int ih = oh * stride_high + kh - pad_top;
          if (ih < 0 || ih >= height) continue;
          for (int kw = 0; kw < kernel_wide; kw++) {
            int iw = ow * stride_wide + kw - pad_left;
            if (iw < 0 || iw >= width) continue;
            const float *xp = x + (((long)n * height + ih) * width + iw) * ci;
            float *s = sums + (kh * kernel_wide + kw) * tap;
            if (vector_co) {
              for (int c = 0; c < ci; c++, s += co) {
                f4 xv = splat(xp[c]);
                for (int o = 0; o < co; o += 4) st(s + o, ld(s + o) + xv * ld(g + o));
              }
            } else {
              for (int o = 0; o < co; o++, s += ci) {
                f4 gv = splat(g[o]);
                for (int c = 0; c < ci; c += 4) st(s + c, ld(s + c) + ld(xp + c) * gv);
              }
            }
          }
        }
      }
    }
  }
  if (!vector_co) {
    for (long t = begin * kernel_wide; t < end * kernel_wide; t++) {
      for (int o = 0; o < co; o++) {
        for (int c = 0; c < ci; c++) dw[t * tap + (long)c * co + o] = acc[t * tap + (long)o * ci + c];
      }
    }
  }
}
