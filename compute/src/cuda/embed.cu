// Tessera sentence-embedding kernels (BERT encoder forward pass), everything but the GEMMs,
// which run through tessera_gemm_f32 (gemm.cu). A transliteration of src/embed/math.rs and the
// operation order of src/embed/cpu.rs::embed_one: only correctly rounded operations
// (__fadd_rn, __fsub_rn, __fmul_rn, __fdiv_rn, __fsqrt_rn, and __fmaf_rn exactly where the CPU
// calls mul_add), every reduction sequential in index order from +0.0f (one thread walks it),
// constants given by their bit patterns. Spec: docs/KERNELS.md, "embed on CUDA".
//
// The batch is flattened: row r of every activation matrix is token r of the concatenated
// sequences; a sequence attends only to its own rows (per-sequence offsets), so no padding.

#define TE_F(bits) __int_as_float((int)(bits))

// Launch-shape constants shared with src/embed/cuda.rs (checked there by a unit test).
#define EMB_ROW_THREADS 128     // row kernels: 4 warps, one row per warp
#define EMB_ROWS_PER_BLOCK 4
#define EMB_ATT_THREADS 256     // attention: one block per (query tile, head)
#define EMB_ATT_SCAP 8192       // scores held per block (queries x keys of its tile)
#define EMB_ATT_QMAX 16         // queries per tile at most
#define EMB_POOL_THREADS 128    // pooling: one block per sequence

#define TE_CANONICAL_NAN TE_F(0x7fc00000u)

// render::math::exp: x = n ln2 + r, degree-7 Taylor polynomial by FMA Horner, times 2^n.
__device__ __forceinline__ float te_exp(float x)
{
    if (x != x) return x;
    x = x > TE_F(0xc2a00000u) ? x : TE_F(0xc2a00000u);  // max(x, -80)
    x = x < TE_F(0x42a00000u) ? x : TE_F(0x42a00000u);  // min(x, 80)
    const float nf = __fmul_rn(x, TE_F(0x3fb8aa3bu));   // x / ln 2
    const int n = nf < 0.0f ? -(int)__fadd_rn(-nf, 0.5f) : (int)__fadd_rn(nf, 0.5f);
    const float r = __fmaf_rn(-(float)n, TE_F(0x3f317218u), x);
    float p = TE_F(0x39500d01u);             // 1/5040
    p = __fmaf_rn(p, r, TE_F(0x3ab60b61u));  // 1/720
    p = __fmaf_rn(p, r, TE_F(0x3c088889u));  // 1/120
    p = __fmaf_rn(p, r, TE_F(0x3d2aaaabu));  // 1/24
    p = __fmaf_rn(p, r, TE_F(0x3e2aaaabu));  // 1/6
    p = __fmaf_rn(p, r, 0.5f);
    p = __fmaf_rn(p, r, 1.0f);
    p = __fmaf_rn(p, r, 1.0f);
    return __fmul_rn(p, __int_as_float((n + 127) << 23));
}

// embed::math::erf: Abramowitz & Stegun 7.1.26, FMA Horner, odd symmetry; NaN and +-0 as is.
__device__ __forceinline__ float te_erf(float x)
{
    if (x != x || x == 0.0f) return x;
    const float ax = x < 0.0f ? -x : x;
    if (ax > 10.0f) return x < 0.0f ? -1.0f : 1.0f;
    const float t = __fdiv_rn(1.0f, __fmaf_rn(TE_F(0x3ea7ba05u), ax, 1.0f));  // p = 0.3275911
    float poly = TE_F(0x3f87dc22u);                // a5
    poly = __fmaf_rn(poly, t, TE_F(0xbfba00e3u));  // a4
    poly = __fmaf_rn(poly, t, TE_F(0x3fb5f0e2u));  // a3
    poly = __fmaf_rn(poly, t, TE_F(0xbe91a98fu));  // a2
    poly = __fmaf_rn(poly, t, TE_F(0x3e827906u));  // a1
    poly = __fmul_rn(poly, t);
    const float y = __fsub_rn(1.0f, __fmul_rn(poly, te_exp(-__fmul_rn(ax, ax))));
    return x < 0.0f ? -y : y;
}

