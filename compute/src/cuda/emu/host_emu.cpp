// Host emulator of the Tessera CUDA kernels (tests only). Built by emu.rs with
//   c++ -std=c++17 -O2 -ffp-contract=off -fno-fast-math -shared -fPIC
// and driven through tessera_emu_launch(), which takes the same argument pointers a CUDA
// launch takes (kernelParams).
#include "host_emu.h"

#include <ucontext.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

dim3 threadIdx, blockIdx, blockDim, gridDim;

#include "../gemm.cu"
#include "../render.cu"
#include "../render_mesh.cu"
#include "../embed.cu"
#include "../train.cu"
#include "../generate.cu"

namespace {

const size_t STACK_BYTES = 64 * 1024;

struct Fiber {
    ucontext_t ctx;
    std::vector<char> stack;
    dim3 tid;
    bool done = false;
    bool waiting = false;
};

std::vector<Fiber>* g_fibers = nullptr;
ucontext_t g_sched;
int g_current = -1;
void (*g_body)(void**) = nullptr;
void** g_args = nullptr;
const char* g_error = nullptr;

struct MmaSlot {
    int a[4];
    int b[2];
};
MmaSlot g_mma[1024];

void fiber_main() {
    g_body(g_args);
    (*g_fibers)[g_current].done = true;
    // returning resumes uc_link (the scheduler)
}

// Runs every thread of the current block to completion, switching at barriers.
void run_block(unsigned int nthreads, bool cooperative) {
    if (!cooperative) {
        for (unsigned int t = 0; t < nthreads; ++t) {
            threadIdx.x = t % blockDim.x;
            threadIdx.y = (t / blockDim.x) % blockDim.y;
            threadIdx.z = t / (blockDim.x * blockDim.y);
            g_body(g_args);
        }
        return;
    }
    std::vector<Fiber>& fibers = *g_fibers;
    for (unsigned int t = 0; t < nthreads; ++t) {
        Fiber& f = fibers[t];
        f.done = false;
        f.waiting = false;
        f.tid.x = t % blockDim.x;
        f.tid.y = (t / blockDim.x) % blockDim.y;
        f.tid.z = t / (blockDim.x * blockDim.y);
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack.data();
        f.ctx.uc_stack.ss_size = f.stack.size();
        f.ctx.uc_link = &g_sched;
        makecontext(&f.ctx, fiber_main, 0);
    }
    for (;;) {
        bool any_alive = false;
        for (unsigned int t = 0; t < nthreads; ++t) {
            Fiber& f = fibers[t];
            if (f.done) continue;
            any_alive = true;
            f.waiting = false;
            g_current = (int)t;
            threadIdx = f.tid;
            swapcontext(&g_sched, &f.ctx);
        }
        if (!any_alive) break;
        // Every live fiber is now parked at the same barrier (or finished): next phase.
    }
}

}  // namespace

void tessera_emu_syncthreads() {
    if (g_current < 0) {
        g_error = "__syncthreads() in a kernel launched without barrier support";
        return;
    }
    Fiber& f = (*g_fibers)[g_current];
    f.waiting = true;
    swapcontext(&f.ctx, &g_sched);
    threadIdx = f.tid;
}

// mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 for one warp, fragment layout as in the
// PTX ISA ("Matrix Fragments for mma.m16n8k32", .s8): groupID g = lane >> 2, t = lane & 3;
// A: a0 (row g, k 4t..4t+3), a1 (row g+8), a2 (k +16), a3 (row g+8, k +16);
// B: b0 (k 4t..4t+3, col g), b1 (k +16); C/D: c0,c1 (row g, col 2t, 2t+1), c2,c3 (row g+8).
void tessera_emu_mma_s8(int* acc, const int* a, const int* b) {
    const unsigned int tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    for (int i = 0; i < 4; ++i) g_mma[tid].a[i] = a[i];
    for (int i = 0; i < 2; ++i) g_mma[tid].b[i] = b[i];
    tessera_emu_syncthreads();
    const unsigned int warp0 = tid & ~31u, lane = tid & 31u;
    const int g = (int)(lane >> 2), t = (int)(lane & 3);
    auto byte = [](int word, int k) { return (int32_t)(int8_t)((uint32_t)word >> (8 * (k & 3))); };
    for (int q = 0; q < 4; ++q) {
        const int row = g + ((q >> 1) << 3);
        const int col = t * 2 + (q & 1);
        uint32_t sum = (uint32_t)acc[q];
        for (int k = 0; k < 32; ++k) {
            const MmaSlot& sa = g_mma[warp0 + (row & 7) * 4 + ((k & 15) >> 2)];
            const int av = byte(sa.a[(row >= 8 ? 1 : 0) + (k >= 16 ? 2 : 0)], k);
            const MmaSlot& sb = g_mma[warp0 + col * 4 + ((k & 15) >> 2)];
            const int bv = byte(sb.b[k >= 16 ? 1 : 0], k);
            sum += (uint32_t)(av * bv);
        }
        acc[q] = (int)sum;
    }
    tessera_emu_syncthreads();
}

