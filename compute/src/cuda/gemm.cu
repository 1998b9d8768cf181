// Tessera deterministic GEMM kernels. Compiled by NVRTC with --fmad=false --ftz=false
// --prec-div=true --prec-sqrt=true (no fast math). Spec: docs/KERNELS.md.

// ---------------------------------------------------------------------------------------------
// f32: C[M][N] = A[M][K] * B[K][N], row-major. One accumulator per output element starting at
// +0.0f, acc = __fmaf_rn(A[i][k], B[k][j], acc) for k = 0..K-1 ascending. The K loop of the
// last tile stops at K exactly (no padded iterations), so the sequence of roundings is the
// CPU reference's. Block tile 128x128x16, 256 threads, 8x8 outputs per thread (strided by 16).
// The grid depends only on M and N; no split-K, no atomics.
// ---------------------------------------------------------------------------------------------
#define FBM 128
#define FBN 128
#define FBK 16

extern "C" __global__ void __launch_bounds__(256)
tessera_gemm_f32(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C,
                 int M, int N, int K)
{
    __shared__ float As[FBK][FBM];
    __shared__ float Bs[FBK][FBN + 4];
    const int tid = threadIdx.x;
    const int tr = tid >> 4;      // 0..15
    const int tc = tid & 15;      // 0..15
    const int bm = blockIdx.y * FBM;
    const int bn = blockIdx.x * FBN;
    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += FBK) {
        // A tile: 128 rows x 16 k = 2048 values, 8 per thread, stored transposed As[k][m].
#pragma unroll
        for (int p = 0; p < 8; ++p) {
            int idx = tid + p * 256;
            int r = idx >> 4, kk = idx & 15;
            int gm = bm + r, gk = k0 + kk;
            As[kk][r] = (gm < M && gk < K) ? A[(unsigned long long)gm * K + gk] : 0.0f;
        }
        // B tile: 16 k x 128 cols.
#pragma unroll
        for (int p = 0; p < 8; ++p) {
            int idx = tid + p * 256;
            int kk = idx >> 7, c = idx & 127;
            int gk = k0 + kk, gn = bn + c;
            Bs[kk][c] = (gk < K && gn < N) ? B[(unsigned long long)gk * N + gn] : 0.0f;
        }
        __syncthreads();
        const int kmax = (K - k0 < FBK) ? (K - k0) : FBK;
        if (kmax == FBK) {
#pragma unroll
            for (int kk = 0; kk < FBK; ++kk) {
                float a[8], b[8];
#pragma unroll
                for (int i = 0; i < 8; ++i) a[i] = As[kk][tr + 16 * i];
#pragma unroll
                for (int j = 0; j < 8; ++j) b[j] = Bs[kk][tc + 16 * j];
#pragma unroll
                for (int i = 0; i < 8; ++i)
#pragma unroll
                    for (int j = 0; j < 8; ++j) acc[i][j] = __fmaf_rn(a[i], b[j], acc[i][j]);
            }
        } else {
            for (int kk = 0; kk < kmax; ++kk) {
                float a[8], b[8];
#pragma unroll
                for (int i = 0; i < 8; ++i) a[i] = As[kk][tr + 16 * i];
#pragma unroll
                for (int j = 0; j < 8; ++j) b[j] = Bs[kk][tc + 16 * j];
#pragma unroll
                for (int i = 0; i < 8; ++i)
#pragma unroll
                    for (int j = 0; j < 8; ++j) acc[i][j] = __fmaf_rn(a[i], b[j], acc[i][j]);
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        int gm = bm + tr + 16 * i;
        if (gm >= M) continue;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            int gn = bn + tc + 16 * j;
            if (gn < N) C[(unsigned long long)gm * N + gn] = acc[i][j];
        }
    }
}

// ---------------------------------------------------------------------------------------------
// int8: exact int32 accumulation modulo 2^32 (order-free). The inputs are first copied into
// zero-padded, K-contiguous buffers: Ap[Mp][Kp] (rows of A) and Bt[Np][Kp] (columns of B),
// Mp, Np multiples of 128 and Kp a multiple of 64. Zero padding adds exact zeros.
// ---------------------------------------------------------------------------------------------
#define IBM 128
#define IBN 128
#define IBK 64
#define ISTRIDE 20   // words per shared row: 16 data words + 4 padding (conflict-free frags)