// embed::math::gelu: x * (0.5 * (1 + erf(x / sqrt 2))).
__device__ __forceinline__ float te_gelu(float x)
{
    return __fmul_rn(x, __fmul_rn(0.5f, __fadd_rn(1.0f, te_erf(__fmul_rn(x, TE_F(0x3f3504f3u))))));
}

// ---------------------------------------------------------------------------------------------
// Row kernels (embeddings + LayerNorm, bias + residual + LayerNorm): one warp per row, 4 rows
// per 128-thread block. Lane 0 runs the row's two ordered reductions (embed::math::layer_norm:
// mean by an ordered sum, biased variance by an FMA chain); the row's values are recomputed
// from their inputs wherever they are needed (the same operations, so the same bits). Then all
// lanes write the normalised row. Every thread reaches the barrier (rows past the end idle).
// ---------------------------------------------------------------------------------------------

// Token r: v[j] = (word[ids[r]][j] + type0[j]) + position[pos[r]][j]; x[r] = LayerNorm(v).
extern "C" __global__ void __launch_bounds__(EMB_ROW_THREADS)
tessera_embed_tokens(const unsigned int* __restrict__ ids, const unsigned int* __restrict__ pos,
                     const float* __restrict__ word, const float* __restrict__ type0,
                     const float* __restrict__ position, const float* __restrict__ ln_w,
                     const float* __restrict__ ln_b, float* __restrict__ x, int rows, int h,
                     float eps)
{
    __shared__ float stat[EMB_ROWS_PER_BLOCK][2];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const long long r = (long long)blockIdx.x * EMB_ROWS_PER_BLOCK + warp;
    const bool live = r < rows;
    const float* wr = word;
    const float* pr = position;
    if (live) {
        wr = word + (unsigned long long)ids[r] * h;
        pr = position + (unsigned long long)pos[r] * h;
    }
    if (live && lane == 0) {
        const float n = (float)h;
        float s = 0.0f;
        for (int j = 0; j < h; ++j) s = __fadd_rn(s, __fadd_rn(__fadd_rn(wr[j], type0[j]), pr[j]));
        const float mean = __fdiv_rn(s, n);
        float var = 0.0f;
        for (int j = 0; j < h; ++j) {
            const float d = __fsub_rn(__fadd_rn(__fadd_rn(wr[j], type0[j]), pr[j]), mean);
            var = __fmaf_rn(d, d, var);
        }
        stat[warp][0] = mean;
        stat[warp][1] = __fsqrt_rn(__fadd_rn(__fdiv_rn(var, n), eps));
    }
    __syncthreads();
    if (!live) return;
    const float mean = stat[warp][0], denom = stat[warp][1];
    float* xr = x + (unsigned long long)r * h;
    for (int j = lane; j < h; j += 32) {
        const float v = __fadd_rn(__fadd_rn(wr[j], type0[j]), pr[j]);
        xr[j] = __fmaf_rn(__fdiv_rn(__fsub_rn(v, mean), denom), ln_w[j], ln_b[j]);
    }
}

