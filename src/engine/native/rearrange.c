/*
 * Rearrangements of tensors for the engine's convolutions, in place on tfjs's heap. Same rules as
 * instance-norm.c: the module works on buffers the caller allocated, with no globals, data or stack.
 */
#include "simd.h"

/*
 * Space to depth by 2 of the zero-padded x [n][height][width][c]: out [n][out_high][out_wide][4c]
 * with out[i][j][(a·2 + b)·c + k] = x[2i + a - pad_top][2j + b - pad_left][k] (zero outside x),
 * which turns a 4x4 stride-2 convolution into a 2x2 stride-1 one over 4c channels
 * (conv2d-forward.ts). A call writes the output rows (sample · out_high + i) begin..end-1.
 */
EXPORT("space_to_depth2")
void space_to_depth2(const float *x, float *out, int height, int width, int c, int out_high, int out_wide, int pad_top, int pad_left,
                     int begin, int end) {
  for (int row = begin; row < end; row++) {
    int n = row / out_high, i = row - n * out_high;
    float *d = out + (long)row * out_wide * 4 * c;
    for (int j = 0; j < out_wide; j++) {
      for (int a = 0; a < 2; a++) {
        int h = 2 * i + a - pad_top;
        for (int b = 0; b < 2; b++, d += c) {
          int w = 2 * j + b - pad_left;
          if (h < 0 || h >= height || w < 0 || w >= width) {
            for (int k = 0; k < c; k++) d[k] = 0;
          } else {
            const float *s = x + (((long)n * height + h) * width + w) * c;
            int k = 0;
            for (; k + 4 <= c; k += 4) st(d + k, ld(s + k));
            for (; k < c; k++) d[k] = s[k];
          }
        }
      }
    }
  }
}

/*
 * The phases of a strided input gradient back into dx (conv2d-backprop-input.ts): phase
 * [n][phase_high][phase_wide][c] goes to dx[n][i·stride_h + row_phase][j·stride_w + col_phase][c].
 * A call copies the phase rows (sample · phase_high + i) begin..end-1.
 */
EXPORT("interleave_phase")
void interleave_phase(const float *phase, float *dx, int phase_high, int phase_wide, int in_high, int in_wide, int c, int stride_h,
                      int stride_w, int row_phase, int col_phase, int begin, int end) {
  for (int row = begin; row < end; row++) {
    int n = row / phase_high, i = row - n * phase_high;
    const float *s = phase + (long)row * phase_wide * c;
    float *d = dx + (((long)n * in_high + i * stride_h + row_phase) * in_wide + col_phase) * c;
    for (int j = 0; j < phase_wide; j++, s += c, d += (long)stride_w * c) {
      int k = 0;
      for (; k + 4 <= c; k += 4) st(d + k, ld(s + k));
      for (; k < c; k++) d[k] = s[k];
    }
  }
}

/*
 * The sub-filters of a strided input gradient's phase (conv2d-backprop-input.ts): for each of its
 * taps (t, u), taken from the filter [kh][kw][ci][co] at kh = first_h + stride_h·(taps_h − 1 − t),
 * kw = first_w + stride_w·(taps_w − 1 − u), the [ci][co] block transposed into out[t][u][co][ci].
 * A unit is one tap's 4 input channels (the last group may be partial): begin..end-1 of
 * taps_h · taps_w · ceil(ci / 4).
 */
EXPORT("phase_sub_filter")
void phase_sub_filter(const float *filter, float *out, int filter_wide, int ci, int co, int first_h, int taps_h, int stride_h, int first_w,
                      int taps_w, int stride_w, int begin, int end) {
  int groups = (ci + 3) / 4;
  long block = (long)ci * co;
  for (int unit = begin; unit < end; unit++) {
    int tap = unit / groups, g = unit - tap * groups;
    int t = tap / taps_w, u = tap - t * taps_w;
    int kh = first_h + stride_h * (taps_h - 1 - t), kw = first_w + stride_w * (taps_w - 1 - u);
    const float *s = filter + ((long)kh * filter_wide + kw) * block;
    float *d = out + (long)tap * block;
    int r = 4 * g;
    if (r + 4 <= ci) {
      int k = 0;
      for (; k + 4 <= co; k += 4) {
        v128_t a = wasm_v128_load(s + (long)r * co + k), b = wasm_v128_load(s + (long)(r + 1) * co + k);
        v128_t e = wasm_v128_load(s + (long)(r + 2) * co + k), f = wasm_v128_load(s + (long)(r + 3) * co + k);
        v128_t ab_lo = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), ab_hi = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
        v128_t ef_lo = wasm_i32x4_shuffle(e, f, 0, 4, 1, 5), ef_hi = wasm_i32x4_shuffle(e, f, 2, 6, 3, 7);
        wasm_v128_store(d + (long)k * ci + r, wasm_i32x4_shuffle(ab_lo, ef_lo, 0, 1, 4, 5));
        wasm_v128_store(d + (long)(k + 1) * ci + r, wasm_i32x4_shuffle(ab_lo, ef_lo, 2, 3, 6, 7));
        wasm_v128_store(d + (long)(k + 2) * ci + r, wasm_i32x4_shuffle(ab_hi, ef_hi, 0, 1, 4, 5));
        wasm_v128_store(d + (long)(k + 3) * ci + r, wasm_i32x4_shuffle(ab_hi, ef_hi, 2, 3, 6, 7));
      }
      for (; k < co; k++)
        for (int q = 0; q < 4; q++) d[(long)k * ci + r + q] = s[(long)(r + q) * co + k];
    } else {
      for (int q = r; q < ci; q++)
        for (int k = 0; k < co; k++) d[(long)k * ci + q] = s[(long)q * co + k];
    }
  }
}
