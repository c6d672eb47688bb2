/*
 * Winograd F(4x4, 3x3) and F(3x3, 4x4) (src/engine/winograd.ts; the second at the end of this
 * file) in wasm SIMD: the filter, input and output transforms, the 36 matrix products, and the
 * filter gradient's transforms and products. Same
 * rules as instance-norm.c: the module works in tfjs's heap on buffers the caller allocated, with
 * no globals, data or stack.
 *
 * Layout (one buffer each, floats): U [36][ci][co] the transformed filter, V [36][tiles][ci] the
 * transformed input tiles, M [36][tiles][co] the products (or, for the filter gradient, the
 * transformed output-gradient tiles), dU [36][ci][co] the filter gradient's products.
 *
 * Every function takes a half-open range [begin, end) of its natural unit (tiles, positions, or
 * groups of four filter elements), so that threads sharing the heap can each take a part. Each
 * output element is computed by the same instructions whatever the split, so the results do not
 * depend on the thread count. wasm has no fused multiply-add here, so nothing is contracted.
 * (long is 32 bits on wasm32, like int: indices stay below 2^30 floats in tfjs's 4 GiB heap.)
 */
#include "simd.h"

/* d_b = Σ_j Bᵀ[b][j] s_j over c channels. */
static inline void input_pass(const float *s0, const float *s1, const float *s2, const float *s3, const float *s4, const float *s5,
                              float *d0, float *d1, float *d2, float *d3, float *d4, float *d5, int c) {
  int k = 0;
  for (; k + 4 <= c; k += 4) {
    f4 x0 = ld(s0 + k), x1 = ld(s1 + k), x2 = ld(s2 + k), x3 = ld(s3 + k), x4 = ld(s4 + k), x5 = ld(s5 + k);
    f4 a = x4 - 4 * x2, b = x3 - 4 * x1, e = x4 - x2, f = 2 * (x3 - x1);
    st(d0 + k, 4 * x0 - 5 * x2 + x4);
    st(d1 + k, a + b);
    st(d2 + k, a - b);
    st(d3 + k, e + f);
    st(d4 + k, e - f);
    st(d5 + k, 4 * x1 - 5 * x3 + x5);
  }
  for (; k < c; k++) {
    float x0 = s0[k], x1 = s1[k], x2 = s2[k], x3 = s3[k], x4 = s4[k], x5 = s5[k];
    float a = x4 - 4 * x2, b = x3 - 4 * x1, e = x4 - x2, f = 2 * (x3 - x1);
    d0[k] = 4 * x0 - 5 * x2 + x4;
    d1[k] = a + b;
    d2[k] = a - b;
    d3[k] = e + f;
    d4[k] = e - f;
    d5[k] = 4 * x1 - 5 * x3 + x5;
  }
}

/* y_q = Σ_b Aᵀ[q][b] s_b + bias, then max(y, 0) when relu. */
static inline void output_pass(const float *s0, const float *s1, const float *s2, const float *s3, const float *s4, const float *s5,
                               float *d0, float *d1, float *d2, float *d3, const float *bias, int relu, int c) {
  int k = 0;
  f4 zero = {0, 0, 0, 0};
  for (; k + 4 <= c; k += 4) {
    f4 m0 = ld(s0 + k), m1 = ld(s1 + k), m2 = ld(s2 + k), m3 = ld(s3 + k), m4 = ld(s4 + k), m5 = ld(s5 + k), b = ld(bias + k);
    f4 sum12 = m1 + m2, diff12 = m1 - m2, sum34 = m3 + m4, diff34 = m3 - m4;
    f4 y0 = m0 + sum12 + sum34 + b, y1 = diff12 + 2 * diff34 + b, y2 = sum12 + 4 * sum34 + b, y3 = diff12 + 8 * diff34 + m5 + b;
    if (relu) {
      y0 = (f4)wasm_f32x4_pmax((v128_t)zero, (v128_t)y0);
      y1 = (f4)wasm_f32x4_pmax((v128_t)zero, (v128_t)y1);
      y2 = (f4)wasm_f32x4_pmax((v128_t)zero, (v128_t)y2);
      y3 = (f4)wasm_f32x4_pmax((v128_t)zero, (v128_t)y3);
    }
    st(d0 + k, y0);
    st(d1 + k, y1);
    st(d2 + k, y2);
    st(d3 + k, y3);
  }
  for (; k < c; k++) {
    float m0 = s0[k], m1 = s1[k], m2 = s2[k], m3 = s3[k], m4 = s4[k], m5 = s5[k], b = bias[k];
    float sum12 = m1 + m2, diff12 = m1 - m2, sum34 = m3 + m4, diff34 = m3 - m4;
    float y0 = m0 + sum12 + sum34 + b, y1 = diff12 + 2 * diff34 + b, y2 = sum12 + 4 * sum34 + b, y3 = diff12 + 8 * diff34 + m5 + b;
    if (relu) {
      y0 = y0 > 0 ? y0 : 0;
      y1 = y1 > 0 ? y1 : 0;
      y2 = y2 > 0 ? y2 : 0;
      y3 = y3 > 0 ? y3 : 0;
    }
    d0[k] = y0;
    d1[k] = y1;
    d2[k] = y2;
    d3[k] = y3;
  }
}

/* y_q = Σ_b Aᵀ[q][b] s_b + bias (Aᵀ 5x6, F(5x5, 2x2)), then max(y, 0) when relu. */
static inline void output5_pass(const float *s0, const float *s1, const float *s2, const float *s3, const float *s4, const float *s5,
                                float *d0, float *d1, float *d2, float *d3, float *d4, const float *bias, int relu, int c) {
  int k = 0;
  f4 floor = splat(relu ? 0.0f : -__builtin_inff());
  for (; k + 4 <= c; k += 4) {
    f4 m0 = ld(s0 + k), m1 = ld(s1 + k), m2 = ld(s2 + k), m3 = ld(s3 + k), m4 = ld(s4 + k), m5 = ld(s5 + k), b = ld(bias + k);
    f4 sum12 = m1 + m2, diff12 = m1 - m2, sum34 = m3 + m4, diff34 = m3 - m4;
    st(d0 + k, wasm_f32x4_pmax(m0 + sum12 + sum34 + b, floor));
    st(d1 + k, wasm_f32x4_pmax(diff12 + 2 * diff34 + b, floor));
    st(d2 + k, wasm_f32x4_pmax(sum12 + 4 * sum34 + b, floor));
    st(d3 + k, wasm_f32x4_pmax(diff12 + 8 * diff34 + b, floor));
    st(d4 + k, wasm_f32x4_pmax(sum12 + 16 * sum34 + m5 + b, floor));
  }
  for (; k < c; k++) {
    float m0 = s0[k], m1 = s1[k], m2 = s2[k], m3 = s3[k], m4 = s4[k], m5 = s5[k], b = bias[k];
    float sum12 = m1 + m2, diff12 = m1 - m2, sum34 = m3 + m4, diff34 = m3 - m4;
    float y0 = m0 + sum12 + sum34 + b, y1 = diff12 + 2 * diff34 + b, y2 = sum12 + 4 * sum34 + b, y3 = diff12 + 8 * diff34 + b;
    float y4 = sum12 + 16 * sum34 + m5 + b;
    d0[k] = relu && y0 < 0 ? 0 : y0;
    d1[k] = relu && y1 < 0 ? 0 : y1;
    d2[k] = relu && y2 < 0 ? 0 : y2;
    d3[k] = relu && y3 < 0 ? 0 : y3;
    d4[k] = relu && y4 < 0 ? 0 : y4;
  }
}