// In place: v[j] = (y[r][j] + bias[j]) + res[r][j]; y[r] = LayerNorm(v). (The projection's
// bias is added after the GEMM, then the residual, as cpu.rs does.)
extern "C" __global__ void __launch_bounds__(EMB_ROW_THREADS)
tessera_embed_add_ln(float* __restrict__ y, const float* __restrict__ bias,
                     const float* __restrict__ res, const float* __restrict__ ln_w,
                     const float* __restrict__ ln_b, int rows, int h, float eps)
{
    __shared__ float stat[EMB_ROWS_PER_BLOCK][2];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const long long r = (long long)blockIdx.x * EMB_ROWS_PER_BLOCK + warp;
    const bool live = r < rows;
    float* yr = y + (live ? (unsigned long long)r * h : 0ull);
    const float* rr = res + (live ? (unsigned long long)r * h : 0ull);
    if (live && lane == 0) {
        const float n = (float)h;
        float s = 0.0f;
        for (int j = 0; j < h; ++j) s = __fadd_rn(s, __fadd_rn(__fadd_rn(yr[j], bias[j]), rr[j]));
        const float mean = __fdiv_rn(s, n);
        float var = 0.0f;
        for (int j = 0; j < h; ++j) {
            const float d = __fsub_rn(__fadd_rn(__fadd_rn(yr[j], bias[j]), rr[j]), mean);
            var = __fmaf_rn(d, d, var);
        }
        stat[warp][0] = mean;
        stat[warp][1] = __fsqrt_rn(__fadd_rn(__fdiv_rn(var, n), eps));
    }
    // Lane 0's reads of the row all happen before any lane overwrites it.
    __syncthreads();
    if (!live) return;
    const float mean = stat[warp][0], denom = stat[warp][1];
    for (int j = lane; j < h; j += 32) {
        const float v = __fadd_rn(__fadd_rn(yr[j], bias[j]), rr[j]);
        yr[j] = __fmaf_rn(__fdiv_rn(__fsub_rn(v, mean), denom), ln_w[j], ln_b[j]);
    }
}

// ---------------------------------------------------------------------------------------------
// Element-wise epilogues over rows x cols (one thread per element, 256 per block).
// ---------------------------------------------------------------------------------------------

// y[r][c] += bias[c] (the fused q|k|v projection's biases).
extern "C" __global__ void tessera_embed_bias(float* __restrict__ y, const float* __restrict__ bias,
                                              int rows, int cols)
{
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (unsigned long long)rows * cols) return;
    y[i] = __fadd_rn(y[i], bias[i % (unsigned long long)cols]);
}

// y[r][c] = gelu(y[r][c] + bias[c]) (the feed-forward up projection).
extern "C" __global__ void tessera_embed_bias_gelu(float* __restrict__ y, const float* __restrict__ bias,
                                                   int rows, int cols)
{
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (unsigned long long)rows * cols) return;
    y[i] = te_gelu(__fadd_rn(y[i], bias[i % (unsigned long long)cols]));
}

