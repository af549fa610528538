// Training kernels for the batched layers (jsc_hw/kernels.py): Conv1d forward and backward on (R, C, L, B) blocks,
// batch innermost, optionally fused with the fake quantiser that follows it; the fake quantiser alone; the weight
// and bias quantisers.  One thread; each repeat is computed alone, so a repeat's numbers never depend on its
// batch-mates.  Vectors are GCC vector extensions (16 floats), which compile for any target; no -ffast-math: the
// rounding relies on IEEE float32 arithmetic.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#include <immintrin.h>
#define JSC_AVX512 1
#endif

namespace {

typedef float vf __attribute__((vector_size(64)));
constexpr int V = 16;

template <class T> inline T load(const float* p) { T v; std::memcpy(&v, p, sizeof v); return v; }
template <class T> inline void store(float* p, T v) { std::memcpy(p, &v, sizeof v); }
template <class T> inline T splat(float a) { return T{} + a; }
template <> inline float splat<float>(float a) { return a; }

// ---- the activation quantiser [u]fixed<bits, int_bits> (jsc_hw.layers._FakeQuant) ----------------------------
// y = round_s(clamp(x, lo, hi)), straight-through mask gmin < x < gmax.  mode 0: (v + a) - a (a = 1.5 * 2**23 * s
// rounds to a multiple of s, half to even); 1: floor(v * a) * b; 2: nearbyint(v * a) * b (a = 1 / s, b = s).
struct Quant {
  float lo, hi, a, b, gmin, gmax;
  int mode;
  explicit Quant(const float* p) : lo(p[0]), hi(p[1]), a(p[3]), b(p[4]), gmin(p[5]), gmax(p[6]), mode(int(p[2])) {}
};

inline vf rounded(vf v, const Quant& q) {
  if (q.mode == 0) return (v + q.a) - q.a;  // the sum is rounded to float32, then a comes off exactly
  vf u = v * q.a;
  for (int i = 0; i < V; ++i) u[i] = q.mode == 1 ? std::floor(u[i]) : std::nearbyint(u[i]);
  return u * q.b;
}
inline float rounded(float v, const Quant& q) {
  if (q.mode == 0) return (v + q.a) - q.a;
  return (q.mode == 1 ? std::floor(v * q.a) : std::nearbyint(v * q.a)) * q.b;
}

// 16 mask bytes (1 where gmin < x < gmax), and 16 floats of g where the mask bytes are set, else 0.  GCC's generic
// byte-vector conversions go through scalars, so AVX-512 gets its mask instructions.
#ifdef JSC_AVX512
inline void store_mask(uint8_t* m, vf x, float gmin, float gmax) {
  const __mmask16 k = _mm512_cmp_ps_mask(__m512(x), _mm512_set1_ps(gmin), _CMP_GT_OQ) &
                      _mm512_cmp_ps_mask(__m512(x), _mm512_set1_ps(gmax), _CMP_LT_OQ);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(m), _mm_maskz_set1_epi8(k, 1));
}
inline vf load_masked(const float* g, const uint8_t* m) {
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(m));
  return vf(_mm512_maskz_loadu_ps(_mm_test_epi8_mask(bytes, bytes), g));
}
#else
inline void store_mask(uint8_t* m, vf x, float gmin, float gmax) {
  for (int i = 0; i < V; ++i) m[i] = x[i] > gmin && x[i] < gmax;
}
inline vf load_masked(const float* g, const uint8_t* m) {
  vf v;
  for (int i = 0; i < V; ++i) v[i] = m[i] ? g[i] : 0.0f;
  return v;
}
#endif

inline void quant_store(float* y, uint8_t* m, vf x, const Quant& q) {
  vf v = x < q.lo ? splat<vf>(q.lo) : x;
  v = v > q.hi ? splat<vf>(q.hi) : v;
  store<vf>(y, rounded(v, q));
  if (m) store_mask(m, x, q.gmin, q.gmax);
}
inline void quant_store(float* y, uint8_t* m, float x, const Quant& q) {
  float v = x < q.lo ? q.lo : x;
  v = v > q.hi ? q.hi : v;
  *y = rounded(v, q);
  if (m) *m = x > q.gmin && x < q.gmax;
}