/* w_b = Σ_q A[b][q] y_q (A = (Aᵀ)ᵀ, 6x4): the output gradient's transform, the adjoint of output_pass. */
static inline void gradient_pass(const float *s0, const float *s1, const float *s2, const float *s3, float *d0, float *d1, float *d2, float *d3,
                                 float *d4, float *d5, int c) {
  int k = 0;
  for (; k + 4 <= c; k += 4) {
    f4 y0 = ld(s0 + k), y1 = ld(s1 + k), y2 = ld(s2 + k), y3 = ld(s3 + k);
    f4 even = y0 + 4 * y2, odd = 2 * y1 + 8 * y3;
    st(d0 + k, y0);
    st(d1 + k, y0 + y1 + y2 + y3);
    st(d2 + k, y0 - y1 + y2 - y3);
    st(d3 + k, even + odd);
    st(d4 + k, even - odd);
    st(d5 + k, y3);
  }
  for (; k < c; k++) {
    float y0 = s0[k], y1 = s1[k], y2 = s2[k], y3 = s3[k];
    float even = y0 + 4 * y2, odd = 2 * y1 + 8 * y3;
    d0[k] = y0;
    d1[k] = y0 + y1 + y2 + y3;
    d2[k] = y0 - y1 + y2 - y3;
    d3[k] = even + odd;
    d4[k] = even - odd;
    d5[k] = y3;
  }
}

/* w_b = Σ_q A[b][q] y_q (A 6x5, F(5x5, 2x2)): the adjoint of output5_pass. */
static inline void gradient5_pass(const float *s0, const float *s1, const float *s2, const float *s3, const float *s4, float *d0, float *d1,
                                  float *d2, float *d3, float *d4, float *d5, int c) {
  int k = 0;
  for (; k + 4 <= c; k += 4) {
    f4 y0 = ld(s0 + k), y1 = ld(s1 + k), y2 = ld(s2 + k), y3 = ld(s3 + k), y4 = ld(s4 + k);
    f4 even1 = y0 + y2 + y4, odd1 = y1 + y3, even2 = y0 + 4 * y2 + 16 * y4, odd2 = 2 * y1 + 8 * y3;
    st(d0 + k, y0);
    st(d1 + k, even1 + odd1);
    st(d2 + k, even1 - odd1);
    st(d3 + k, even2 + odd2);
    st(d4 + k, even2 - odd2);
    st(d5 + k, y4);
  }
  for (; k < c; k++) {
    float y0 = s0[k], y1 = s1[k], y2 = s2[k], y3 = s3[k], y4 = s4[k];
    float even1 = y0 + y2 + y4, odd1 = y1 + y3, even2 = y0 + 4 * y2 + 16 * y4, odd2 = 2 * y1 + 8 * y3;
    d0[k] = y0;
    d1[k] = even1 + odd1;
    d2[k] = even1 - odd1;
    d3[k] = even2 + odd2;
    d4[k] = even2 - odd2;
    d5[k] = y4;
  }
}

/* The pixel (h, w) of sample n, or the block of zeros outside the image. */
static inline const float *pixel(const float *x, const float *zero, int n, int h, int w, int height, int width, int c) {
  return (h >= 0 && h < height && w >= 0 && w < width) ? x + ((n * height + h) * width + w) * c : zero;
}

/*
 * V_k[tile] = (Bᵀ d B)_k for the 6x6 input tiles d of x [n, height, width, c] numbered begin..end-1
 * (tile = (sample * tiles_high + th) * tiles_wide + tw), tiles `step` pixels apart (4 for F(4x4,
 * 3x3), 3 for F(3x3, 4x4), 5 for F(5x5, 2x2)). zero: c zeros. temp: 36·c floats.
 */
EXPORT("winograd_input")
void winograd_input(const float *x, float *v, const float *zero, float *temp, int height, int width, int c, int tiles_high, int tiles_wide,
                    int tiles, int pad_top, int pad_left, int step, int begin, int end) {
  long plane = (long)tiles * c;
  for (int tile = begin; tile < end; tile++) {
    int s = tile / (tiles_high * tiles_wide), rest = tile % (tiles_high * tiles_wide);
    int h0 = (rest / tiles_wide) * step - pad_top, w0 = (rest % tiles_wide) * step - pad_left;
    for (int i = 0; i < 6; i++) {
      int h = h0 + i;
      float *to = temp + i * 6 * c;
      input_pass(pixel(x, zero, s, h, w0, height, width, c), pixel(x, zero, s, h, w0 + 1, height, width, c),
                 pixel(x, zero, s, h, w0 + 2, height, width, c), pixel(x, zero, s, h, w0 + 3, height, width, c),
                 pixel(x, zero, s, h, w0 + 4, height, width, c), pixel(x, zero, s, h, w0 + 5, height, width, c), to, to + c, to + 2 * c,
                 to + 3 * c, to + 4 * c, to + 5 * c, c);
    }
    float *at = v + (long)tile * c;
    for (int b = 0; b < 6; b++) {
      const float *from = temp + b * c;
      int stride = 6 * c;
      input_pass(from, from + stride, from + 2 * stride, from + 3 * stride, from + 4 * stride, from + 5 * stride, at + (0 * 6 + b) * plane,
                 at + (1 * 6 + b) * plane, at + (2 * 6 + b) * plane, at + (3 * 6 + b) * plane, at + (4 * 6 + b) * plane,
                 at + (5 * 6 + b) * plane, c);
    }
  }
}