// Ap[r][c] = A[r][c] for r < rows, c < cols, else 0. One thread per 4 output bytes.
extern "C" __global__ void tessera_pad_i8(const signed char* __restrict__ src, int rows, int cols,
                                          int* __restrict__ dst, int rows_p, int cols_p)
{
    unsigned long long w = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    unsigned long long words_per_row = (unsigned long long)(cols_p >> 2);
    if (w >= (unsigned long long)rows_p * words_per_row) return;
    int r = (int)(w / words_per_row);
    int c = (int)(w % words_per_row) * 4;
    unsigned int v = 0;
    if (r < rows) {
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            int cc = c + q;
            if (cc < cols) {
                v |= ((unsigned int)(unsigned char)src[(unsigned long long)r * cols + cc]) << (8 * q);
            }
        }
    }
    dst[w] = (int)v;
}

// Bt[n][k] = B[k][n] (zero padded to Np x Kp), 32x32 tiles through shared memory.
// grid.x covers Np/32; grid.y strides over Kp/32 (so any Kp fits the 65535 limit of grid.y).
extern "C" __global__ void tessera_transpose_pad_i8(const signed char* __restrict__ B, int K, int N,
                                                    signed char* __restrict__ Bt, int Kp, int Np)
{
    __shared__ signed char tile[32][33];
    const int n0 = blockIdx.x * 32;
    const int tx = threadIdx.x, ty = threadIdx.y;  // 32 x 8
    for (int kb = blockIdx.y; kb < (Kp >> 5); kb += gridDim.y) {
        const int k0 = kb * 32;
        for (int i = ty; i < 32; i += 8) {
            int k = k0 + i, n = n0 + tx;
            tile[i][tx] = (k < K && n < N) ? B[(unsigned long long)k * N + n] : (signed char)0;
        }
        __syncthreads();
        for (int i = ty; i < 32; i += 8) {
            int n = n0 + i, k = k0 + tx;
            if (n < Np && k < Kp) Bt[(unsigned long long)n * Kp + k] = tile[tx][i];
        }
        __syncthreads();
    }
}

// Loads a 128 x 64-byte tile of a padded, K-contiguous matrix into shared words.
__device__ __forceinline__ void tessera_load_tile_i8(const int* __restrict__ src, int row0, int Kp,
                                                     int k0, int (*dst)[ISTRIDE])
{
    const int tid = threadIdx.x;
    const int kw = Kp >> 2;
#pragma unroll
    for (int p = 0; p < 2; ++p) {
        int idx = tid + p * 256;      // 0..511: 128 rows x 4 int4
        int r = idx >> 2, q = idx & 3;
        const int4 v = *reinterpret_cast<const int4*>(src + (unsigned long long)(row0 + r) * kw + (k0 >> 2) + q * 4);
        *reinterpret_cast<int4*>(&dst[r][q * 4]) = v;
    }
}

