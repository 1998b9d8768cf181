// Host emulation of the CUDA subset used by gemm.cu, render.cu and embed.cu, so the kernels can
// be run and compared with the CPU reference on machines without a GPU (tests only: emu.rs).
//
// Threads of a block run as cooperative fibers (ucontext) on one OS thread: __syncthreads()
// switches to the next fiber, so shared memory (`static`), barriers and the warp-wide
// mma.sync exchange behave as on a device. Blocks run one after another. Every intrinsic is
// the correctly rounded IEEE operation the CUDA one is documented to be; the file is compiled
// with -ffp-contract=off so no multiply-add is fused that the source does not fuse.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

struct dim3 {
    unsigned int x, y, z;
};
struct int4 {
    int x, y, z, w;
};

extern dim3 threadIdx, blockIdx, blockDim, gridDim;
void tessera_emu_syncthreads();
void tessera_emu_mma_s8(int* acc, const int* a, const int* b);

#define __global__
#define __device__ static
#define __forceinline__ inline
#define __restrict__ __restrict
#define __launch_bounds__(n)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static
#define __syncthreads() tessera_emu_syncthreads()
#define __CUDA_ARCH__ 800
#define TESSERA_HOST_EMU 1

static inline float __int_as_float(int v) {
    float f;
    std::memcpy(&f, &v, 4);
    return f;
}
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fsqrt_rn(float a) { return std::sqrt(a); }
static inline float __fmaf_rn(float a, float b, float c) { return std::fmaf(a, b, c); }
static inline float __uint2float_rn(unsigned int v) { return (float)v; }
// Saturating like the PTX cvt.rzi.u32.f32: NaN -> 0, below 0 -> 0, above range -> max.
static inline unsigned int __float2uint_rz(float f) {
    if (!(f > 0.0f)) return 0u;
    if (f >= 4294967296.0f) return 0xffffffffu;
    return (unsigned int)f;
}
// Saturating like the PTX cvt.rzi.s32.f32 / cvt.rzi.s64.f32 (and Rust's `as`): NaN -> 0.
static inline int __float2int_rz(float f) {
    if (f != f) return 0;
    if (f >= 2147483648.0f) return 0x7fffffff;
    if (f <= -2147483648.0f) return (int)0x80000000u;
    return (int)f;
}
static inline long long __float2ll_rz(float f) {
    if (f != f) return 0;
    if (f >= 9223372036854775808.0f) return 0x7fffffffffffffffll;
    if (f <= -9223372036854775808.0f) return (long long)0x8000000000000000ull;
    return (long long)f;
}
static inline float __int2float_rn(int v) { return (float)v; }
static inline float __ll2float_rn(long long v) { return (float)v; }
// Four signed byte products added to c (wrapping), as dp4a.s32.s32.
static inline int __dp4a(int a, int b, int c) {
    uint32_t acc = (uint32_t)c;
    for (int i = 0; i < 4; ++i) {
        int8_t x = (int8_t)((uint32_t)a >> (8 * i));
        int8_t y = (int8_t)((uint32_t)b >> (8 * i));
        acc += (uint32_t)((int32_t)x * (int32_t)y);
    }
    return (int)acc;
}
