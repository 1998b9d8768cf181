// Tessera training kernels (issue 32): the element-wise and reduction work of one optimizer
// step of the `train` kernel — LayerNorm forward with its cache, GELU, scaled softmax, their
// backward passes, the bias / LayerNorm parameter reductions, the embedding scatter-adds and
// AdamW. The products run through tessera_gemm_f32 (gemm.cu). A transliteration of
// src/train/{forward,backward,adamw}.rs with the same rules as embed.cu (whose te_exp,
// te_erf and te_gelu it uses; it follows embed.cu in the translation unit): only correctly
// rounded operations, __fmaf_rn exactly where the CPU calls mul_add, every reduction walked
// by one thread in index order from +0.0f. Spec: docs/KERNELS.md, "train on CUDA".

#define TR_ELEM_THREADS 256     // element-wise and column kernels: one thread per item

// LayerNorm of rows x h in place, keeping x^ = (x - mean) / denom and each row's denom
// (train::forward::ln_chunk). One warp per row, 4 rows per block; lane 0 walks the row's
// two reductions; all lanes then write x^ and the output.
extern "C" __global__ void __launch_bounds__(EMB_ROW_THREADS)
tessera_train_ln(float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
                 float* __restrict__ xhat, float* __restrict__ denom, int rows, int h, float eps)
{
    __shared__ float stat[EMB_ROWS_PER_BLOCK][2];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const long long r = (long long)blockIdx.x * EMB_ROWS_PER_BLOCK + warp;
    const bool live = r < rows;
    float* xr = x + (live ? (unsigned long long)r * h : 0ull);
    if (live && lane == 0) {
        const float n = (float)h;
        float s = 0.0f;
        for (int j = 0; j < h; ++j) s = __fadd_rn(s, xr[j]);
        const float mean = __fdiv_rn(s, n);
        float var = 0.0f;
        for (int j = 0; j < h; ++j) {
            const float d = __fsub_rn(xr[j], mean);
            var = __fmaf_rn(d, d, var);
        }
        const float den = __fsqrt_rn(__fadd_rn(__fdiv_rn(var, n), eps));
        stat[warp][0] = mean;
        stat[warp][1] = den;
        denom[r] = den;
    }
    // Lane 0's reads of the row all happen before any lane overwrites it.
    __syncthreads();
    if (!live) return;
    const float mean = stat[warp][0], den = stat[warp][1];
    float* xh = xhat + (unsigned long long)r * h;
    for (int j = lane; j < h; j += 32) {
        const float v = __fdiv_rn(__fsub_rn(xr[j], mean), den);
        xh[j] = v;
        xr[j] = __fmaf_rn(v, w[j], b[j]);
    }
}

// LayerNorm backward, dx (train::backward::ln_back_dx): g = dy * w; lane 0 walks the ordered
// sum of g and the fused dot g . x^ (g recomputed, the same bits); then
// dx = fma(-x^, mean(g x^), g - mean(g)) / denom.
extern "C" __global__ void __launch_bounds__(EMB_ROW_THREADS)
tessera_train_ln_back(const float* __restrict__ dy, const float* __restrict__ xhat,
                      const float* __restrict__ denom, const float* __restrict__ w,
                      float* __restrict__ dx, int rows, int h)
{
    __shared__ float stat[EMB_ROWS_PER_BLOCK][2];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const long long r = (long long)blockIdx.x * EMB_ROWS_PER_BLOCK + warp;
    const bool live = r < rows;
    const unsigned long long o = live ? (unsigned long long)r * h : 0ull;
    const float* dyr = dy + o;
    const float* xh = xhat + o;
    if (live && lane == 0) {
        const float n = (float)h;
        float s = 0.0f, sx = 0.0f;
        for (int j = 0; j < h; ++j) s = __fadd_rn(s, __fmul_rn(dyr[j], w[j]));
        for (int j = 0; j < h; ++j) sx = __fmaf_rn(__fmul_rn(dyr[j], w[j]), xh[j], sx);
        stat[warp][0] = __fdiv_rn(s, n);
        stat[warp][1] = __fdiv_rn(sx, n);
    }
    __syncthreads();
    if (!live) return;
    const float mean_g = stat[warp][0], mean_gx = stat[warp][1], den = denom[r];
    float* dxr = dx + o;
    for (int j = lane; j < h; j += 32) {
        const float g = __fmul_rn(dyr[j], w[j]);
        dxr[j] = __fdiv_rn(__fmaf_rn(-xh[j], mean_gx, __fsub_rn(g, mean_g)), den);
    }
}

// LayerNorm backward, the parameters (train::backward::ln_back_params): thread j walks the
// rows in order, dw = fma(dy, x^, dw) and db = db + dy, both from +0.0.
extern "C" __global__ void tessera_train_ln_params(const float* __restrict__ dy,
                                                   const float* __restrict__ xhat,
                                                   float* __restrict__ dw, float* __restrict__ db,
                                                   int rows, int h)
{
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= h) return;
    float aw = 0.0f, ab = 0.0f;
    for (long long r = 0; r < rows; ++r) {
        const float d = dy[r * h + j];
        aw = __fmaf_rn(d, xhat[r * h + j], aw);
        ab = __fadd_rn(ab, d);
    }
    dw[j] = aw;
    db[j] = ab;
}

// A dense layer's bias gradient (train::backward::col_sums): thread j sums column j over the
// rows in order from +0.0.
extern "C" __global__ void tessera_train_col_sums(const float* __restrict__ dy,
                                                  float* __restrict__ out, int rows, int cols)
{
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= cols) return;
    float a = 0.0f;
    for (long long r = 0; r < rows; ++r) a = __fadd_rn(a, dy[r * cols + j]);
    out[j] = a;
}