/*
 * The filter transforms and the filter gradients (each in its F(4x4, 3x3), F(3x3, 4x4) and F(5x5,
 * 2x2) form) work on a block of output channels c0..c0+cb-1 at a time: U or dU [36][ci][cb], n =
 * ci·cb elements, against those columns of the filter or dW [taps][ci][co], where element e of the
 * block is (e / cb)·co + c0 + e % cb in every tap. A group of four goes as a vector when its
 * elements are contiguous there too.
 */
#define BLOCK_OFFSET(e) (cb == co ? (e) : ((e) / cb) * co + c0 + (e) % cb)
#define WHOLE_ROW(e) (cb == co || (e) % cb + 4 <= cb)

/* t_b = Σ_k G[b][k] g_k (G 6x3, the points 0, ±1, ±2, ∞ with Lavin's scaling). */
#define FILTER_PASS(g0, g1, g2, t0, t1, t2, t3, t4, t5)                                                                           \
  do {                                                                                                                           \
    f4 even_ = (g0) + (g2), quarter_ = (g0)*0.25f + (g2), half_ = (g1)*0.5f;                                                      \
    t0 = (g0)*0.25f;                                                                                                             \
    t1 = -(even_ + (g1)) / 6;                                                                                                    \
    t2 = -(even_ - (g1)) / 6;                                                                                                    \
    t3 = (quarter_ + half_) / 6;                                                                                                 \
    t4 = (quarter_ - half_) / 6;                                                                                                 \
    t5 = (g2);                                                                                                                   \
  } while (0)

/* U_{·b} for one column b of the kw-transformed rows r0..r2, stored (or lane 0 stored) at u + (a·6 + b)·n. */
static inline void filter_column(f4 r0, f4 r1, f4 r2, float *u, long n, int b, int whole) {
  f4 t0, t1, t2, t3, t4, t5;
  FILTER_PASS(r0, r1, r2, t0, t1, t2, t3, t4, t5);
  if (whole) {
    st(u + (0 * 6 + b) * n, t0);
    st(u + (1 * 6 + b) * n, t1);
    st(u + (2 * 6 + b) * n, t2);
    st(u + (3 * 6 + b) * n, t3);
    st(u + (4 * 6 + b) * n, t4);
    st(u + (5 * 6 + b) * n, t5);
  } else {
    u[(0 * 6 + b) * n] = t0[0];
    u[(1 * 6 + b) * n] = t1[0];
    u[(2 * 6 + b) * n] = t2[0];
    u[(3 * 6 + b) * n] = t3[0];
    u[(4 * 6 + b) * n] = t4[0];
    u[(5 * 6 + b) * n] = t5[0];
  }
}

/* U = G g Gᵀ at the filter elements g[·] (four lanes, or lane 0 only when !whole) into u + k·n. */
static inline void filter_elements(f4 g00, f4 g01, f4 g02, f4 g10, f4 g11, f4 g12, f4 g20, f4 g21, f4 g22, float *u, long n, int whole) {
  f4 a0, a1, a2, a3, a4, a5, b0, b1, b2, b3, b4, b5, c0, c1, c2, c3, c4, c5;
  FILTER_PASS(g00, g01, g02, a0, a1, a2, a3, a4, a5);
  FILTER_PASS(g10, g11, g12, b0, b1, b2, b3, b4, b5);
  FILTER_PASS(g20, g21, g22, c0, c1, c2, c3, c4, c5);
  filter_column(a0, b0, c0, u, n, 0, whole);
  filter_column(a1, b1, c1, u, n, 1, whole);
  filter_column(a2, b2, c2, u, n, 2, whole);
  filter_column(a3, b3, c3, u, n, 3, whole);
  filter_column(a4, b4, c4, u, n, 4, whole);
  filter_column(a5, b5, c5, u, n, 5, whole);
}

/*
 * U = G g Gᵀ for one block of output channels (see BLOCK_OFFSET) of the filter g [3][3][ci][co]
 * into U [36][n], n = ci·cb, for the elements 4·begin .. min(4·end, n)-1 (groups of four; a group
 * not contiguous in g goes element by element).
 */
EXPORT("winograd_filter")
void winograd_filter(const float *g, float *u, int n, int co, int c0, int cb, int begin, int end) {
  long ln = n, m = (long)n / cb * co;
  for (int group = begin; group < end; group++) {
    int e = group * 4;
    if (e + 4 <= n && WHOLE_ROW(e)) {
      const float *p = g + BLOCK_OFFSET(e);
      filter_elements(ld(p), ld(p + m), ld(p + 2 * m), ld(p + 3 * m), ld(p + 4 * m), ld(p + 5 * m), ld(p + 6 * m), ld(p + 7 * m),
                      ld(p + 8 * m), u + e, ln, 1);
    } else {
      for (int end4 = e + 4 < n ? e + 4 : n; e < end4; e++) {
        const float *p = g + BLOCK_OFFSET(e);
        filter_elements(splat(p[0]), splat(p[m]), splat(p[2 * m]), splat(p[3 * m]), splat(p[4 * m]), splat(p[5 * m]), splat(p[6 * m]),
                        splat(p[7 * m]), splat(p[8 * m]), u + e, ln, 0);
      }
    }
  }
}

/* o_k = Σ_b G[b][k] s_b: the adjoint of FILTER_PASS (Gᵀ, 3x6). */
#define FILTER_GRAD_PASS(s0, s1, s2, s3, s4, s5, o0, o1, o2)                                                                     \
  do {                                                                                                                           \
    f4 sum12_ = (s1) + (s2), diff12_ = (s2) - (s1), sum34_ = (s3) + (s4), diff34_ = (s3) - (s4);                                 \
    o0 = (s0)*0.25f - sum12_ / 6 + sum34_ / 24;                                                                                  \
    o1 = diff12_ / 6 + diff34_ / 12;                                                                                             \
    o2 = (sum34_ - sum12_) / 6 + (s5);                                                                                           \
  } while (0)

static inline f4 load_lanes(const float *p, int whole) { return whole ? ld(p) : splat(p[0]); }

/* Row a of dU (six positions) transformed along b: the three kw values. */
#define GRAD_ROW(a, o0, o1, o2)                                                                                                   \
  FILTER_GRAD_PASS(load_lanes(du + (a * 6 + 0) * n, whole), load_lanes(du + (a * 6 + 1) * n, whole),                             \
                   load_lanes(du + (a * 6 + 2) * n, whole), load_lanes(du + (a * 6 + 3) * n, whole),                             \
                   load_lanes(du + (a * 6 + 4) * n, whole), load_lanes(du + (a * 6 + 5) * n, whole), o0, o1, o2)