// out = m ? g : 0 (the straight-through gradient)
void masked(const float* g, const uint8_t* m, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + V <= n; i += V) store<vf>(out + i, load_masked(g + i, m + i));
  for (; i < n; ++i) out[i] = m[i] ? g[i] : 0.0f;
}

// ---- Conv1d, one repeat ---------------------------------------------------------------------------------------
// Output position q, columns [b0, b0 + lanes of T): y[o, q, b] = bias[o] + sum_{c, j} w[o, c, j] x[c, q+j-pad, b]
// for the OB channels of a block (wt: (c, j, OB), zero past the block's end); rows of x outside [0, l_in) read
// `zero`.  With q set, y is quantised on the way out and m gets its mask.
template <class T, int OB>
inline void conv_columns(const float* x, const float* wt, const float* bias, float* y, uint8_t* m, const Quant* qt,
                         int n_o, int c_in, int k, int l_in, int l_out, int pad, int B, int q, int b0,
                         const float* zero) {
  T acc[OB];
  for (int o = 0; o < OB; ++o) acc[o] = splat<T>(bias ? bias[o] : 0.0f);
  for (int c = 0; c < c_in; ++c) {
    for (int j = 0; j < k; ++j) {
      const int p = q + j - pad;
      const float* row = (p >= 0 && p < l_in) ? x + (int64_t(c) * l_in + p) * B : zero;
      const T xv = load<T>(row + b0);
      const float* w = wt + (c * k + j) * OB;
      for (int o = 0; o < OB; ++o) acc[o] += xv * w[o];  // vector * scalar: one broadcast FMA
    }
  }
  for (int o = 0; o < n_o; ++o) {
    const int64_t at = (int64_t(o) * l_out + q) * B + b0;
    if (qt)
      quant_store(y + at, m ? m + at : nullptr, acc[o], *qt);
    else
      store<T>(y + at, acc[o]);
  }
}

// Columns in vectors of V; a ragged end is one more vector ending at B (it recomputes a few columns, with the same
// values); fewer than V columns run as scalars.
template <int OB>
void conv_block(const float* x, const float* wt, const float* bias, float* y, uint8_t* m, const Quant* qt, int n_o,
                int c_in, int k, int l_in, int l_out, int pad, int B, const float* zero) {
  for (int q = 0; q < l_out; ++q) {
    if (B < V) {
      for (int b = 0; b < B; ++b)
        conv_columns<float, OB>(x, wt, bias, y, m, qt, n_o, c_in, k, l_in, l_out, pad, B, q, b, zero);
      continue;
    }
    for (int b0 = 0; b0 < B; b0 += V)
      conv_columns<vf, OB>(x, wt, bias, y, m, qt, n_o, c_in, k, l_in, l_out, pad, B, q, b0 + V <= B ? b0 : B - V, zero);
  }
}

