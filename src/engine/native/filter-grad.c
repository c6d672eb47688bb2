/*
 * The filter gradients the Winograd kernels (winograd.c) do not take, in wasm SIMD. Same rules as
 * instance-norm.c: the module works in tfjs's heap on buffers the caller allocated, with no
 * globals, data or stack.
 *
 * dW[kh][kw][ci][co] = Σ over n, oh, ow of x[n][oh·sh + kh - pad_top][ow·sw + kw - pad_left][ci] ·
 * dy[n][oh][ow][co], accumulated pixel by pixel in a fixed order, by one of two kernels:
 * - filter_grad_gemm, every convolution: one matrix product read in place (below).
 * - filter_grad_small, few output channels (the ResNets' 7x7 layer to RGB, PatchGAN's last):
 *   there the product's 1-4 columns leave its 4x8 blocks empty, and sums over vectors of input
 *   channels kept in registers across a band of pixels are faster.
 */
#include "simd.h"

/*
 * Few outputs (co <= 4), ci a multiple of 4. For each tap and group of 8 input channels, the sums
 * acc[tap][o][c..c+7] stay in registers while a band of output rows goes by (its inputs are in
 * L2), each pixel adding x·dy[o] for its co values; then they go back to acc [kh·kw][co][ci],
 * which is transposed into dw (HWIO) at the end. A call takes the taps begin..end-1 whole, so
 * threads split taps and results do not depend on their number.
 */
#define SMALL_PIXEL(CO, WIDE)                                                                                                       \
  do {                                                                                                                           \
    f4 x0 = ld(xp), x1 = (WIDE) ? ld(xp + 4) : x0;                                                                               \
    f4 g0 = ld_splat(gp);                                                                                                        \
    s00 += x0 * g0;                                                                                                              \
    s01 += x1 * g0;                                                                                                              \
    if ((CO) > 1) {                                                                                                              \
      f4 g1 = ld_splat(gp + 1);                                                                                                  \
      s10 += x0 * g1;                                                                                                            \
      s11 += x1 * g1;                                                                                                            \
    }                                                                                                                            \
    if ((CO) > 2) {                                                                                                              \
      f4 g2 = ld_splat(gp + 2);                                                                                                  \
      s20 += x0 * g2;                                                                                                            \
      s21 += x1 * g2;                                                                                                            \
    }                                                                                                                            \
    if ((CO) > 3) {                                                                                                              \
      f4 g3 = ld_splat(gp + 3);                                                                                                  \
      s30 += x0 * g3;                                                                                                            \
      s31 += x1 * g3;                                                                                                            \
    }                                                                                                                            \
  } while (0)
/* One row of a band: the pixels whose input for this tap lies inside x. */
#define SMALL_ROW(CO, WIDE)                                                                                                         \
  for (int ow = ow_lo; ow < ow_hi; ow++, xp += stride_wide * ci, gp += co) SMALL_PIXEL(CO, WIDE)

/* The sums of one tap and 8 (or, at the end, 4) input channels over the band's rows. */
static void small_block(const float *x, const float *dy, float *sums, int ci, int c, int wide8, int n, int oh0, int oh1, int ih_base,
                        int iw_base, int height, int width, int out_high, int out_wide, int co, int stride_high, int stride_wide) {
  long tap_ci = ci;
  f4 s00 = ld(sums + c), s10 = {0}, s20 = {0}, s30 = {0};
  f4 s01 = wide8 ? ld(sums + c + 4) : (f4){0}, s11 = {0}, s21 = {0}, s31 = {0};
  if (co > 1) s10 = ld(sums + tap_ci + c), s11 = wide8 ? ld(sums + tap_ci + c + 4) : (f4){0};
  if (co > 2) s20 = ld(sums + 2 * tap_ci + c), s21 = wide8 ? ld(sums + 2 * tap_ci + c + 4) : (f4){0};
  if (co > 3) s30 = ld(sums + 3 * tap_ci + c), s31 = wide8 ? ld(sums + 3 * tap_ci + c + 4) : (f4){0};
  // Columns whose input lies inside x: 0 <= ow·sw + iw_base < width.
  int ow_lo = iw_base >= 0 ? 0 : (-iw_base + stride_wide - 1) / stride_wide;
  int ow_hi = width - 1 - iw_base < 0 ? 0 : (width - 1 - iw_base) / stride_wide + 1;
  if (ow_hi > out_wide) ow_hi = out_wide;
  for (int oh = oh0; oh < oh1; oh++) {
    int ih = oh * stride_high + ih_base;
    if (ih < 0 || ih >= height || ow_lo >= ow_hi) continue;
    const float *xp = x + (((long)n * height + ih) * width + ow_lo * stride_wide + iw_base) * ci + c;
    const float *gp = dy + (((long)n * out_high + oh) * out_wide + ow_lo) * co;
    // Constant counts in each loop, so the unused sums drop out. A 4-channel group's s*1 are never stored.
    switch (co * 2 + wide8) {
      case 2: SMALL_ROW(1, 0); break;
      case 3: SMALL_ROW(1, 1); break;
      case 4: SMALL_ROW(2, 0); break;
      case 5: SMALL_ROW(2, 1); break;
      case 6: SMALL_ROW(3, 0); break;
      case 7: SMALL_ROW(3, 1); break;
      case 8: SMALL_ROW(4, 0); break;
      default: SMALL_ROW(4, 1); break;
    }
  }
  st(sums + c, s00);
  if (wide8) st(sums + c + 4, s01);
  if (co > 1) {
    st(sums + tap_ci + c, s10);
    if (wide8) st(sums + tap_ci + c + 4, s11);
  }
  if (co > 2) {
    st(sums + 2 * tap_ci + c, s20);
    if (wide8) st(sums + 2 * tap_ci + c + 4, s21);
  }
  if (co > 3) {
    st(sums + 3 * tap_ci + c, s30);
    if (wide8) st(sums + 3 * tap_ci + c + 4, s31);
  }
}