static inline void store_lanes(float *p, f4 v, int whole) {
  if (whole) st(p, v);
  else p[0] = v[0];
}

/* dg = Gᵀ dU G at du + k·n (four lanes, or lane 0 only when !whole) into dg + (kh·3 + kw)·m. */
static inline void filter_grad_elements(const float *du, float *dg, long n, long m, int whole) {
  f4 r00, r01, r02, r10, r11, r12, r20, r21, r22, r30, r31, r32, r40, r41, r42, r50, r51, r52, o0, o1, o2;
  GRAD_ROW(0, r00, r01, r02);
  GRAD_ROW(1, r10, r11, r12);
  GRAD_ROW(2, r20, r21, r22);
  GRAD_ROW(3, r30, r31, r32);
  GRAD_ROW(4, r40, r41, r42);
  GRAD_ROW(5, r50, r51, r52);
  FILTER_GRAD_PASS(r00, r10, r20, r30, r40, r50, o0, o1, o2);
  store_lanes(dg + 0 * m, o0, whole);
  store_lanes(dg + 3 * m, o1, whole);
  store_lanes(dg + 6 * m, o2, whole);
  FILTER_GRAD_PASS(r01, r11, r21, r31, r41, r51, o0, o1, o2);
  store_lanes(dg + 1 * m, o0, whole);
  store_lanes(dg + 4 * m, o1, whole);
  store_lanes(dg + 7 * m, o2, whole);
  FILTER_GRAD_PASS(r02, r12, r22, r32, r42, r52, o0, o1, o2);
  store_lanes(dg + 2 * m, o0, whole);
  store_lanes(dg + 5 * m, o1, whole);
  store_lanes(dg + 8 * m, o2, whole);
}

/*
 * dg = Gᵀ dU G: one block of output channels of the filter gradient [3][3][ci][co] from the
 * products dU [36][n], n = ci·cb, groups of four elements begin..end-1 as in winograd_filter.
 */
EXPORT("winograd_filter_grad")
void winograd_filter_grad(const float *du, float *dg, int n, int co, int c0, int cb, int begin, int end) {
  long m = (long)n / cb * co;
  for (int group = begin; group < end; group++) {
    int e = group * 4;
    if (e + 4 <= n && WHOLE_ROW(e)) filter_grad_elements(du + e, dg + BLOCK_OFFSET(e), n, m, 1);
    else
      for (int end4 = e + 4 < n ? e + 4 : n; e < end4; e++) filter_grad_elements(du + e, dg + BLOCK_OFFSET(e), n, m, 0);
  }
}

/* C [m][n] = A [m][k] · B [k][n], all row-major and dense: 4x8 blocks, then the edges. */
static void gemm_nn(const float *a, const float *b, float *c, int m, int k, int n) {
  int i = 0;
  for (; i + 4 <= m; i += 4) {
    const float *a0 = a + (long)i * k, *a1 = a0 + k, *a2 = a1 + k, *a3 = a2 + k;
    int j = 0;
    for (; j + 8 <= n; j += 8) {
      f4 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
      const float *bp = b + j;
      for (int p = 0; p < k; p++, bp += n) {
        f4 b0 = ld(bp), b1 = ld(bp + 4);
        f4 x0 = splat(a0[p]), x1 = splat(a1[p]), x2 = splat(a2[p]), x3 = splat(a3[p]);
        ACCUMULATE_4X8(x0, x1, x2, x3, b0, b1);
      }
      STORE_4X8(c + (long)i * n + j, n);
    }
    for (; j < n; j++) {
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (int p = 0; p < k; p++) {
        float bv = b[(long)p * n + j];
        s0 += a0[p] * bv;
        s1 += a1[p] * bv;
        s2 += a2[p] * bv;
        s3 += a3[p] * bv;
      }
      c[(long)i * n + j] = s0;
      c[(long)(i + 1) * n + j] = s1;
      c[(long)(i + 2) * n + j] = s2;
      c[(long)(i + 3) * n + j] = s3;
    }
  }
  for (; i < m; i++) {
    const float *a0 = a + (long)i * k;
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      f4 acc = {0};
      for (int p = 0; p < k; p++) acc += splat(a0[p]) * ld(b + (long)p * n + j);
      st(c + (long)i * n + j, acc);
    }
    for (; j < n; j++) {
      float s = 0;
      for (int p = 0; p < k; p++) s += a0[p] * b[(long)p * n + j];
      c[(long)i * n + j] = s;
    }
  }
}

/* C [m][n] = Aᵀ · B with A [k][m], B [k][n] (row stride ldb), row-major, C dense: 4x8 blocks, then the edges. */
static void gemm_tn(const float *a, const float *b, int ldb, float *c, int m, int k, int n) {
  int i = 0;
  for (; i + 4 <= m; i += 4) {
    int j = 0;
    for (; j + 8 <= n; j += 8) {
      f4 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};
      const float *ap = a + i, *bp = b + j;
      for (int p = 0; p < k; p++, ap += m, bp += ldb) {
        f4 b0 = ld(bp), b1 = ld(bp + 4), x = ld(ap);
        f4 x0 = __builtin_shufflevector(x, x, 0, 0, 0, 0), x1 = __builtin_shufflevector(x, x, 1, 1, 1, 1);
        f4 x2 = __builtin_shufflevector(x, x, 2, 2, 2, 2), x3 = __builtin_shufflevector(x, x, 3, 3, 3, 3);
        ACCUMULATE_4X8(x0, x1, x2, x3, b0, b1);
      }
      STORE_4X8(c + (long)i * n + j, n);
    }
    for (; j < n; j++) {
      for (int r = 0; r < 4; r++) {
        float s = 0;
        for (int p = 0; p < k; p++) s += a[(long)p * m + i + r] * b[(long)p * ldb + j];
        c[(long)(i + r) * n + j] = s;
      }
    }
  }
  for (; i < m; i++) {
    for (int j = 0; j < n; j++) {
      float s = 0;
      for (int p = 0; p < k; p++) s += a[(long)p * m + i] * b[(long)p * ldb + j];
      c[(long)i * n + j] = s;
    }
  }
}

/* M_k [tiles][co] = V_k [tiles][ci] · U_k [ci][co] for the positions k = begin..end-1. */
EXPORT("winograd_products")
void winograd_products(const float *v, const float *u, float *m, int tiles, int ci, int co, int begin, int end) {
  for (int k = begin; k < end; k++) {
    gemm_nn(v + (long)k * tiles * ci, u + (long)k * ci * co, m + (long)k * tiles * co, tiles, ci, co);
  }
}