// dp4a kernel (sm_61+): 8x8 outputs per thread (strided by 16), 256 threads.
extern "C" __global__ void __launch_bounds__(256)
tessera_gemm_i8_dp4a(const int* __restrict__ Ap, const int* __restrict__ Bt, int* __restrict__ C,
                     int M, int N, int Kp)
{
    __shared__ __align__(16) int As[IBM][ISTRIDE];
    __shared__ __align__(16) int Bs[IBN][ISTRIDE];
    const int tid = threadIdx.x;
    const int tr = tid >> 4, tc = tid & 15;
    const int bm = blockIdx.y * IBM, bn = blockIdx.x * IBN;
    int acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = 0;
    for (int k0 = 0; k0 < Kp; k0 += IBK) {
        tessera_load_tile_i8(Ap, bm, Kp, k0, As);
        tessera_load_tile_i8(Bt, bn, Kp, k0, Bs);
        __syncthreads();
#pragma unroll 4
        for (int w = 0; w < IBK / 4; ++w) {
            int a[8], b[8];
#pragma unroll
            for (int i = 0; i < 8; ++i) a[i] = As[tr + 16 * i][w];
#pragma unroll
            for (int j = 0; j < 8; ++j) b[j] = Bs[tc + 16 * j][w];
#pragma unroll
            for (int i = 0; i < 8; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) acc[i][j] = __dp4a(a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        int gm = bm + tr + 16 * i;
        if (gm >= M) continue;
#pragma unroll
        for (int j = 0; j < 8; ++j) {
            int gn = bn + tc + 16 * j;
            if (gn < N) C[(unsigned long long)gm * N + gn] = acc[i][j];
        }
    }
}

// Tensor-core kernel (sm_80+): mma.sync.m16n8k32 s8 x s8 -> s32 (exact integer MMA).
// 8 warps as 4 (M) x 2 (N); each warp owns 32 x 64 outputs = 2 x 8 mma tiles.
extern "C" __global__ void __launch_bounds__(256)
tessera_gemm_i8_mma(const int* __restrict__ Ap, const int* __restrict__ Bt, int* __restrict__ C,
                    int M, int N, int Kp)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    __shared__ __align__(16) int As[IBM][ISTRIDE];
    __shared__ __align__(16) int Bs[IBN][ISTRIDE];
    const int tid = threadIdx.x;
    const int warp = tid >> 5, lane = tid & 31;
    const int g = lane >> 2, t = lane & 3;
    const int wm = (warp >> 1) * 32, wn = (warp & 1) * 64;
    const int bm = blockIdx.y * IBM, bn = blockIdx.x * IBN;
    int acc[2][8][4];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j)
#pragma unroll
            for (int q = 0; q < 4; ++q) acc[i][j][q] = 0;
    for (int k0 = 0; k0 < Kp; k0 += IBK) {
        tessera_load_tile_i8(Ap, bm, Kp, k0, As);
        tessera_load_tile_i8(Bt, bn, Kp, k0, Bs);
        __syncthreads();
#pragma unroll
        for (int ks = 0; ks < IBK / 32; ++ks) {
            const int kw = ks * 8;
            int a[2][4], b[8][2];
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                const int r = wm + i * 16 + g;
                a[i][0] = As[r][kw + t];
                a[i][1] = As[r + 8][kw + t];
                a[i][2] = As[r][kw + 4 + t];
                a[i][3] = As[r + 8][kw + 4 + t];
            }
#pragma unroll
            for (int j = 0; j < 8; ++j) {
                const int c = wn + j * 8 + g;
                b[j][0] = Bs[c][kw + t];
                b[j][1] = Bs[c][kw + 4 + t];
            }
#pragma unroll
            for (int i = 0; i < 2; ++i)
#pragma unroll
                for (int j = 0; j < 8; ++j) {
#ifdef TESSERA_HOST_EMU
                    tessera_emu_mma_s8(acc[i][j], a[i], b[j]);
#else
                    asm volatile(
                        "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
                        "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                        : "+r"(acc[i][j][0]), "+r"(acc[i][j][1]), "+r"(acc[i][j][2]), "+r"(acc[i][j][3])
                        : "r"(a[i][0]), "r"(a[i][1]), "r"(a[i][2]), "r"(a[i][3]),
                          "r"(b[j][0]), "r"(b[j][1]));
#endif
                }
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j)
#pragma unroll
            for (int q = 0; q < 4; ++q) {
                const int gm = bm + wm + i * 16 + g + ((q >> 1) << 3);
                const int gn = bn + wn + j * 8 + t * 2 + (q & 1);
                if (gm < M && gn < N) C[(unsigned long long)gm * N + gn] = acc[i][j][q];
            }
#endif
}

// ---------------------------------------------------------------------------------------------
// Quantized MLP epilogues (integer only).
// ---------------------------------------------------------------------------------------------

// y = clamp((acc + bias) * mult + round >> shift, -128, 127), optional ReLU; int8 output.
extern "C" __global__ void tessera_requant_i8(const int* __restrict__ acc, const int* __restrict__ bias,
                                              signed char* __restrict__ out, int rows, int cols,
                                              int mult, int shift, int relu)
{
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (unsigned long long)rows * cols) return;
    int c = (int)(i % (unsigned long long)cols);
    int v = (int)((unsigned int)acc[i] + (unsigned int)bias[c]);
    long long p = (long long)v * (long long)mult;
    if (shift > 0) p = (p + (1LL << (shift - 1))) >> shift;
    if (p < -128) p = -128;
    if (p > 127) p = 127;
    if (relu && p < 0) p = 0;
    out[i] = (signed char)p;
}

// logits = acc + bias (wrapping int32).
extern "C" __global__ void tessera_bias_i32(int* __restrict__ acc, const int* __restrict__ bias,
                                            int rows, int cols)
{
    unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (unsigned long long)rows * cols) return;
    int c = (int)(i % (unsigned long long)cols);
    acc[i] = (int)((unsigned int)acc[i] + (unsigned int)bias[c]);
}
