/*
 * The filter gradients the Winograd kernels (winograd.c) do not take, in wasm SIMD. Same rules as
 * instance-norm.c: the module works in tfjs's heap on buffers the caller allocated, with no
 * globals, data or stack.
 *
 * dW[kh][kw][ci][co] = Σ over n, oh, ow of x[n][oh·sh + kh - pad_top][ow·sw + kw - pad_left][ci] ·
 * dy[n][oh][ow][co], accumulated pixel by pixel in a fixed order, by one of two kernels:
 * - filter_grad_gemm, every convolution: one matrix product read in place (below).
 * - filter_grad_small, few output channels (the ResNets' 7x7 layer to RGB, PatchGAN's last):
 *   there the product's 1-4 columns leave its 4x8 blocks empty, and accumulating pixel by pixel
 *   over vectors of input channels is faster. A call computes the kernel rows kh = begin..end-1
 *   whole, so threads split the rows and results do not depend on their number.
 */
#include "simd.h"

/*
 * co is at most a few channels and ci a multiple of 4: the sums run over vectors of input channels into acc
 * [kh][kw][co][ci] (kernel rows begin..end-1), transposed into dw (HWIO) at the end.
 */
EXPORT("filter_grad_small")
void filter_grad_small(const float *x, const float *dy, float *dw, float *acc, int batch, int height, int width, int ci, int out_high,
                       int out_wide, int co, int kernel_high, int kernel_wide, int stride_high, int stride_wide, int pad_top, int pad_left,
                       int begin, int end) {
  long tap = (long)ci * co;
  for (long i = begin * kernel_wide * tap; i < end * kernel_wide * tap; i++) acc[i] = 0;
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
            float *s = acc + (kh * kernel_wide + kw) * tap;
            for (int o = 0; o < co; o++, s += ci) {
              f4 gv = splat(g[o]);
              for (int c = 0; c < ci; c += 4) st(s + c, ld(s + c) + ld(xp + c) * gv);
            }
          }
        }
      }
    }
  }
  for (long t = begin * kernel_wide; t < end * kernel_wide; t++) {
    for (int o = 0; o < co; o++) {
      for (int c = 0; c < ci; c++) dw[t * tap + (long)c * co + o] = acc[t * tap + (long)o * ci + c];
    }
  }
}

/*
 * The filter gradient of every other convolution (any stride, padding, channel counts) as one
 * matrix product per call, dW [taps·ci][co] += Xᵀ · dY, read in place: X [pixels][taps·ci] is the
 * im2col matrix of x (row p holds, tap after tap, the ci inputs output pixel p saw), gathered a
 * chunk of pixels and a block of dW rows at a time into `panel` (chunk × block_rows floats, the
 * calling part's own), dY [pixels][co] is dy itself. The panel block stays in L1 and dW's block
 * rows in L2 while every pixel goes by, so nothing im2col-sized is ever allocated.
 *
 * A part computes the dW rows 4·begin .. min(4·end, rows) whole; each element is summed over the
 * pixels in the same order (chunk after chunk, pixel after pixel) whoever computes it, so results
 * do not depend on the thread count.
 */

/* Gathers the panel: row q holds the dW rows r0..r1-1's inputs for output pixel p0 + q. */
static void gather_panel(const float *x, float *panel, int block_rows, long p0, int count, int r0, int r1, int height, int width, int ci,
                         int out_high, int out_wide, int kernel_wide, int stride_high, int stride_wide, int pad_top, int pad_left) {
  long image = (long)out_high * out_wide;
  for (int q = 0; q < count; q++) {
    long p = p0 + q;
    int n = (int)(p / image);
    int rest = (int)(p - n * image);
    int oh = rest / out_wide, ow = rest - oh * out_wide;
    float *row = panel + (long)q * block_rows;
    for (int m = r0; m < r1;) {
      int t = m / ci, c0 = m - t * ci;
      int len = ci - c0 < r1 - m ? ci - c0 : r1 - m;
      int kh = t / kernel_wide, kw = t - kh * kernel_wide;
      int ih = oh * stride_high + kh - pad_top, iw = ow * stride_wide + kw - pad_left;
      float *d = row + (m - r0);
      if (ih < 0 || ih >= height || iw < 0 || iw >= width) {
        for (int i = 0; i < len; i++) d[i] = 0;
      } else {
        __builtin_memcpy(d, x + (((long)n * height + ih) * width + iw) * ci + c0, (unsigned long)len * sizeof(float));
      }
      m += len;
    }
  }
}

#define STORE_LANES(at, v, stride)                                                                                                 \
  do {                                                                                                                           \
    (at)[0] = (v)[0];                                                                                                            \
    (at)[stride] = (v)[1];                                                                                                       \
    (at)[2 * (stride)] = (v)[2];                                                                                                 \
    (at)[3 * (stride)] = (v)[3];                                                                                                 \
  } while (0)