/*
 * dU_k [ci][cb] = V_kᵀ · W_k[:, c0..c0+cb-1] (V_k [tiles][ci], W_k [tiles][co]) for the positions
 * k = begin..end-1: the output channels of one block (see BLOCK_OFFSET).
 */
EXPORT("winograd_filter_products")
void winograd_filter_products(const float *v, const float *w, float *du, int tiles, int ci, int co, int c0, int cb, int begin, int end) {
  for (int k = begin; k < end; k++) {
    gemm_tn(v + (long)k * tiles * ci, w + (long)k * tiles * co + c0, co, du + (long)k * ci * cb, ci, tiles, cb);
  }
}

/*
 * F(3x3, 4x4), for the 4x4 stride-1 convolutions (PatchGAN's): the same 6x6 tiles and input
 * transform Bᵀ, with the roles of G and A swapped. y_i = Σ_k g_k d_{i+k} is symmetric in i and k,
 * so Σ_a Aᵀ[i][a] G[a][k] Bᵀ[a][j] = [j = i + k] read the other way round is F(3, 4): the filter
 * (4 taps) goes through A (6x4), the products back through Gᵀ (3x6). The filter gradient's
 * transforms are the adjoints: G for the output-gradient tiles, Aᵀ for dU.
 */

/* d_b = Σ_k G[b][k] s_k over c channels (then, with relu/bias unused): FILTER_PASS streamed. */
static inline void g_stream(const float *s0, const float *s1, const float *s2, float *d0, float *d1, float *d2, float *d3, float *d4, float *d5,
                            int c) {
  int k = 0;
  for (; k + 4 <= c; k += 4) {
    f4 t0, t1, t2, t3, t4, t5, g0 = ld(s0 + k), g1 = ld(s1 + k), g2 = ld(s2 + k);
    FILTER_PASS(g0, g1, g2, t0, t1, t2, t3, t4, t5);
    st(d0 + k, t0);
    st(d1 + k, t1);
    st(d2 + k, t2);
    st(d3 + k, t3);
    st(d4 + k, t4);
    st(d5 + k, t5);
  }
  for (; k < c; k++) {
    f4 t0, t1, t2, t3, t4, t5, g0 = splat(s0[k]), g1 = splat(s1[k]), g2 = splat(s2[k]);
    FILTER_PASS(g0, g1, g2, t0, t1, t2, t3, t4, t5);
    d0[k] = t0[0];
    d1[k] = t1[0];
    d2[k] = t2[0];
    d3[k] = t3[0];
    d4[k] = t4[0];
    d5[k] = t5[0];
  }
}

/* d_q = Σ_b G[b][q] s_b + bias, then max(d, 0) when relu, over c channels: Gᵀ streamed. */
static inline void gt_stream(const float *s0, const float *s1, const float *s2, const float *s3, const float *s4, const float *s5, float *d0,
                             float *d1, float *d2, const float *bias, int relu, int c) {
  int k = 0;
  f4 zero = {0, 0, 0, 0};
  for (; k + 4 <= c; k += 4) {
    f4 o0, o1, o2, b = ld(bias + k);
    FILTER_GRAD_PASS(ld(s0 + k), ld(s1 + k), ld(s2 + k), ld(s3 + k), ld(s4 + k), ld(s5 + k), o0, o1, o2);
    o0 += b;
    o1 += b;
    o2 += b;
    if (relu) {
      o0 = (f4)wasm_f32x4_pmax((v128_t)zero, (v128_t)o0);
      o1 = (f4)wasm_f32x4_pmax((v128_t)zero, (v128_t)o1);
      o2 = (f4)wasm_f32x4_pmax((v128_t)zero, (v128_t)o2);
    }
    st(d0 + k, o0);
    st(d1 + k, o1);
    st(d2 + k, o2);
  }
  for (; k < c; k++) {
    f4 o0, o1, o2, b = splat(bias[k]);
    FILTER_GRAD_PASS(splat(s0[k]), splat(s1[k]), splat(s2[k]), splat(s3[k]), splat(s4[k]), splat(s5[k]), o0, o1, o2);
    o0 += b;
    o1 += b;
    o2 += b;
    float y0 = o0[0], y1 = o1[0], y2 = o2[0];
    if (relu) {
      y0 = y0 > 0 ? y0 : 0;
      y1 = y1 > 0 ? y1 : 0;
      y2 = y2 > 0 ? y2 : 0;
    }
    d0[k] = y0;
    d1[k] = y1;
    d2[k] = y2;
  }
}

/* t_b = Σ_q A[b][q] y_q (A 6x4) on vectors: gradient_pass's formula. */
#define A_PASS(y0, y1, y2, y3, t0, t1, t2, t3, t4, t5)                                                                            \
  do {                                                                                                                           \
    f4 even_ = (y0) + 4 * (y2), odd_ = 2 * (y1) + 8 * (y3);                                                                     \
    t0 = (y0);                                                                                                                   \
    t1 = (y0) + (y1) + (y2) + (y3);                                                                                              \
    t2 = (y0) - (y1) + (y2) - (y3);                                                                                              \
    t3 = even_ + odd_;                                                                                                           \
    t4 = even_ - odd_;                                                                                                           \
    t5 = (y3);                                                                                                                   \
  } while (0)

/* y_q = Σ_b Aᵀ[q][b] s_b (Aᵀ 4x6) on vectors: output_pass's formula. */
#define AT_PASS(m0, m1, m2, m3, m4, m5, y0, y1, y2, y3)                                                                           \
  do {                                                                                                                           \
    f4 sum12_ = (m1) + (m2), diff12_ = (m1) - (m2), sum34_ = (m3) + (m4), diff34_ = (m3) - (m4);                                 \
    y0 = (m0) + sum12_ + sum34_;                                                                                                 \
    y1 = diff12_ + 2 * diff34_;                                                                                                  \
    y2 = sum12_ + 4 * sum34_;                                                                                                    \
    y3 = diff12_ + 8 * diff34_ + (m5);                                                                                           \
  } while (0)

/* Column b of U = A g Aᵀ from the kw-transformed rows r0..r3 (four lanes, or lane 0 when !whole). */
static inline void filter34_column(f4 r0, f4 r1, f4 r2, f4 r3, float *u, long n, int b, int whole) {
  f4 t0, t1, t2, t3, t4, t5;
  A_PASS(r0, r1, r2, r3, t0, t1, t2, t3, t4, t5);
  store_lanes(u + (0 * 6 + b) * n, t0, whole);
  store_lanes(u + (1 * 6 + b) * n, t1, whole);
  store_lanes(u + (2 * 6 + b) * n, t2, whole);
  store_lanes(u + (3 * 6 + b) * n, t3, whole);
  store_lanes(u + (4 * 6 + b) * n, t4, whole);
  store_lanes(u + (5 * 6 + b) * n, t5, whole);
}

