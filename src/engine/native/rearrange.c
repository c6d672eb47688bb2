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
