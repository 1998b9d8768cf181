// Tessera text-generation kernels (issue 33): the non-product work of the decoder's pass —
// RMSNorm, RoPE, attention of new rows over their sequences' caches, SwiGLU — a
// transliteration of src/generate/forward.rs under embed.cu's rules (whose te_exp it uses; it
// follows embed.cu and train.cu in the translation unit): correctly rounded intrinsics,
// __fmaf_rn exactly where the CPU fuses, every reduction walked by one thread in order from
// +0.0f. The products run through tessera_gemm_f32, biases through tessera_embed_bias,
// residuals through tessera_train_add. Spec: docs/KERNELS.md, "generate on CUDA".

#define GEN_ATT_THREADS 128   // attention: one block per (row, head)
#define GEN_ATT_SCAP 8192     // keys a block holds (a longer span runs on the CPU)

// RMSNorm of rows x h into y (generate::forward::rms_rows): lane 0 walks ss = fma(x, x, ss);
// r = sqrt(ss / h + eps); y = (x / r) * w. One warp per row, 4 rows per block.
extern "C" __global__ void __launch_bounds__(EMB_ROW_THREADS)
tessera_gen_rmsnorm(const float* __restrict__ x, const float* __restrict__ w, float* __restrict__ y,
                    int rows, int h, float eps)
{
    __shared__ float stat[EMB_ROWS_PER_BLOCK];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const long long r = (long long)blockIdx.x * EMB_ROWS_PER_BLOCK + warp;
    const bool live = r < rows;
    const float* xr = x + (live ? (unsigned long long)r * h : 0ull);
    if (live && lane == 0) {
        float ss = 0.0f;
        for (int j = 0; j < h; ++j) ss = __fmaf_rn(xr[j], xr[j], ss);
        stat[warp] = __fsqrt_rn(__fadd_rn(__fdiv_rn(ss, (float)h), eps));
    }
    __syncthreads();
    if (!live) return;
    const float rr = stat[warp];
    float* yr = y + (unsigned long long)r * h;
    for (int j = lane; j < h; j += 32) yr[j] = __fmul_rn(__fdiv_rn(xr[j], rr), w[j]);
}

// RoPE in place on rows x width (width = heads * 2 * half), row r at position pos[r]
// (generate::rope::Rope::rotate): pair (a, b) = (x[i], x[i + half]) of each head becomes
// (a*cos - b*sin, b*cos + a*sin), products rounded, then the sum. One thread per pair.
extern "C" __global__ void tessera_gen_rope(float* __restrict__ x, const float* __restrict__ cos_t,
                                            const float* __restrict__ sin_t,
                                            const unsigned int* __restrict__ pos, int rows,
                                            int width, int half)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long pairs = (long long)width / 2;
    if (i >= (long long)rows * pairs) return;
    const long long r = i / pairs, rem = i - r * pairs;
    const long long head = rem / half, j = rem - head * half;
    float* base = x + r * width + head * 2 * half;
    const unsigned long long t = (unsigned long long)pos[r] * half + j;
    const float c = cos_t[t], s = sin_t[t];
    const float a = base[j], b = base[j + half];
    base[j] = __fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s));
    base[j + half] = __fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s));
}

// Attention of new rows over their sequences' caches (generate::forward::attend). Block
// (x, y) is row x, query head y; items[3x .. 3x+2] = (first cache row of its sequence in
// keys/values, lo, p): keys lo ..= p of that sequence (p - lo + 1 <= GEN_ATT_SCAP).
//   s_j = fma chain over e of q[e] * k_j[e], times scale; max (strict >, from -inf);
//   e_j = exp(s_j - max); sum in j order; p_j = e_j / sum; ctx[e] = fma chain over j.
extern "C" __global__ void __launch_bounds__(GEN_ATT_THREADS)
tessera_gen_attention(const float* __restrict__ q, const float* __restrict__ keys,
                      const float* __restrict__ values, const unsigned int* __restrict__ items,
                      float* __restrict__ ctx, int q_dim, int kv_dim, int d, int group, float scale)
{
    __shared__ float S[GEN_ATT_SCAP];
    __shared__ float stat;
    const unsigned int* it = items + 3ull * blockIdx.x;
    const unsigned long long first = it[0];
    const int lo = (int)it[1], p = (int)it[2];
    const int n = p - lo + 1;
    const int head = (int)blockIdx.y;
    const float* qh = q + (unsigned long long)blockIdx.x * q_dim + head * d;
    const int off = (head / group) * d;
    const int tid = threadIdx.x;
    for (int j = tid; j < n; j += GEN_ATT_THREADS) {
        const float* kj = keys + (first + lo + j) * (unsigned long long)kv_dim + off;
        float acc = 0.0f;
        for (int e = 0; e < d; ++e) acc = __fmaf_rn(qh[e], kj[e], acc);
        S[j] = __fmul_rn(acc, scale);
    }
    __syncthreads();
    if (tid == 0) {
        float m = TE_F(0xff800000u);
        for (int j = 0; j < n; ++j)
            if (S[j] > m) m = S[j];
        stat = m;
    }
    __syncthreads();
    const float m = stat;
    for (int j = tid; j < n; j += GEN_ATT_THREADS) S[j] = te_exp(__fsub_rn(S[j], m));
    __syncthreads();
    if (tid == 0) {
        float sum = 0.0f;
        for (int j = 0; j < n; ++j) sum = __fadd_rn(sum, S[j]);
        stat = sum;
    }
    __syncthreads();
    const float sum = stat;
    for (int j = tid; j < n; j += GEN_ATT_THREADS) S[j] = __fdiv_rn(S[j], sum);
    __syncthreads();
    float* out = ctx + (unsigned long long)blockIdx.x * q_dim + head * d;
    for (int e = tid; e < d; e += GEN_ATT_THREADS) {
        float acc = 0.0f;
        for (int j = 0; j < n; ++j)
            acc = __fmaf_rn(S[j], values[(first + lo + j) * (unsigned long long)kv_dim + off + e], acc);
        out[e] = acc;
    }
}

// g = (g / (1 + exp(-g))) * u (SwiGLU).
extern "C" __global__ void tessera_gen_swiglu(float* __restrict__ g, const float* __restrict__ u, int n)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float v = g[i];
    g[i] = __fmul_rn(__fdiv_rn(v, __fadd_rn(1.0f, te_exp(-v))), u[i]);
}