#define ARG(T, i) (*(T*)args[i])

static void k_gemm_f32(void** args) {
    tessera_gemm_f32(ARG(const float*, 0), ARG(const float*, 1), ARG(float*, 2), ARG(int, 3), ARG(int, 4),
                     ARG(int, 5));
}
static void k_pad_i8(void** args) {
    tessera_pad_i8(ARG(const signed char*, 0), ARG(int, 1), ARG(int, 2), ARG(int*, 3), ARG(int, 4), ARG(int, 5));
}
static void k_transpose_pad_i8(void** args) {
    tessera_transpose_pad_i8(ARG(const signed char*, 0), ARG(int, 1), ARG(int, 2), ARG(signed char*, 3),
                             ARG(int, 4), ARG(int, 5));
}
static void k_gemm_i8_dp4a(void** args) {
    tessera_gemm_i8_dp4a(ARG(const int*, 0), ARG(const int*, 1), ARG(int*, 2), ARG(int, 3), ARG(int, 4),
                         ARG(int, 5));
}
static void k_gemm_i8_mma(void** args) {
    tessera_gemm_i8_mma(ARG(const int*, 0), ARG(const int*, 1), ARG(int*, 2), ARG(int, 3), ARG(int, 4),
                        ARG(int, 5));
}
static void k_requant_i8(void** args) {
    tessera_requant_i8(ARG(const int*, 0), ARG(const int*, 1), ARG(signed char*, 2), ARG(int, 3), ARG(int, 4),
                       ARG(int, 5), ARG(int, 6), ARG(int, 7));
}
static void k_bias_i32(void** args) {
    tessera_bias_i32(ARG(int*, 0), ARG(const int*, 1), ARG(int, 2), ARG(int, 3));
}
static void k_render(void** args) {
    tessera_render(ARG(const unsigned int*, 0), ARG(const float*, 1), ARG(const unsigned int*, 2),
                   ARG(const float*, 3), ARG(const float*, 4), ARG(int, 5), ARG(unsigned int, 6),
                   ARG(unsigned int, 7), ARG(unsigned int, 8), ARG(unsigned int, 9), ARG(unsigned int, 10),
                   ARG(unsigned int, 11), ARG(unsigned int, 12), ARG(unsigned char*, 13),
                   ARG(unsigned int*, 14));
}
static void k_render_mesh(void** args) {
    tessera_render_mesh(ARG(const float*, 0), ARG(const unsigned int*, 1), ARG(const float*, 2),
                        ARG(const float*, 3), ARG(const unsigned int*, 4), ARG(const unsigned int*, 5),
                        ARG(const float*, 6), ARG(const unsigned int*, 7), ARG(const unsigned char*, 8),
                        ARG(const unsigned int*, 9), ARG(const float*, 10), ARG(const float*, 11),
                        ARG(const float*, 12), ARG(const unsigned int*, 13), ARG(const float*, 14),
                        ARG(const float*, 15), ARG(unsigned int, 16), ARG(unsigned int, 17),
                        ARG(unsigned int, 18), ARG(unsigned int, 19), ARG(float, 20), ARG(unsigned int, 21),
                        ARG(unsigned int, 22), ARG(unsigned int, 23), ARG(unsigned int, 24),
                        ARG(unsigned int, 25), ARG(unsigned int, 26), ARG(unsigned int, 27),
                        ARG(unsigned int, 28), ARG(unsigned int, 29), ARG(unsigned int, 30),
                        ARG(unsigned int, 31), ARG(float*, 32), ARG(unsigned int*, 33));
}

