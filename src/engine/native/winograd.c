/*
 * The input and output transforms of Winograd F(4x4, 3x3) (src/engine/winograd.ts), in wasm SIMD
 * over channels. Same rules as instance-norm.c: the module works in tfjs's heap on buffers the
 * caller allocated, with no globals, data or stack (pointer sets are passed as scalars or as
 * arrays of offsets in the heap).
 *
 * Each 1-D pass reads six channel streams and writes six (input) or four (output), the layout of
 * winograd.ts: per tile, the first pass runs along one axis into `temp` (36·c floats), the second
 * along the other into the 36 transform buffers V_k [tiles, c] (input) or out of the 36 products
 * M_k [tiles, c] into y (output).
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))

typedef float f4 __attribute__((vector_size(16)));

static inline f4 ld(const float *p) { return (f4)wasm_v128_load(p); }
static inline void st(float *p, f4 v) { wasm_v128_store(p, (v128_t)v); }

/* d_b = Σ_j Bᵀ[b][j] s_j. */
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

/* The pixel (h, w) of sample n, or the block of zeros outside the image. */
static inline const float *pixel(const float *x, const float *zero, int n, int h, int w, int height, int width, int c) {
  return (h >= 0 && h < height && w >= 0 && w < width) ? x + ((n * height + h) * width + w) * c : zero;
}

/*
 * V_k[tile] = (Bᵀ d B)_k for every 6x6 input tile d of x [n, height, width, c].
 * v: 36 byte offsets of the V_k buffers. zero: c zeros. temp: 36·c floats.
 */
EXPORT("winograd_input")
void winograd_input(const float *x, const int *v, const float *zero, float *temp, int n, int height, int width, int c, int tiles_high,
                    int tiles_wide, int pad_top, int pad_left) {
  int tile = 0;
  for (int s = 0; s < n; s++) {
    for (int th = 0; th < tiles_high; th++) {
      for (int tw = 0; tw < tiles_wide; tw++, tile++) {
        int h0 = th * 4 - pad_top, w0 = tw * 4 - pad_left;
        for (int i = 0; i < 6; i++) {
          int h = h0 + i;
          float *to = temp + i * 6 * c;
          input_pass(pixel(x, zero, s, h, w0, height, width, c), pixel(x, zero, s, h, w0 + 1, height, width, c),
                     pixel(x, zero, s, h, w0 + 2, height, width, c), pixel(x, zero, s, h, w0 + 3, height, width, c),
                     pixel(x, zero, s, h, w0 + 4, height, width, c), pixel(x, zero, s, h, w0 + 5, height, width, c), to, to + c,
                     to + 2 * c, to + 3 * c, to + 4 * c, to + 5 * c, c);
        }
        long at = tile * c;
        for (int b = 0; b < 6; b++) {
          const float *from = temp + b * c;
          int stride = 6 * c;
          input_pass(from, from + stride, from + 2 * stride, from + 3 * stride, from + 4 * stride, from + 5 * stride,
                     (float *)v[0 * 6 + b] + at, (float *)v[1 * 6 + b] + at, (float *)v[2 * 6 + b] + at, (float *)v[3 * 6 + b] + at,
                     (float *)v[4 * 6 + b] + at, (float *)v[5 * 6 + b] + at, c);
        }
      }
    }
  }
}

/*
 * y [n, out_high, out_wide, c] from the 36 products M_k [tiles, c]: Aᵀ M A per tile, plus bias,
 * then relu when asked. m: 36 byte offsets. bias: c floats (zeros for none). sink: 4·c floats
 * that take the outputs of edge tiles outside y. temp: 24·c floats.
 */
EXPORT("winograd_output")
void winograd_output(const int *m, float *y, const float *bias, const float *zero, float *sink, float *temp, int n, int out_high, int out_wide,
                     int c, int tiles_high, int tiles_wide, int relu) {
  int tile = 0;
  for (int s = 0; s < n; s++) {
    for (int th = 0; th < tiles_high; th++) {
      for (int tw = 0; tw < tiles_wide; tw++, tile++) {
        long at = tile * c;
        for (int a = 0; a < 6; a++) {
          float *to = temp + a * 4 * c;
          output_pass((const float *)m[a * 6 + 0] + at, (const float *)m[a * 6 + 1] + at, (const float *)m[a * 6 + 2] + at,
                      (const float *)m[a * 6 + 3] + at, (const float *)m[a * 6 + 4] + at, (const float *)m[a * 6 + 5] + at, to, to + c,
                      to + 2 * c, to + 3 * c, zero, 0, c);
        }
        for (int q = 0; q < 4; q++) {
          int w = tw * 4 + q;
          int h = th * 4;
          float *p0 = (h + 0 < out_high && w < out_wide) ? y + ((s * out_high + h + 0) * out_wide + w) * c : sink;
          float *p1 = (h + 1 < out_high && w < out_wide) ? y + ((s * out_high + h + 1) * out_wide + w) * c : sink + c;
          float *p2 = (h + 2 < out_high && w < out_wide) ? y + ((s * out_high + h + 2) * out_wide + w) * c : sink + 2 * c;
          float *p3 = (h + 3 < out_high && w < out_wide) ? y + ((s * out_high + h + 3) * out_wide + w) * c : sink + 3 * c;
          const float *from = temp + q * c;
          int stride = 4 * c;
          output_pass(from, from + stride, from + 2 * stride, from + 3 * stride, from + 4 * stride, from + 5 * stride, p0, p1, p2, p3, bias,
                      relu, c);
        }
      }
    }
  }
}