/* U = A g Aᵀ at filter elements p (taps p + (kh·4 + kw)·m) into u + k·n. */
static inline void filter34_elements(const float *p, float *u, long n, long m, int whole) {
  f4 a0, a1, a2, a3, a4, a5, b0, b1, b2, b3, b4, b5, c0, c1, c2, c3, c4, c5, d0, d1, d2, d3, d4, d5;
  A_PASS(load_lanes(p, whole), load_lanes(p + m, whole), load_lanes(p + 2 * m, whole), load_lanes(p + 3 * m, whole), a0, a1, a2, a3, a4, a5);
  A_PASS(load_lanes(p + 4 * m, whole), load_lanes(p + 5 * m, whole), load_lanes(p + 6 * m, whole), load_lanes(p + 7 * m, whole), b0, b1, b2, b3,
         b4, b5);
  A_PASS(load_lanes(p + 8 * m, whole), load_lanes(p + 9 * m, whole), load_lanes(p + 10 * m, whole), load_lanes(p + 11 * m, whole), c0, c1, c2,
         c3, c4, c5);
  A_PASS(load_lanes(p + 12 * m, whole), load_lanes(p + 13 * m, whole), load_lanes(p + 14 * m, whole), load_lanes(p + 15 * m, whole), d0, d1,
         d2, d3, d4, d5);
  filter34_column(a0, b0, c0, d0, u, n, 0, whole);
  filter34_column(a1, b1, c1, d1, u, n, 1, whole);
  filter34_column(a2, b2, c2, d2, u, n, 2, whole);
  filter34_column(a3, b3, c3, d3, u, n, 3, whole);
  filter34_column(a4, b4, c4, d4, u, n, 4, whole);
  filter34_column(a5, b5, c5, d5, u, n, 5, whole);
}

/* U = A g Aᵀ for the filter g [4][4][n] (HWIO) into U [36][n], groups of four elements as winograd_filter. */
EXPORT("winograd_filter_f34")
void winograd_filter_f34(const float *g, float *u, int n, int co, int c0, int cb, int begin, int end) {
  long m = (long)n / cb * co;
  for (int group = begin; group < end; group++) {
    int e = group * 4;
    if (e + 4 <= n && WHOLE_ROW(e)) filter34_elements(g + BLOCK_OFFSET(e), u + e, n, m, 1);
    else
      for (int end4 = e + 4 < n ? e + 4 : n; e < end4; e++) filter34_elements(g + BLOCK_OFFSET(e), u + e, n, m, 0);
  }
}

/* dg = Aᵀ dU A at du + k·n into dg + (kh·4 + kw)·m (four lanes, or lane 0 when !whole). */
static inline void filter34_grad_elements(const float *du, float *dg, long n, long m, int whole) {
  f4 r00, r01, r02, r03, r10, r11, r12, r13, r20, r21, r22, r23, r30, r31, r32, r33, r40, r41, r42, r43, r50, r51, r52, r53;
#define GRAD34_ROW(a, o0, o1, o2, o3)                                                                                             \
  AT_PASS(load_lanes(du + (a * 6 + 0) * n, whole), load_lanes(du + (a * 6 + 1) * n, whole), load_lanes(du + (a * 6 + 2) * n, whole),      \
          load_lanes(du + (a * 6 + 3) * n, whole), load_lanes(du + (a * 6 + 4) * n, whole), load_lanes(du + (a * 6 + 5) * n, whole), o0, o1, \
          o2, o3)
  GRAD34_ROW(0, r00, r01, r02, r03);
  GRAD34_ROW(1, r10, r11, r12, r13);
  GRAD34_ROW(2, r20, r21, r22, r23);
  GRAD34_ROW(3, r30, r31, r32, r33);
  GRAD34_ROW(4, r40, r41, r42, r43);
  GRAD34_ROW(5, r50, r51, r52, r53);
#undef GRAD34_ROW
#define GRAD34_COLUMN(kw, s0, s1, s2, s3, s4, s5)                                                                                 \
  do {                                                                                                                           \
    f4 o0, o1, o2, o3;                                                                                                           \
    AT_PASS(s0, s1, s2, s3, s4, s5, o0, o1, o2, o3);                                                                             \
    store_lanes(dg + (0 * 4 + kw) * m, o0, whole);                                                                              \
    store_lanes(dg + (1 * 4 + kw) * m, o1, whole);                                                                              \
    store_lanes(dg + (2 * 4 + kw) * m, o2, whole);                                                                              \
    store_lanes(dg + (3 * 4 + kw) * m, o3, whole);                                                                              \
  } while (0)
  GRAD34_COLUMN(0, r00, r10, r20, r30, r40, r50);
  GRAD34_COLUMN(1, r01, r11, r21, r31, r41, r51);
  GRAD34_COLUMN(2, r02, r12, r22, r32, r42, r52);
  GRAD34_COLUMN(3, r03, r13, r23, r33, r43, r53);
#undef GRAD34_COLUMN
}

/* dg = Aᵀ dU A: the 4x4 filter gradient [4][4][n] from dU [36][n], groups of four elements. */
EXPORT("winograd_filter_grad_f34")
void winograd_filter_grad_f34(const float *du, float *dg, int n, int co, int c0, int cb, int begin, int end) {
  long m = (long)n / cb * co;
  for (int group = begin; group < end; group++) {
    int e = group * 4;
    if (e + 4 <= n && WHOLE_ROW(e)) filter34_grad_elements(du + e, dg + BLOCK_OFFSET(e), n, m, 1);
    else
      for (int end4 = e + 4 < n ? e + 4 : n; e < end4; e++) filter34_grad_elements(du + e, dg + BLOCK_OFFSET(e), n, m, 0);
  }
}

/* Where output row r of a tile goes: its pixel in y, or the sink's row r when it falls outside. */
static inline float *output_pixel(float *y, float *sink, int s, int h, int w, int out_high, int out_wide, int c, int y_stride, int r) {
  return (h < out_high && w < out_wide) ? y + ((s * out_high + h) * out_wide + w) * y_stride : sink + r * c;
}