static void k_embed_tokens(void** args) {
    tessera_embed_tokens(ARG(const unsigned int*, 0), ARG(const unsigned int*, 1), ARG(const float*, 2),
                         ARG(const float*, 3), ARG(const float*, 4), ARG(const float*, 5), ARG(const float*, 6),
                         ARG(float*, 7), ARG(int, 8), ARG(int, 9), ARG(float, 10));
}
static void k_embed_add_ln(void** args) {
    tessera_embed_add_ln(ARG(float*, 0), ARG(const float*, 1), ARG(const float*, 2), ARG(const float*, 3),
                         ARG(const float*, 4), ARG(int, 5), ARG(int, 6), ARG(float, 7));
}
static void k_embed_bias(void** args) {
    tessera_embed_bias(ARG(float*, 0), ARG(const float*, 1), ARG(int, 2), ARG(int, 3));
}
static void k_embed_bias_gelu(void** args) {
    tessera_embed_bias_gelu(ARG(float*, 0), ARG(const float*, 1), ARG(int, 2), ARG(int, 3));
}
static void k_embed_attention(void** args) {
    tessera_embed_attention(ARG(const float*, 0), ARG(const unsigned int*, 1), ARG(float*, 2), ARG(int, 3),
                            ARG(int, 4), ARG(float, 5));
}
static void k_embed_pool(void** args) {
    tessera_embed_pool(ARG(const float*, 0), ARG(const unsigned int*, 1), ARG(const unsigned int*, 2),
                       ARG(float*, 3), ARG(int, 4));
}

static void k_train_ln(void** args) {
    tessera_train_ln(ARG(float*, 0), ARG(const float*, 1), ARG(const float*, 2), ARG(float*, 3), ARG(float*, 4),
                     ARG(int, 5), ARG(int, 6), ARG(float, 7));
}
static void k_train_ln_back(void** args) {
    tessera_train_ln_back(ARG(const float*, 0), ARG(const float*, 1), ARG(const float*, 2), ARG(const float*, 3),
                          ARG(float*, 4), ARG(int, 5), ARG(int, 6));
}
static void k_train_ln_params(void** args) {
    tessera_train_ln_params(ARG(const float*, 0), ARG(const float*, 1), ARG(float*, 2), ARG(float*, 3),
                            ARG(int, 4), ARG(int, 5));
}
static void k_train_col_sums(void** args) {
    tessera_train_col_sums(ARG(const float*, 0), ARG(float*, 1), ARG(int, 2), ARG(int, 3));
}
static void k_train_add(void** args) { tessera_train_add(ARG(float*, 0), ARG(const float*, 1), ARG(int, 2)); }
static void k_train_gelu(void** args) { tessera_train_gelu(ARG(const float*, 0), ARG(float*, 1), ARG(int, 2)); }
static void k_train_gelu_back(void** args) {
    tessera_train_gelu_back(ARG(const float*, 0), ARG(float*, 1), ARG(int, 2));
}
static void k_train_softmax(void** args) {
    tessera_train_softmax(ARG(float*, 0), ARG(const unsigned long long*, 1), ARG(const unsigned int*, 2),
                          ARG(int, 3), ARG(float, 4));
}
static void k_train_softmax_back(void** args) {
    tessera_train_softmax_back(ARG(const float*, 0), ARG(float*, 1), ARG(const unsigned long long*, 2),
                               ARG(const unsigned int*, 3), ARG(int, 4), ARG(float, 5));
}
static void k_train_embed_back(void** args) {
    tessera_train_embed_back(ARG(const float*, 0), ARG(const unsigned int*, 1), ARG(const unsigned int*, 2),
                             ARG(float*, 3), ARG(float*, 4), ARG(float*, 5), ARG(int, 6), ARG(int, 7));
}
static void k_train_adamw(void** args) {
    tessera_train_adamw(ARG(float*, 0), ARG(const float*, 1), ARG(float*, 2), ARG(float*, 3), ARG(int, 4),
                        ARG(int, 5), ARG(float, 6), ARG(float, 7), ARG(float, 8), ARG(float, 9), ARG(float, 10),
                        ARG(float, 11), ARG(float, 12), ARG(float, 13));
}