// One repeat, all output channels; weight(o, c, j) gives the kernel in the orientation wanted (forward or the
// backward pass's transposed one).
template <class Weight>
void conv_repeat(const float* x, const float* bias, float* y, uint8_t* m, const Quant* qt, int c_in, int c_out, int k,
                 int l_in, int l_out, int pad, int B, Weight weight) {
  const int OB = c_out % 16 == 0 ? 16 : 8;
  std::vector<float> wt(size_t(c_in) * k * OB), zero(B, 0.0f), bb(OB);
  for (int o0 = 0; o0 < c_out; o0 += OB) {
    const int n_o = c_out - o0 < OB ? c_out - o0 : OB;
    for (int c = 0; c < c_in; ++c)
      for (int j = 0; j < k; ++j)
        for (int o = 0; o < OB; ++o) wt[(c * k + j) * OB + o] = o < n_o ? weight(o0 + o, c, j) : 0.0f;
    for (int o = 0; o < OB; ++o) bb[o] = (bias && o < n_o) ? bias[o0 + o] : 0.0f;
    const int64_t at = int64_t(o0) * l_out * B;
    uint8_t* mo = m ? m + at : nullptr;
    if (OB == 16)
      conv_block<16>(x, wt.data(), bias ? bb.data() : nullptr, y + at, mo, qt, n_o, c_in, k, l_in, l_out, pad, B,
                     zero.data());
    else
      conv_block<8>(x, wt.data(), bias ? bb.data() : nullptr, y + at, mo, qt, n_o, c_in, k, l_in, l_out, pad, B,
                    zero.data());
  }
}

// Output channels [o0, o0 + OB) (OB rows of gy, a zero row past the end), input channel c, position q, columns
// [b0, b0 + lanes of T) where `keep` is set: acc[o][j] += gy[o, q, b] x[c, q + j - pad, b].
template <class T, int OB, int K>
inline void weight_columns(const float* const* g_rows, const float* x, int c, int l_in, int pad, int B, int q, int b0,
                           const float* zero, T keep, T (&acc)[OB][K]) {
  T xv[K];
  for (int j = 0; j < K; ++j) {
    const int p = q + j - pad;
    xv[j] = load<T>(((p >= 0 && p < l_in) ? x + (int64_t(c) * l_in + p) * B : zero) + b0) * keep;
  }
  for (int o = 0; o < OB; ++o) {
    const T gv = load<T>(g_rows[o] + int64_t(q) * B + b0);
    for (int j = 0; j < K; ++j) acc[o][j] += gv * xv[j];
  }
}

inline float hsum(vf v) {
  float s = 0.0f;
  for (int i = 0; i < V; ++i) s += v[i];
  return s;
}

// One repeat: gw[o, c, j] = sum_{q, b} gy[o, q, b] x[c, q + j - pad, b]
template <int K>
void weight_grad(const float* x, const float* gy, float* gw, int c_in, int c_out, int l_in, int l_out, int pad, int B,
                 const float* zero) {
  constexpr int OB = 8;
  vf ones, ragged;
  for (int i = 0; i < V; ++i) ones[i] = 1.0f, ragged[i] = i >= V - B % V ? 1.0f : 0.0f;
  for (int o0 = 0; o0 < c_out; o0 += OB) {
    const int n_o = c_out - o0 < OB ? c_out - o0 : OB;
    const float* g_rows[OB];
    for (int o = 0; o < OB; ++o) g_rows[o] = o < n_o ? gy + int64_t(o0 + o) * l_out * B : zero;
    for (int c = 0; c < c_in; ++c) {
      vf acc[OB][K] = {};
      float tail[OB][K] = {};
      for (int q = 0; q < l_out; ++q) {
        if (B < V) {
          for (int b = 0; b < B; ++b) weight_columns<float, OB, K>(g_rows, x, c, l_in, pad, B, q, b, zero, 1.0f, tail);
          continue;
        }
        int b0 = 0;
        for (; b0 + V <= B; b0 += V) weight_columns<vf, OB, K>(g_rows, x, c, l_in, pad, B, q, b0, zero, ones, acc);
        if (b0 < B)  // the ragged end: one more vector ending at B, its first lanes (already summed) masked off
          weight_columns<vf, OB, K>(g_rows, x, c, l_in, pad, B, q, B - V, zero, ragged, acc);
      }
      for (int o = 0; o < n_o; ++o)
        for (int j = 0; j < K; ++j) gw[(int64_t(o0 + o) * c_in + c) * K + j] = hsum(acc[o][j]) + tail[o][j];
    }
  }
}