// a[i] = a[i] + b[i] (residuals, the sums of the gradients of two paths).
extern "C" __global__ void tessera_train_add(float* __restrict__ a, const float* __restrict__ b,
                                             int n)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    a[i] = __fadd_rn(a[i], b[i]);
}

// dst[i] = gelu(src[i]) (the feed-forward activation, keeping its input).
extern "C" __global__ void tessera_train_gelu(const float* __restrict__ src, float* __restrict__ dst,
                                              int n)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    dst[i] = te_gelu(src[i]);
}

// dy[i] = dy[i] * GELU'(x[i]), GELU'(x) = fma(x, exp(-0.5 x^2) / sqrt(2 pi), 0.5 (1 + erf(x / sqrt 2)))
// (train::backward::gelu_grad).
extern "C" __global__ void tessera_train_gelu_back(const float* __restrict__ x, float* __restrict__ dy,
                                                   int n)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float v = x[i];
    const float cdf = __fmul_rn(0.5f, __fadd_rn(1.0f, te_erf(__fmul_rn(v, TE_F(0x3f3504f3u)))));
    const float pdf = __fmul_rn(te_exp(__fmul_rn(-0.5f, __fmul_rn(v, v))), TE_F(0x3ecc422au));
    dy[i] = __fmul_rn(dy[i], __fmaf_rn(v, pdf, cdf));
}

// Attention scores to probabilities (train::forward::scaled_softmax): row i (offset off[i],
// len[i] values) is divided by `scale`, then max (strict >, from -inf), e = exp(s - max), the
// sum in order, e / sum. One thread per row.
extern "C" __global__ void tessera_train_softmax(float* __restrict__ p,
                                                 const unsigned long long* __restrict__ off,
                                                 const unsigned int* __restrict__ len, int rows,
                                                 float scale)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows) return;
    float* s = p + off[i];
    const unsigned int n = len[i];
    float m = TE_F(0xff800000u);  // -inf
    for (unsigned int j = 0; j < n; ++j) {
        s[j] = __fdiv_rn(s[j], scale);
        if (s[j] > m) m = s[j];
    }
    float sum = 0.0f;
    for (unsigned int j = 0; j < n; ++j) {
        s[j] = te_exp(__fsub_rn(s[j], m));
        sum = __fadd_rn(sum, s[j]);
    }
    for (unsigned int j = 0; j < n; ++j) s[j] = __fdiv_rn(s[j], sum);
}

// Softmax backward (train::backward::softmax_back): row i of ds holds dP; r = the fused dot
// of the row of P with it; ds = (p * (ds - r)) / scale. One thread per row.
extern "C" __global__ void tessera_train_softmax_back(const float* __restrict__ p, float* __restrict__ ds,
                                                      const unsigned long long* __restrict__ off,
                                                      const unsigned int* __restrict__ len, int rows,
                                                      float scale)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows) return;
    const float* pr = p + off[i];
    float* d = ds + off[i];
    const unsigned int n = len[i];
    float r = 0.0f;
    for (unsigned int j = 0; j < n; ++j) r = __fmaf_rn(pr[j], d[j], r);
    for (unsigned int j = 0; j < n; ++j) d[j] = __fdiv_rn(__fmul_rn(pr[j], __fsub_rn(d[j], r)), scale);
}

// The embedding tables' gradients (the end of train::backward::backward): thread j walks the
// token rows in order and adds row r's gradient to word[ids[r]], position[pos[r]] and token
// type 0 (a scatter-add in one fixed order; the tables start at zero).
extern "C" __global__ void tessera_train_embed_back(const float* __restrict__ demb,
                                                    const unsigned int* __restrict__ ids,
                                                    const unsigned int* __restrict__ pos,
                                                    float* __restrict__ word, float* __restrict__ position,
                                                    float* __restrict__ type0, int rows, int h)
{
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= h) return;
    for (long long r = 0; r < rows; ++r) {
        const float g = demb[r * h + j];
        float* wv = word + (unsigned long long)ids[r] * h + j;
        float* pv = position + (unsigned long long)pos[r] * h + j;
        *wv = __fadd_rn(*wv, g);
        *pv = __fadd_rn(*pv, g);
        type0[j] = __fadd_rn(type0[j], g);
    }
}

// One AdamW step of a tensor (train::adamw::adam_chunk), the host's per-step scalars given:
//   x = p (times `decay` when the tensor is decayed)
//   m = fma(b1, m, one_b1 * g);  v = fma(b2, v, (one_b2 * g) * g)
//   p = fma(-step, m / (sqrt(v) / bc2 + eps), x)
extern "C" __global__ void tessera_train_adamw(float* __restrict__ p, const float* __restrict__ g,
                                               float* __restrict__ m, float* __restrict__ v,
                                               int n, int decayed, float decay, float step,
                                               float bc2, float one_b1, float one_b2, float b1,
                                               float b2, float eps)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float x = p[i];
    if (decayed) x = __fmul_rn(x, decay);
    const float gi = g[i];
    const float mi = __fmaf_rn(b1, m[i], __fmul_rn(one_b1, gi));
    const float vi = __fmaf_rn(b2, v[i], __fmul_rn(__fmul_rn(one_b2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    const float den = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2), eps);
    p[i] = __fmaf_rn(-step, __fdiv_rn(mi, den), x);
}