static void k_gen_rmsnorm(void** args) {
    tessera_gen_rmsnorm(ARG(const float*, 0), ARG(const float*, 1), ARG(float*, 2), ARG(int, 3), ARG(int, 4),
                        ARG(float, 5));
}
static void k_gen_rope(void** args) {
    tessera_gen_rope(ARG(float*, 0), ARG(const float*, 1), ARG(const float*, 2), ARG(const unsigned int*, 3),
                     ARG(int, 4), ARG(int, 5), ARG(int, 6));
}
static void k_gen_attention(void** args) {
    tessera_gen_attention(ARG(const float*, 0), ARG(const float*, 1), ARG(const float*, 2),
                          ARG(const unsigned int*, 3), ARG(float*, 4), ARG(int, 5), ARG(int, 6), ARG(int, 7),
                          ARG(int, 8), ARG(float, 9));
}
static void k_gen_swiglu(void** args) { tessera_gen_swiglu(ARG(float*, 0), ARG(const float*, 1), ARG(int, 2)); }

struct Entry {
    const char* name;
    void (*body)(void**);
    bool cooperative;  // uses __syncthreads / warp-wide operations
};
static const Entry ENTRIES[] = {
    {"tessera_gemm_f32", k_gemm_f32, true},
    {"tessera_pad_i8", k_pad_i8, false},
    {"tessera_transpose_pad_i8", k_transpose_pad_i8, true},
    {"tessera_gemm_i8_dp4a", k_gemm_i8_dp4a, true},
    {"tessera_gemm_i8_mma", k_gemm_i8_mma, true},
    {"tessera_requant_i8", k_requant_i8, false},
    {"tessera_bias_i32", k_bias_i32, false},
    {"tessera_render", k_render, false},
    {"tessera_render_mesh", k_render_mesh, false},
    {"tessera_embed_tokens", k_embed_tokens, true},
    {"tessera_embed_add_ln", k_embed_add_ln, true},
    {"tessera_embed_bias", k_embed_bias, false},
    {"tessera_embed_bias_gelu", k_embed_bias_gelu, false},
    {"tessera_embed_attention", k_embed_attention, true},
    {"tessera_embed_pool", k_embed_pool, true},
    {"tessera_train_ln", k_train_ln, true},
    {"tessera_train_ln_back", k_train_ln_back, true},
    {"tessera_train_ln_params", k_train_ln_params, false},
    {"tessera_train_col_sums", k_train_col_sums, false},
    {"tessera_train_add", k_train_add, false},
    {"tessera_train_gelu", k_train_gelu, false},
    {"tessera_train_gelu_back", k_train_gelu_back, false},
    {"tessera_train_softmax", k_train_softmax, false},
    {"tessera_train_softmax_back", k_train_softmax_back, false},
    {"tessera_train_embed_back", k_train_embed_back, false},
    {"tessera_train_adamw", k_train_adamw, false},
    {"tessera_gen_rmsnorm", k_gen_rmsnorm, true},
    {"tessera_gen_rope", k_gen_rope, false},
    {"tessera_gen_attention", k_gen_attention, true},
    {"tessera_gen_swiglu", k_gen_swiglu, false},
};

// Launches `name` over grid x block with CUDA-style argument pointers. Returns 0 on success,
// 1 for an unknown kernel, 2 for a bad configuration, 3 for an emulation error.
extern "C" int tessera_emu_launch(const char* name, unsigned int gx, unsigned int gy, unsigned int gz,
                                  unsigned int bx, unsigned int by, unsigned int bz, void** args) {
    const Entry* e = nullptr;
    for (const Entry& c : ENTRIES)
        if (std::strcmp(c.name, name) == 0) e = &c;
    if (!e) return 1;
    const unsigned long long nthreads = (unsigned long long)bx * by * bz;
    if (nthreads == 0 || nthreads > 1024 || gx == 0 || gy == 0 || gz == 0) return 2;
    std::vector<Fiber> fibers(e->cooperative ? nthreads : 0);
    for (Fiber& f : fibers) f.stack.resize(STACK_BYTES);
    g_fibers = &fibers;
    g_body = e->body;
    g_args = args;
    g_error = nullptr;
    blockDim = dim3{bx, by, bz};
    gridDim = dim3{gx, gy, gz};
    for (unsigned int z = 0; z < gz; ++z)
        for (unsigned int y = 0; y < gy; ++y)
            for (unsigned int x = 0; x < gx; ++x) {
                blockIdx = dim3{x, y, z};
                g_current = -1;
                run_block((unsigned int)nthreads, e->cooperative);
            }
    g_current = -1;
    g_fibers = nullptr;
    return g_error ? 3 : 0;
}
