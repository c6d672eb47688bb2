/*
 * Instance normalisation forward and backward for tfjs-wasm's heap, in wasm SIMD (f32x4).
 *
 * Built by scripts/build-wasm-kernels.sh into instance-norm.wasm, which is committed: CI and users
 * need no toolchain. The module imports the backend's memory and works on buffers the caller
 * allocated there, so it must never touch memory of its own: no globals, no data, no stack
 * (the build links with a zero-sized stack and checks that no function reads the stack pointer).
 *
 * Layout NHWC with the channel innermost: per-channel accumulators live in `scratch`, and every
 * pass streams over a sample's pixels reading c contiguous floats at a time.
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(name)))

/* acc[k] = 0 for k < c. */
static void zero(float *acc, int c) {
  for (int k = 0; k < c; k++) acc[k] = 0.0f;
}

/* acc[k] += row[k] over the pixels of one sample. */
static void sum_rows(const float *x, int pixels, int c, float *acc) {
  int c4 = c & ~3;
  for (int p = 0; p < pixels; p++) {
    const float *row = x + p * c;
    int k = 0;
    for (; k < c4; k += 4) wasm_v128_store(acc + k, wasm_f32x4_add(wasm_v128_load(acc + k), wasm_v128_load(row + k)));
    for (; k < c; k++) acc[k] += row[k];
  }
}

/* acc[k] += (row[k] - mean[k])^2 over the pixels of one sample. */
static void sum_squares(const float *x, const float *mean, int pixels, int c, float *acc) {
  int c4 = c & ~3;
  for (int p = 0; p < pixels; p++) {
    const float *row = x + p * c;
    int k = 0;
    for (; k < c4; k += 4) {
      v128_t d = wasm_f32x4_sub(wasm_v128_load(row + k), wasm_v128_load(mean + k));
      wasm_v128_store(acc + k, wasm_f32x4_add(wasm_v128_load(acc + k), wasm_f32x4_mul(d, d)));
    }
    for (; k < c; k++) {
      float d = row[k] - mean[k];
      acc[k] += d * d;
    }
  }
}

/*
 * x̂ = (x − mean)·rstd and, when y is not null, y = x̂·scale + offset.
 * rstd: [n, c] out. scratch: 2c floats.
 */
EXPORT("instance_norm")
void instance_norm(const float *x, float *xhat, float *y, float *rstd, const float *scale, const float *offset, float *scratch, int n,
                   int pixels, int c, float epsilon) {
  float *mean = scratch;
  float *acc = scratch + c;
  int c4 = c & ~3;
  for (int s = 0; s < n; s++) {
    const float *xs = x + s * pixels * c;
    float *xh = xhat + s * pixels * c;
    float *r = rstd + s * c;
    zero(acc, c);
    sum_rows(xs, pixels, c, acc);
    for (int k = 0; k < c; k++) mean[k] = acc[k] / (float)pixels;
    zero(acc, c);
    sum_squares(xs, mean, pixels, c, acc);
    for (int k = 0; k < c; k++) r[k] = 1.0f / __builtin_sqrtf(acc[k] / (float)pixels + epsilon);
    float *ys = y ? y + s * pixels * c : 0;
    for (int p = 0; p < pixels; p++) {
      const float *row = xs + p * c;
      float *out = xh + p * c;
      float *yrow = ys ? ys + p * c : 0;
      int k = 0;
      for (; k < c4; k += 4) {
        v128_t v = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(row + k), wasm_v128_load(mean + k)), wasm_v128_load(r + k));
        wasm_v128_store(out + k, v);
        if (yrow) wasm_v128_store(yrow + k, wasm_f32x4_add(wasm_f32x4_mul(v, wasm_v128_load(scale + k)), wasm_v128_load(offset + k)));
      }
      for (; k < c; k++) {
        float v = (row[k] - mean[k]) * r[k];
        out[k] = v;
        if (yrow) yrow[k] = v * scale[k] + offset[k];
      }
    }
  }
}

/*
 * With f = rstd·scale (scale null: 1) and means over the pixels of a sample:
 *   dx = f·dy − f·mean(dy) − x̂·f·mean(dy·x̂),  dscale = Σ dy·x̂,  doffset = Σ dy (over n and pixels).
 * dscale and doffset may be null (no scale). scratch: 5c floats.
 */
EXPORT("instance_norm_grad")
void instance_norm_grad(const float *dy, const float *xhat, const float *rstd, const float *scale, float *dx, float *dscale,
                        float *doffset, float *scratch, int n, int pixels, int c) {
  float *sum_dy = scratch;
  float *sum_dy_xhat = scratch + c;
  float *factor = scratch + 2 * c;
  float *shift = scratch + 3 * c;
  float *slope = scratch + 4 * c;
  int c4 = c & ~3;
  if (dscale) zero(dscale, c);
  if (doffset) zero(doffset, c);
  for (int s = 0; s < n; s++) {
    const float *dys = dy + s * pixels * c;
    const float *xh = xhat + s * pixels * c;
    float *dxs = dx + s * pixels * c;
    zero(sum_dy, c);
    zero(sum_dy_xhat, c);
    for (int p = 0; p < pixels; p++) {
      const float *d = dys + p * c;
      const float *h = xh + p * c;
      int k = 0;
      for (; k < c4; k += 4) {
        v128_t dv = wasm_v128_load(d + k);
        wasm_v128_store(sum_dy + k, wasm_f32x4_add(wasm_v128_load(sum_dy + k), dv));
        wasm_v128_store(sum_dy_xhat + k, wasm_f32x4_add(wasm_v128_load(sum_dy_xhat + k), wasm_f32x4_mul(dv, wasm_v128_load(h + k))));
      }
      for (; k < c; k++) {
        sum_dy[k] += d[k];
        sum_dy_xhat[k] += d[k] * h[k];
      }
    }
    for (int k = 0; k < c; k++) {
      float f = rstd[s * c + k] * (scale ? scale[k] : 1.0f);
      factor[k] = f;
      shift[k] = f * sum_dy[k] / (float)pixels;
      slope[k] = f * sum_dy_xhat[k] / (float)pixels;
      if (dscale) dscale[k] += sum_dy_xhat[k];
      if (doffset) doffset[k] += sum_dy[k];
    }
    for (int p = 0; p < pixels; p++) {
      const float *d = dys + p * c;
      const float *h = xh + p * c;
      float *o = dxs + p * c;
      int k = 0;
      for (; k < c4; k += 4) {
        v128_t v = wasm_f32x4_sub(wasm_f32x4_mul(wasm_v128_load(factor + k), wasm_v128_load(d + k)), wasm_v128_load(shift + k));
        wasm_v128_store(o + k, wasm_f32x4_sub(v, wasm_f32x4_mul(wasm_v128_load(h + k), wasm_v128_load(slope + k))));
      }
      for (; k < c; k++) o[k] = factor[k] * d[k] - shift[k] - h[k] * slope[k];
    }
  }
}