/* C [m][n] (row stride ldc) += Aᵀ · B, A [k][m] (row stride lda), B [k][n] (row stride ldb). */
static void products_tn_acc(const float *a, int lda, const float *b, int ldb, float *c, int ldc, int m, int k, int n) {
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    int i = 0;
    for (; i + 4 <= m; i += 4) {
      float *cp = c + (long)i * ldc + j;
      f4 c00 = ld(cp), c01 = ld(cp + 4), c10 = ld(cp + ldc), c11 = ld(cp + ldc + 4);
      f4 c20 = ld(cp + 2 * ldc), c21 = ld(cp + 2 * ldc + 4), c30 = ld(cp + 3 * ldc), c31 = ld(cp + 3 * ldc + 4);
      const float *ap = a + i, *bp = b + j;
      for (int p = 0; p < k; p++, ap += lda, bp += ldb) {
        f4 b0 = ld(bp), b1 = ld(bp + 4), x = ld(ap);
        f4 x0 = __builtin_shufflevector(x, x, 0, 0, 0, 0), x1 = __builtin_shufflevector(x, x, 1, 1, 1, 1);
        f4 x2 = __builtin_shufflevector(x, x, 2, 2, 2, 2), x3 = __builtin_shufflevector(x, x, 3, 3, 3, 3);
        ACCUMULATE_4X8(x0, x1, x2, x3, b0, b1);
      }
      STORE_4X8(cp, ldc);
    }
    for (; i < m; i++) {
      float *cp = c + (long)i * ldc + j;
      f4 c0 = ld(cp), c1 = ld(cp + 4);
      const float *ap = a + i, *bp = b + j;
      for (int p = 0; p < k; p++, ap += lda, bp += ldb) {
        f4 x = splat(ap[0]);
        c0 += x * ld(bp);
        c1 += x * ld(bp + 4);
      }
      st(cp, c0);
      st(cp + 4, c1);
    }
  }
  for (; j < n; j++) {
    int i = 0;
    for (; i + 16 <= m; i += 16) {
      float *cp = c + (long)i * ldc + j;
      f4 s0 = {cp[0], cp[ldc], cp[2 * ldc], cp[3 * ldc]};
      f4 s1 = {cp[4 * ldc], cp[5 * ldc], cp[6 * ldc], cp[7 * ldc]};
      f4 s2 = {cp[8 * ldc], cp[9 * ldc], cp[10 * ldc], cp[11 * ldc]};
      f4 s3 = {cp[12 * ldc], cp[13 * ldc], cp[14 * ldc], cp[15 * ldc]};
      const float *ap = a + i, *bp = b + j;
      for (int p = 0; p < k; p++, ap += lda, bp += ldb) {
        f4 y = splat(bp[0]);
        s0 += ld(ap) * y;
        s1 += ld(ap + 4) * y;
        s2 += ld(ap + 8) * y;
        s3 += ld(ap + 12) * y;
      }
      // Constant lanes: a lane picked by a variable index would be read through the stack.
      STORE_LANES(cp, s0, ldc);
      STORE_LANES(cp + 4 * ldc, s1, ldc);
      STORE_LANES(cp + 8 * ldc, s2, ldc);
      STORE_LANES(cp + 12 * ldc, s3, ldc);
    }
    for (; i < m; i++) {
      float s = c[(long)i * ldc + j];
      const float *ap = a + i, *bp = b + j;
      for (int p = 0; p < k; p++, ap += lda, bp += ldb) s += ap[0] * bp[0];
      c[(long)i * ldc + j] = s;
    }
  }
}

EXPORT("filter_grad_gemm")
void filter_grad_gemm(const float *x, const float *dy, float *dw, float *panel, int batch, int height, int width, int ci, int out_high,
                      int out_wide, int co, int kernel_high, int kernel_wide, int stride_high, int stride_wide, int pad_top, int pad_left,
                      int block_rows, int chunk, int begin, int end) {
  int rows = kernel_high * kernel_wide * ci;
  int first = 4 * begin, last = 4 * end < rows ? 4 * end : rows;
  long pixels = (long)batch * out_high * out_wide;
  for (long i = (long)first * co; i < (long)last * co; i++) dw[i] = 0;
  for (int r0 = first; r0 < last; r0 += block_rows) {
    int r1 = r0 + block_rows < last ? r0 + block_rows : last;
    for (long p0 = 0; p0 < pixels; p0 += chunk) {
      int count = pixels - p0 < chunk ? (int)(pixels - p0) : chunk;
      gather_panel(x, panel, block_rows, p0, count, r0, r1, height, width, ci, out_high, out_wide, kernel_wide, stride_high, stride_wide,
                   pad_top, pad_left);
      products_tn_acc(panel, block_rows, dy + p0 * co, co, dw + (long)r0 * co, co, r1 - r0, count, co);
    }
  }
}