/*
 * y [n, out_high, out_wide, c] for the tiles begin..end-1 from the products M [36][tiles][c]: per
 * tile Aᵀ M A (tile_out 4, F(4x4, 3x3); tile_out 5, F(5x5, 2x2)) or Gᵀ M G (tile_out 3, F(3x3,
 * 4x4)), plus bias, then relu when asked: c channels of y, whose pixels are y_stride floats apart
 * (a block of output channels: y and bias point at its first). bias: c floats (zeros for none).
 * sink: 5·c floats that take the outputs of edge tiles outside y. temp: 30·c floats.
 */
EXPORT("winograd_output")
void winograd_output(const float *m, float *y, const float *bias, const float *zero, float *sink, float *temp, int out_high, int out_wide,
                     int c, int y_stride, int tiles_high, int tiles_wide, int tiles, int relu, int tile_out, int begin, int end) {
  long plane = (long)tiles * c;
  for (int tile = begin; tile < end; tile++) {
    int s = tile / (tiles_high * tiles_wide), rest = tile % (tiles_high * tiles_wide);
    int th = rest / tiles_wide, tw = rest % tiles_wide;
    const float *at = m + (long)tile * c;
    for (int a = 0; a < 6; a++) {
      float *to = temp + a * tile_out * c;
      const float *row = at + a * 6 * plane;
      const float *r1 = row + plane, *r2 = row + 2 * plane, *r3 = row + 3 * plane, *r4 = row + 4 * plane, *r5 = row + 5 * plane;
      if (tile_out == 4) output_pass(row, r1, r2, r3, r4, r5, to, to + c, to + 2 * c, to + 3 * c, zero, 0, c);
      else if (tile_out == 5) output5_pass(row, r1, r2, r3, r4, r5, to, to + c, to + 2 * c, to + 3 * c, to + 4 * c, zero, 0, c);
      else gt_stream(row, r1, r2, r3, r4, r5, to, to + c, to + 2 * c, zero, 0, c);
    }
    for (int q = 0; q < tile_out; q++) {
      int w = tw * tile_out + q, h = th * tile_out;
      float *p0 = output_pixel(y, sink, s, h, w, out_high, out_wide, c, y_stride, 0);
      float *p1 = output_pixel(y, sink, s, h + 1, w, out_high, out_wide, c, y_stride, 1);
      float *p2 = output_pixel(y, sink, s, h + 2, w, out_high, out_wide, c, y_stride, 2);
      const float *from = temp + q * c;
      int stride = tile_out * c;
      const float *f1 = from + stride, *f2 = from + 2 * stride, *f3 = from + 3 * stride, *f4_ = from + 4 * stride, *f5 = from + 5 * stride;
      if (tile_out == 4) {
        output_pass(from, f1, f2, f3, f4_, f5, p0, p1, p2, output_pixel(y, sink, s, h + 3, w, out_high, out_wide, c, y_stride, 3), bias, relu, c);
      } else if (tile_out == 5) {
        output5_pass(from, f1, f2, f3, f4_, f5, p0, p1, p2, output_pixel(y, sink, s, h + 3, w, out_high, out_wide, c, y_stride, 3),
                     output_pixel(y, sink, s, h + 4, w, out_high, out_wide, c, y_stride, 4), bias, relu, c);
      } else {
        gt_stream(from, f1, f2, f3, f4_, f5, p0, p1, p2, bias, relu, c);
      }
    }
  }
}

/*
 * W_k[tile] for the tiles begin..end-1 of dy [n, out_high, out_wide, c] (zeros outside it): the
 * gradient with respect to the products, for the filter gradient, A dY Aᵀ on 4x4 tiles (tile_out 4)
 * or 5x5 ones (tile_out 5, F(5x5, 2x2)), or G dY Gᵀ on 3x3 ones (tile_out 3). temp: 30·c floats.
 */
EXPORT("winograd_gradient")
void winograd_gradient(const float *dy, float *w, const float *zero, float *temp, int out_high, int out_wide, int c, int tiles_high,
                       int tiles_wide, int tiles, int tile_out, int begin, int end) {
  long plane = (long)tiles * c;
  for (int tile = begin; tile < end; tile++) {
    int s = tile / (tiles_high * tiles_wide), rest = tile % (tiles_high * tiles_wide);
    int h0 = (rest / tiles_wide) * tile_out, w0 = (rest % tiles_wide) * tile_out;
    for (int q = 0; q < tile_out; q++) {
      float *to = temp + q * 6 * c;
      int h = h0 + q;
      const float *s0 = pixel(dy, zero, s, h, w0, out_high, out_wide, c), *s1 = pixel(dy, zero, s, h, w0 + 1, out_high, out_wide, c);
      const float *s2 = pixel(dy, zero, s, h, w0 + 2, out_high, out_wide, c);
      if (tile_out == 4)
        gradient_pass(s0, s1, s2, pixel(dy, zero, s, h, w0 + 3, out_high, out_wide, c), to, to + c, to + 2 * c, to + 3 * c, to + 4 * c, to + 5 * c,
                      c);
      else if (tile_out == 5)
        gradient5_pass(s0, s1, s2, pixel(dy, zero, s, h, w0 + 3, out_high, out_wide, c), pixel(dy, zero, s, h, w0 + 4, out_high, out_wide, c), to,
                       to + c, to + 2 * c, to + 3 * c, to + 4 * c, to + 5 * c, c);
      else g_stream(s0, s1, s2, to, to + c, to + 2 * c, to + 3 * c, to + 4 * c, to + 5 * c, c);
    }
    float *at = w + (long)tile * c;
    for (int b = 0; b < 6; b++) {
      const float *from = temp + b * c;
      int stride = 6 * c;
      float *d0 = at + (0 * 6 + b) * plane, *d1 = at + (1 * 6 + b) * plane, *d2 = at + (2 * 6 + b) * plane;
      float *d3 = at + (3 * 6 + b) * plane, *d4 = at + (4 * 6 + b) * plane, *d5 = at + (5 * 6 + b) * plane;
      if (tile_out == 4) gradient_pass(from, from + stride, from + 2 * stride, from + 3 * stride, d0, d1, d2, d3, d4, d5, c);
      else if (tile_out == 5) gradient5_pass(from, from + stride, from + 2 * stride, from + 3 * stride, from + 4 * stride, d0, d1, d2, d3, d4, d5, c);
      else g_stream(from, from + stride, from + 2 * stride, d0, d1, d2, d3, d4, d5, c);
    }
  }
}

/*
 * F(5x5, 2x2), for the 2x2 stride-1 phase convolutions of strided transposed convolutions
 * (conv2d-backprop-input.ts): the same 6x6 tiles and input transform Bᵀ (it depends only on the
 * points 0, ±1, ±2, ∞, shared by every F(m, r) with m + r - 1 = 6), the filter through G's first
 * two columns (with Lavin's scaling, as in F(4x4, 3x3)), the products back through Aᵀ's five
 * rows (output5_pass); the filter gradient through the adjoints, A on the output-gradient tiles
 * (gradient5_pass) and Gᵀ on dU.
 */