using WeightGrad = void (*)(const float*, const float*, float*, int, int, int, int, int, int, const float*);
constexpr WeightGrad WEIGHT_GRADS[] = {nullptr, weight_grad<1>, weight_grad<2>, weight_grad<3>, weight_grad<4>,
                                       weight_grad<5>};

}  // namespace

extern "C" {

// y (R, c_out, l_out, B) = conv(x (R, c_in, l_in, B), w (R, c_out, c_in, k)) + bias (R, c_out); with qp (the
// quantiser's lo, hi, mode, a, b, gmin, gmax) y is quantised and, when m is not null, m (like y) gets its mask.
void jsc_conv_forward(const float* x, const float* w, const float* bias, float* y, uint8_t* m, const float* qp, int R,
                      int c_in, int c_out, int k, int l_in, int l_out, int pad, int B) {
  static const float none[7] = {};
  const Quant quant(qp ? qp : none);
  const int64_t nx = int64_t(c_in) * l_in * B, ny = int64_t(c_out) * l_out * B;
  for (int r = 0; r < R; ++r) {
    const float* wr = w + int64_t(r) * c_out * c_in * k;
    conv_repeat(x + r * nx, bias + int64_t(r) * c_out, y + r * ny, m ? m + r * ny : nullptr, qp ? &quant : nullptr,
                c_in, c_out, k, l_in, l_out, pad, B,
                [=](int o, int c, int j) { return wr[(int64_t(o) * c_in + c) * k + j]; });
  }
}

// From g (R, c_out, l_out, B), the gradient of y (masked by m when m is not null: the fused quantiser's
// straight-through gradient): gx (R, c_in, l_in, B) unless null, gw (R, c_out, c_in, k), gb (R, c_out).  Per
// repeat the masked gradient is staged once (it stays in cache for the three passes).  Returns 0 if k > 5.
int jsc_conv_backward(const float* x, const float* w, const float* g, const uint8_t* m, float* gx, float* gw,
                      float* gb, int R, int c_in, int c_out, int k, int l_in, int l_out, int pad, int B) {
  if (k < 1 || k > 5) return 0;
  const int64_t nx = int64_t(c_in) * l_in * B, ny = int64_t(c_out) * l_out * B, n = int64_t(l_out) * B;
  std::vector<float> staged(m ? ny : 0), zero(size_t(l_out > 1 ? l_out : 1) * B, 0.0f);
  for (int r = 0; r < R; ++r) {
    const float* gy = g + r * ny;
    if (m) masked(gy, m + r * ny, staged.data(), ny), gy = staged.data();
    const float* wr = w + int64_t(r) * c_out * c_in * k;
    if (gx)  // the forward kernel with w transposed and flipped
      conv_repeat(gy, nullptr, gx + r * nx, nullptr, nullptr, c_out, c_in, k, l_out, l_in, k - 1 - pad, B,
                  [=](int c, int o, int j) { return wr[(int64_t(o) * c_in + c) * k + (k - 1 - j)]; });
    WEIGHT_GRADS[k](x + r * nx, gy, gw + int64_t(r) * c_out * c_in * k, c_in, c_out, l_in, l_out, pad, B,
                    zero.data());
    for (int o = 0; o < c_out; ++o) {
      const float* row = gy + o * n;
      vf acc = {};
      int64_t i = 0;
      for (; i + V <= n; i += V) acc += load<vf>(row + i);
      float s = hsum(acc);
      for (; i < n; ++i) s += row[i];
      gb[int64_t(r) * c_out + o] = s;
    }
  }
  return 1;
}

// The activation quantiser alone, over n elements: y = Q(x), and m = its mask when m is not null.
void jsc_fake_quant(const float* x, float* y, uint8_t* m, int64_t n, const float* qp) {
  const Quant q(qp);
  int64_t i = 0;
  for (; i + V <= n; i += V) quant_store(y + i, m ? m + i : nullptr, load<vf>(x + i), q);
  for (; i < n; ++i) quant_store(y + i, m ? m + i : nullptr, x[i], q);
}

void jsc_masked_grad(const float* g, const uint8_t* m, float* out, int64_t n) { masked(g, m, out, n); }

// The per-repeat weight quantiser and the bias quantiser of jsc_hw.layers._FakeWeightBias, given each repeat's
// power-of-two weight scale (computed by torch, as the twin does): qw = clamp(round(w / s), -hi_w, hi_w),
// qb = clamp(round(b / (s * in_scale)), lo_b, hi_b); writes qw * s and qb * s * in_scale.
void jsc_fake_weight_bias(const float* w, const float* b, const float* scale, float in_scale, int R, int n_w, int n_b,
                          int bits, int bias_bits, float* out_w, float* out_b) {
  const float hi_w = float((1 << (bits - 1)) - 1);
  const float lo_b = -std::ldexp(1.0f, bias_bits - 1), hi_b = std::ldexp(1.0f, bias_bits - 1) - 1.0f;
  for (int r = 0; r < R; ++r) {
    const float s = scale[r], bs = s * in_scale;
    for (int i = 0; i < n_w; ++i) {
      float q = std::nearbyint(w[r * n_w + i] / s);
      q = q < -hi_w ? -hi_w : q > hi_w ? hi_w : q;
      out_w[r * n_w + i] = q * s;
    }
    for (int i = 0; i < n_b; ++i) {
      float q = std::nearbyint(b[r * n_b + i] / bs);
      q = q < lo_b ? lo_b : q > hi_b ? hi_b : q;
      out_b[r * n_b + i] = q * bs;
    }
  }
}

// Its straight-through backward (Brevitas'): weights clamp with STE, biases without; the scale
// 2**ceil(log2(max|w| / 2**(bits-1))) passes d/ds = s / max|w| to the largest |w| (shared between ties).
void jsc_fake_weight_bias_backward(const float* w, const float* b, const float* scale, const float* maxabs,
                                   float in_scale, int R, int n_w, int n_b, int bits, int bias_bits, const float* g_w,
                                   const float* g_b, float* out_gw, float* out_gb) {
  const float hi_w = float((1 << (bits - 1)) - 1);
  const float lo_b = -std::ldexp(1.0f, bias_bits - 1), hi_b = std::ldexp(1.0f, bias_bits - 1) - 1.0f;
  for (int r = 0; r < R; ++r) {
    const float s = scale[r], bs = s * in_scale, mx = maxabs[r];
    double gs_w = 0.0, gs_b = 0.0;
    int ties = 0;
    for (int i = 0; i < n_w; ++i) {
      const float t = w[r * n_w + i] / s;
      float q = std::nearbyint(t);
      q = q < -hi_w ? -hi_w : q > hi_w ? hi_w : q;
      gs_w += double(g_w[r * n_w + i]) * double(q - t);  // d(q s)/ds with q = round_ste(w / s): q - w / s
      ties += std::fabs(w[r * n_w + i]) == mx;
    }
    for (int i = 0; i < n_b; ++i) {
      const float u = b[r * n_b + i] / bs, q = std::nearbyint(u);
      const bool keep = q >= lo_b && q <= hi_b;  // a clamped bias's q does not move: d/ds = q
      gs_b += double(g_b[r * n_b + i]) * double(keep ? q - u : (q < lo_b ? lo_b : hi_b));
      out_gb[r * n_b + i] = keep ? g_b[r * n_b + i] : 0.0f;
    }
    const float g_scale = float(gs_w) + float(gs_b) * in_scale;
    const float g_max = ties ? g_scale * s / mx / float(ties) : 0.0f;
    for (int i = 0; i < n_w; ++i) {
      const float wi = w[r * n_w + i];
      out_gw[r * n_w + i] = g_w[r * n_w + i] + (std::fabs(wi) == mx ? g_max * float((wi > 0) - (wi < 0)) : 0.0f);
    }
  }
}

}  // extern "C"