// ---------------------------------------------------------------------------------------------
// Attention. qkv is rows x 3h (q | k | v, biases added); ctx is rows x h. Block (x, y) is
// work item x of `items` (4 u32: first row of its sequence, sequence length L, first query q0,
// query count qn with qn * L <= EMB_ATT_SCAP) and head y (columns y*d .. y*d+d-1). For each of
// its queries i, exactly as cpu.rs::embed_one:
//   s_j = dot(q_i, k_j) / scale   (FMA chain over e ascending from +0.0; scale = sqrt(d))
//   softmax: m = max (sequential, strict >), e_j = exp(s_j - m), sum in j order, e_j / sum
//   ctx_i[e] = FMA chain over j ascending from +0.0 of p_j * v_j[e]
// The element-wise steps run on all threads; each row's max and sum are walked by one thread.
// ---------------------------------------------------------------------------------------------
extern "C" __global__ void __launch_bounds__(EMB_ATT_THREADS)
tessera_embed_attention(const float* __restrict__ qkv, const unsigned int* __restrict__ items,
                        float* __restrict__ ctx, int h, int d, float scale)
{
    __shared__ float S[EMB_ATT_SCAP];
    __shared__ float row_stat[EMB_ATT_QMAX];
    const unsigned int* it = items + 4ull * blockIdx.x;
    const unsigned long long start = it[0];
    const int len = (int)it[1], q0 = (int)it[2], qn = (int)it[3];
    const int off = (int)blockIdx.y * d;
    const unsigned long long ld = 3ull * (unsigned long long)h;
    const float* Q = qkv + (start + q0) * ld + off;
    const float* K = qkv + start * ld + h + off;
    const float* V = qkv + start * ld + 2 * h + off;
    const int tid = threadIdx.x;
    const int n = qn * len;

    for (int idx = tid; idx < n; idx += EMB_ATT_THREADS) {
        const int i = idx / len, j = idx - i * len;
        const float* qi = Q + (unsigned long long)i * ld;
        const float* kj = K + (unsigned long long)j * ld;
        float acc = 0.0f;
        for (int e = 0; e < d; ++e) acc = __fmaf_rn(qi[e], kj[e], acc);
        S[idx] = __fdiv_rn(acc, scale);
    }
    __syncthreads();
    if (tid < qn) {
        const float* s = S + tid * len;
        float m = TE_F(0xff800000u);  // -inf
        for (int j = 0; j < len; ++j)
            if (s[j] > m) m = s[j];
        row_stat[tid] = m;
    }
    __syncthreads();
    for (int idx = tid; idx < n; idx += EMB_ATT_THREADS) S[idx] = te_exp(__fsub_rn(S[idx], row_stat[idx / len]));
    __syncthreads();
    if (tid < qn) {
        const float* s = S + tid * len;
        float sum = 0.0f;
        for (int j = 0; j < len; ++j) sum = __fadd_rn(sum, s[j]);
        row_stat[tid] = sum;
    }
    __syncthreads();
    for (int idx = tid; idx < n; idx += EMB_ATT_THREADS) S[idx] = __fdiv_rn(S[idx], row_stat[idx / len]);
    __syncthreads();
    for (int idx = tid; idx < qn * d; idx += EMB_ATT_THREADS) {
        const int i = idx / d, e = idx - i * d;
        const float* p = S + i * len;
        float acc = 0.0f;
        for (int j = 0; j < len; ++j) acc = __fmaf_rn(p[j], V[(unsigned long long)j * ld + e], acc);
        ctx[(start + q0 + i) * (unsigned long long)h + off + e] = acc;
    }
}

// ---------------------------------------------------------------------------------------------
// Mean pooling and L2 normalisation: block b is sequence b (rows seq_start[b] ..
// + seq_len[b]). Thread j sums column j over the rows in order from +0.0 and divides by the
// length; thread 0 walks the FMA chain of the squared norm; norm = sqrt, at least 1e-12; each
// value divided by it, NaN canonical (0x7FC00000).
// ---------------------------------------------------------------------------------------------
extern "C" __global__ void __launch_bounds__(EMB_POOL_THREADS)
tessera_embed_pool(const float* __restrict__ x, const unsigned int* __restrict__ seq_start,
                   const unsigned int* __restrict__ seq_len, float* __restrict__ out, int h)
{
    __shared__ float norm_s;
    const unsigned long long start = seq_start[blockIdx.x];
    const unsigned int len = seq_len[blockIdx.x];
    float* o = out + (unsigned long long)blockIdx.x * h;
    const float n = (float)len;
    for (int j = threadIdx.x; j < h; j += EMB_POOL_THREADS) {
        float p = 0.0f;
        for (unsigned int t = 0; t < len; ++t) p = __fadd_rn(p, x[(start + t) * h + j]);
        o[j] = __fdiv_rn(p, n);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float acc = 0.0f;
        for (int j = 0; j < h; ++j) acc = __fmaf_rn(o[j], o[j], acc);
        const float norm = __fsqrt_rn(acc);
        norm_s = norm > TE_F(0x2b8cbcccu) ? norm : TE_F(0x2b8cbcccu);  // 1e-12
    }
    __syncthreads();
    const float norm = norm_s;
    for (int j = threadIdx.x; j < h; j += EMB_POOL_THREADS) {
        const float v = __fdiv_rn(o[j], norm);
        o[j] = v != v ? TE_CANONICAL_NAN : v;
    }
}