EXPORT("filter_grad_small")
void filter_grad_small(const float *x, const float *dy, float *dw, float *acc, int batch, int height, int width, int ci, int out_high,
                       int out_wide, int co, int kernel_high, int kernel_wide, int stride_high, int stride_wide, int pad_top, int pad_left,
                       int band, int begin, int end) {
  long tap = (long)ci * co;
  for (long i = begin * tap; i < end * tap; i++) acc[i] = 0;
  for (int n = 0; n < batch; n++) {
    for (int oh0 = 0; oh0 < out_high; oh0 += band) {
      int oh1 = oh0 + band < out_high ? oh0 + band : out_high;
      for (int t = begin; t < end; t++) {
        int kh = t / kernel_wide, kw = t - kh * kernel_wide;
        for (int c = 0; c < ci; c += 8) {
          small_block(x, dy, acc + t * tap, ci, c, c + 8 <= ci, n, oh0, oh1, kh - pad_top, kw - pad_left, height, width, out_high, out_wide,
                      co, stride_high, stride_wide);
        }
      }
    }
  }
  for (long t = begin; t < end; t++) {
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

/*
 * Gathers the panel: row q holds the dW rows r0..r1-1's inputs for output pixel p0 + q. The
 * inputs of one filter row (kh) are contiguous in x wherever its window lies inside x, so they
 * go as one copy; the rest tap by tap, zeros outside x.
 */
static void gather_panel(const float *x, float *panel, int block_rows, long p0, int count, int r0, int r1, int height, int width, int ci,
                         int out_high, int out_wide, int kernel_wide, int stride_high, int stride_wide, int pad_top, int pad_left) {
  long image = (long)out_high * out_wide;
  int row_len = kernel_wide * ci;
  for (int q = 0; q < count; q++) {
    long p = p0 + q;
    int n = (int)(p / image);
    int rest = (int)(p - n * image);
    int oh = rest / out_wide, ow = rest - oh * out_wide;
    int iw0 = ow * stride_wide - pad_left;
    int whole_row = iw0 >= 0 && iw0 + kernel_wide <= width;
    float *d = panel + (long)q * block_rows;
    for (int m = r0; m < r1;) {
      int kh = m / row_len, within = m - kh * row_len;
      int ih = oh * stride_high + kh - pad_top;
      int len;
      const float *s;
      if (whole_row) {
        len = row_len - within; // the rest of this filter row
        s = ih < 0 || ih >= height ? 0 : x + (((long)n * height + ih) * width + iw0) * ci + within;
      } else {
        int kw = within / ci, c0 = within - kw * ci, iw = iw0 + kw;
        len = ci - c0; // the rest of this tap
        s = ih < 0 || ih >= height || iw < 0 || iw >= width ? 0 : x + (((long)n * height + ih) * width + iw) * ci + c0;
      }
      if (len > r1 - m) len = r1 - m;
      if (!s) {
        for (int i = 0; i < len; i++) d[i] = 0;
      } else if (len >= 16) {
        __builtin_memcpy(d, s, (unsigned long)len * sizeof(float));
      } else {
        // memory.copy costs more than a short loop.
        for (int i = 0; i < len; i++) d[i] = s[i];
      }
      d += len;
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
        // Splatting loads, not one load and four shuffles: shuffles compete with the arithmetic for its ports.
        f4 b0 = ld(bp), b1 = ld(bp + 4);
        f4 x0 = ld_splat(ap), x1 = ld_splat(ap + 1), x2 = ld_splat(ap + 2), x3 = ld_splat(ap + 3);
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