/* t_b = Σ_k G[b][k] g_k for a 2-tap filter (G 6x2). */
#define FILTER52_PASS(g0, g1, t0, t1, t2, t3, t4, t5)                                                                             \
  do {                                                                                                                           \
    f4 quarter_ = (g0)*0.25f, half_ = (g1)*0.5f;                                                                                 \
    t0 = quarter_;                                                                                                               \
    t1 = -((g0) + (g1)) / 6;                                                                                                     \
    t2 = -((g0) - (g1)) / 6;                                                                                                     \
    t3 = (quarter_ + half_) / 6;                                                                                                 \
    t4 = (quarter_ - half_) / 6;                                                                                                 \
    t5 = (g1);                                                                                                                   \
  } while (0)

/* U = G g Gᵀ at the filter elements p (taps p + (kh·2 + kw)·m; four lanes, or lane 0 when !whole) into u + k·n. */
static inline void filter52_elements(const float *p, float *u, long n, long m, int whole) {
  f4 a0, a1, a2, a3, a4, a5, b0, b1, b2, b3, b4, b5;
  FILTER52_PASS(load_lanes(p, whole), load_lanes(p + m, whole), a0, a1, a2, a3, a4, a5);
  FILTER52_PASS(load_lanes(p + 2 * m, whole), load_lanes(p + 3 * m, whole), b0, b1, b2, b3, b4, b5);
#define FILTER52_COLUMN(b, r0, r1)                                                                                                 \
  do {                                                                                                                           \
    f4 t0, t1, t2, t3, t4, t5;                                                                                                   \
    FILTER52_PASS(r0, r1, t0, t1, t2, t3, t4, t5);                                                                               \
    store_lanes(u + (0 * 6 + (b)) * n, t0, whole);                                                                               \
    store_lanes(u + (1 * 6 + (b)) * n, t1, whole);                                                                               \
    store_lanes(u + (2 * 6 + (b)) * n, t2, whole);                                                                               \
    store_lanes(u + (3 * 6 + (b)) * n, t3, whole);                                                                               \
    store_lanes(u + (4 * 6 + (b)) * n, t4, whole);                                                                               \
    store_lanes(u + (5 * 6 + (b)) * n, t5, whole);                                                                               \
  } while (0)
  FILTER52_COLUMN(0, a0, b0);
  FILTER52_COLUMN(1, a1, b1);
  FILTER52_COLUMN(2, a2, b2);
  FILTER52_COLUMN(3, a3, b3);
  FILTER52_COLUMN(4, a4, b4);
  FILTER52_COLUMN(5, a5, b5);
#undef FILTER52_COLUMN
}

/* U = G g Gᵀ for the filter g [2][2][n] into U [36][n], elements 4·begin .. min(4·end, n)-1. */
EXPORT("winograd_filter_f52")
void winograd_filter_f52(const float *g, float *u, int n, int co, int c0, int cb, int begin, int end) {
  long m = (long)n / cb * co;
  for (int group = begin; group < end; group++) {
    int e = group * 4;
    if (e + 4 <= n && WHOLE_ROW(e)) filter52_elements(g + BLOCK_OFFSET(e), u + e, n, m, 1);
    else
      for (int end4 = e + 4 < n ? e + 4 : n; e < end4; e++) filter52_elements(g + BLOCK_OFFSET(e), u + e, n, m, 0);
  }
}

/* o_k = Σ_b G[b][k] s_b (Gᵀ 2x6): the adjoint of FILTER52_PASS. */
#define FILTER52_GRAD_PASS(s0, s1, s2, s3, s4, s5, o0, o1)                                                                        \
  do {                                                                                                                           \
    o0 = (s0)*0.25f - ((s1) + (s2)) / 6 + ((s3) + (s4)) / 24;                                                                  \
    o1 = ((s2) - (s1)) / 6 + ((s3) - (s4)) / 12 + (s5);                                                                        \
  } while (0)

/* dG = Gᵀ dU G at the filter elements du + e (four lanes, or lane 0 when !whole) into dg + (kh·2 + kw)·m. */
static inline void filter52_grad_elements(const float *du, float *dg, long n, long m, int whole) {
  f4 r0[2], r1[2], r2[2], r3[2], r4[2], r5[2];
#define FILTER52_GRAD_ROW(a, r)                                                                                                    \
  FILTER52_GRAD_PASS(load_lanes(du + ((a)*6 + 0) * n, whole), load_lanes(du + ((a)*6 + 1) * n, whole),                          \
                     load_lanes(du + ((a)*6 + 2) * n, whole), load_lanes(du + ((a)*6 + 3) * n, whole),                          \
                     load_lanes(du + ((a)*6 + 4) * n, whole), load_lanes(du + ((a)*6 + 5) * n, whole), r[0], r[1])
  FILTER52_GRAD_ROW(0, r0);
  FILTER52_GRAD_ROW(1, r1);
  FILTER52_GRAD_ROW(2, r2);
  FILTER52_GRAD_ROW(3, r3);
  FILTER52_GRAD_ROW(4, r4);
  FILTER52_GRAD_ROW(5, r5);
#undef FILTER52_GRAD_ROW
  for (int kw = 0; kw < 2; kw++) {
    f4 o0, o1;
    FILTER52_GRAD_PASS(r0[kw], r1[kw], r2[kw], r3[kw], r4[kw], r5[kw], o0, o1);
    store_lanes(dg + (0 * 2 + kw) * m, o0, whole);
    store_lanes(dg + (1 * 2 + kw) * m, o1, whole);
  }
}

/* dW = Gᵀ dU G for dU [36][n] into dW [2][2][n], elements 4·begin .. min(4·end, n)-1. */
EXPORT("winograd_filter_grad_f52")
void winograd_filter_grad_f52(const float *du, float *dg, int n, int co, int c0, int cb, int begin, int end) {
  long m = (long)n / cb * co;
  for (int group = begin; group < end; group++) {
    int e = group * 4;
    if (e + 4 <= n && WHOLE_ROW(e)) filter52_grad_elements(du + e, dg + BLOCK_OFFSET(e), n, m, 1);
    else
      for (int end4 = e + 4 < n ? e + 4 : n; e < end4; e++) filter52_grad_elements(du + e, dg + BLOCK_OFFSET(e), n, m, 0);
  }
}
