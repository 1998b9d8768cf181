// Tessera deterministic path tracer: a line-by-line transliteration of src/render/cpu.rs and
// src/render/math.rs. Only correctly rounded operations (__fadd_rn-style + - * with
// --fmad=false, __fdiv_rn, __fsqrt_rn, __fmaf_rn where the CPU calls mul_add) are used, and
// every constant is given by its bit pattern. Spec: docs/KERNELS.md.

#define RF(bits) __int_as_float((int)(bits))

struct TV3 { float x, y, z; };

__device__ __forceinline__ TV3 tv3(float x, float y, float z) { TV3 v; v.x = x; v.y = y; v.z = z; return v; }
__device__ __forceinline__ TV3 tv3_load(const float* p) { return tv3(p[0], p[1], p[2]); }
__device__ __forceinline__ TV3 v_add(TV3 a, TV3 b) { return tv3(__fadd_rn(a.x, b.x), __fadd_rn(a.y, b.y), __fadd_rn(a.z, b.z)); }
__device__ __forceinline__ TV3 v_sub(TV3 a, TV3 b) { return tv3(__fsub_rn(a.x, b.x), __fsub_rn(a.y, b.y), __fsub_rn(a.z, b.z)); }
__device__ __forceinline__ TV3 v_neg(TV3 a) { return tv3(-a.x, -a.y, -a.z); }
__device__ __forceinline__ TV3 v_scale(TV3 a, float s) { return tv3(__fmul_rn(a.x, s), __fmul_rn(a.y, s), __fmul_rn(a.z, s)); }
__device__ __forceinline__ TV3 v_div(TV3 a, float s) { return tv3(__fdiv_rn(a.x, s), __fdiv_rn(a.y, s), __fdiv_rn(a.z, s)); }
__device__ __forceinline__ TV3 v_had(TV3 a, TV3 b) { return tv3(__fmul_rn(a.x, b.x), __fmul_rn(a.y, b.y), __fmul_rn(a.z, b.z)); }
__device__ __forceinline__ float v_dot(TV3 a, TV3 b) {
    return __fadd_rn(__fadd_rn(__fmul_rn(a.x, b.x), __fmul_rn(a.y, b.y)), __fmul_rn(a.z, b.z));
}
__device__ __forceinline__ TV3 v_cross(TV3 a, TV3 b) {
    return tv3(__fsub_rn(__fmul_rn(a.y, b.z), __fmul_rn(a.z, b.y)),
               __fsub_rn(__fmul_rn(a.z, b.x), __fmul_rn(a.x, b.z)),
               __fsub_rn(__fmul_rn(a.x, b.y), __fmul_rn(a.y, b.x)));
}
__device__ __forceinline__ TV3 v_normalize(TV3 a) { return v_div(a, __fsqrt_rn(v_dot(a, a))); }
__device__ __forceinline__ float f_abs(float x) { return x < 0.0f ? -x : x; }
__device__ __forceinline__ float f_min(float a, float b) { return a < b ? a : b; }
__device__ __forceinline__ float f_clamp01(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }

__device__ __forceinline__ unsigned int t_pcg(unsigned int v) {
    unsigned int s = v * 747796405u + 2891336453u;
    unsigned int w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}
__device__ __forceinline__ float t_rand01(unsigned int seed, unsigned int pixel, unsigned int sample,
                                          unsigned int stage, unsigned int dim) {
    unsigned int h = t_pcg(t_pcg(t_pcg(t_pcg(t_pcg(seed) ^ pixel) ^ sample) ^ stage) ^ dim);
    return __fmul_rn(__uint2float_rn(h >> 8), RF(0x33800000u));
}

__device__ void t_sincos_turns(float u, float* so, float* co) {
    if (!(u >= 0.0f)) u = 0.0f;
    float u4 = __fmul_rn(u, 4.0f);
    unsigned int q = (u4 < 4.0f) ? __float2uint_rz(u4) : 3u;
    if (q > 3u) q = 3u;
    float r = __fsub_rn(u4, __uint2float_rn(q));
    float t = __fmul_rn(r, RF(0x3fc90fdbu));
    float t2 = __fmul_rn(t, t);
    float ps = RF(0xb2d7322bu);
    ps = __fmaf_rn(ps, t2, RF(0x3638ef1du));
    ps = __fmaf_rn(ps, t2, RF(0xb9500d01u));
    ps = __fmaf_rn(ps, t2, RF(0x3c088889u));
    ps = __fmaf_rn(ps, t2, RF(0xbe2aaaabu));
    ps = __fmaf_rn(ps, t2, 1.0f);
    float s = __fmul_rn(t, ps);
    float pc = RF(0x310f76c7u);
    pc = __fmaf_rn(pc, t2, RF(0xb493f27eu));
    pc = __fmaf_rn(pc, t2, RF(0x37d00d01u));
    pc = __fmaf_rn(pc, t2, RF(0xbab60b61u));
    pc = __fmaf_rn(pc, t2, RF(0x3d2aaaabu));
    pc = __fmaf_rn(pc, t2, RF(0xbf000000u));
    float c = __fmaf_rn(pc, t2, 1.0f);
    if (q == 0u) { *so = s; *co = c; }
    else if (q == 1u) { *so = c; *co = -s; }
    else if (q == 2u) { *so = -s; *co = -c; }
    else { *so = -c; *co = s; }
}

#define T_MIN RF(0x3a83126fu)
#define T_MAX RF(0x7149f2cau)
#define EPS_PLANE RF(0x322bcc77u)
#define EPS_TRI RF(0x3089705fu)
#define EPS_ZERO RF(0x358637bdu)
#define OBJ_STRIDE 12
#define MAT_STRIDE 4

struct TScene {
    const unsigned int* obj_kind;
    const float* obj_data;
    const unsigned int* mat_kind;
    const float* mat_data;
    const float* camera;
    int n_obj;
    unsigned int width, height, spp, max_bounces, seed;
};

__device__ bool t_hit(const TScene& s, TV3 o, TV3 d, TV3* hp, TV3* hn, bool* hfront, int* hmat) {
    float closest = T_MAX;
    int found = -1;
    for (int i = 0; i < s.n_obj; ++i) {
        unsigned int k = s.obj_kind[2 * i];
        const float* od = s.obj_data + (unsigned long long)i * OBJ_STRIDE;
        float t;
        if (k == 0u) {
            TV3 c = tv3_load(od);
            float r = od[3];
            TV3 oc = v_sub(o, c);
            float a = v_dot(d, d);
            float half_b = v_dot(oc, d);
            float cc = __fsub_rn(v_dot(oc, oc), __fmul_rn(r, r));
            float disc = __fsub_rn(__fmul_rn(half_b, half_b), __fmul_rn(a, cc));
            if (disc < 0.0f) continue;
            float sq = __fsqrt_rn(disc);
            t = __fdiv_rn(__fsub_rn(-half_b, sq), a);
            if (!(t > T_MIN && t < closest)) {
                t = __fdiv_rn(__fadd_rn(-half_b, sq), a);
                if (!(t > T_MIN && t < closest)) continue;
            }
        } else if (k == 1u) {
            TV3 p0 = tv3_load(od);
            TV3 n = tv3_load(od + 3);
            float denom = v_dot(n, d);
            if (f_abs(denom) < EPS_PLANE) continue;
            t = __fdiv_rn(v_dot(v_sub(p0, o), n), denom);
            if (!(t > T_MIN && t < closest)) continue;
        } else {
            TV3 v0 = tv3_load(od);
            TV3 e1 = tv3_load(od + 3);
            TV3 e2 = tv3_load(od + 6);
            TV3 pvec = v_cross(d, e2);
            float det = v_dot(e1, pvec);
            if (f_abs(det) < EPS_TRI) continue;
            float inv = __fdiv_rn(1.0f, det);
            TV3 tvec = v_sub(o, v0);
            float u = __fmul_rn(v_dot(tvec, pvec), inv);
            if (u < 0.0f || u > 1.0f) continue;
            TV3 qvec = v_cross(tvec, e1);
            float v = __fmul_rn(v_dot(d, qvec), inv);
            if (v < 0.0f || __fadd_rn(u, v) > 1.0f) continue;
            t = __fmul_rn(v_dot(e2, qvec), inv);
            if (!(t > T_MIN && t < closest)) continue;
        }
        closest = t;
        found = i;
    }
    if (found < 0) return false;
    const float* od = s.obj_data + (unsigned long long)found * OBJ_STRIDE;
    TV3 p = v_add(o, v_scale(d, closest));
    unsigned int k = s.obj_kind[2 * found];
    TV3 outward;
    if (k == 0u) outward = v_div(v_sub(p, tv3_load(od)), od[3]);
    else if (k == 1u) outward = tv3_load(od + 3);
    else outward = tv3_load(od + 9);
    bool front = v_dot(d, outward) < 0.0f;
    *hp = p;
    *hn = front ? outward : v_neg(outward);
    *hfront = front;
    *hmat = (int)s.obj_kind[2 * found + 1];
    return true;
}

__device__ __forceinline__ TV3 t_random_unit_vector(float u1, float u2) {
    float z = __fsub_rn(1.0f, __fmul_rn(2.0f, u1));
    float r2 = __fsub_rn(1.0f, __fmul_rn(z, z));
    float r = r2 > 0.0f ? __fsqrt_rn(r2) : 0.0f;
    float sn, cs;
    t_sincos_turns(u2, &sn, &cs);
    return tv3(__fmul_rn(r, cs), __fmul_rn(r, sn), z);
}

__device__ __forceinline__ TV3 t_reflect(TV3 v, TV3 n) {
    return v_sub(v, v_scale(n, __fmul_rn(2.0f, v_dot(v, n))));
}

__device__ __forceinline__ bool t_near_zero(TV3 v) {
    return f_abs(v.x) < EPS_ZERO && f_abs(v.y) < EPS_ZERO && f_abs(v.z) < EPS_ZERO;
}

// The pinhole camera of both specs (render::cpu::pinhole_ray): the normalised direction through
// pixel (px, py) of the frame, jittered by (j1, j2).
__device__ __forceinline__ TV3 t_pinhole_dir(const float* camera, unsigned int width, unsigned int height,
                                             unsigned int px, unsigned int py, float j1, float j2) {
    TV3 origin = tv3_load(camera);
    TV3 llc = tv3_load(camera + 3);
    TV3 horiz = tv3_load(camera + 6);
    TV3 vert = tv3_load(camera + 9);
    float sx = __fdiv_rn(__fadd_rn(__uint2float_rn(px), j1), __uint2float_rn(width));
    float ty = __fdiv_rn(__fadd_rn(__uint2float_rn(height - 1u - py), j2), __uint2float_rn(height));
    TV3 dir = v_sub(v_add(v_add(llc, v_scale(horiz, sx)), v_scale(vert, ty)), origin);
    return v_normalize(dir);
}

// The smooth dielectric of both specs (render::cpu::dielectric).
__device__ __forceinline__ TV3 t_dielectric(TV3 d, TV3 n, bool front, float ior, float u3) {
    float ri = front ? __fdiv_rn(1.0f, ior) : ior;
    float cos_t = f_min(-v_dot(d, n), 1.0f);
    float sin2 = __fsub_rn(1.0f, __fmul_rn(cos_t, cos_t));
    float sin_t = sin2 > 0.0f ? __fsqrt_rn(sin2) : 0.0f;
    bool cannot = __fmul_rn(ri, sin_t) > 1.0f;
    float r0a = __fdiv_rn(__fsub_rn(1.0f, ri), __fadd_rn(1.0f, ri));
    float r0 = __fmul_rn(r0a, r0a);
    float x = __fsub_rn(1.0f, cos_t);
    float x2 = __fmul_rn(x, x);
    float x5 = __fmul_rn(__fmul_rn(x2, x2), x);
    float refl = __fadd_rn(r0, __fmul_rn(__fsub_rn(1.0f, r0), x5));
    if (cannot || refl > u3) return t_reflect(d, n);
    TV3 perp = v_scale(v_add(d, v_scale(n, cos_t)), ri);
    float kk = __fsub_rn(1.0f, v_dot(perp, perp));
    TV3 par = v_scale(n, -__fsqrt_rn(f_abs(kk)));
    return v_normalize(v_add(perp, par));
}

__device__ TV3 t_trace(const TScene& s, unsigned int pixel, unsigned int sample, TV3 o, TV3 d, unsigned int* segs) {
    TV3 bg = tv3_load(s.camera + 12);
    TV3 throughput = tv3(1.0f, 1.0f, 1.0f);
    TV3 radiance = tv3(0.0f, 0.0f, 0.0f);
    unsigned int bounce = 0u;
    for (;;) {
        *segs += 1u;
        TV3 hp, hn;
        bool front;
        int mat;
        if (!t_hit(s, o, d, &hp, &hn, &front, &mat)) {
            radiance = v_add(radiance, v_had(throughput, bg));
            break;
        }
        unsigned int mk = s.mat_kind[mat];
        const float* md = s.mat_data + (unsigned long long)mat * MAT_STRIDE;
        TV3 color = tv3_load(md);
        if (mk == 3u) {
            radiance = v_add(radiance, v_had(throughput, color));
            break;
        }
        if (bounce >= s.max_bounces) break;
        unsigned int stage = bounce + 1u;
        float u1 = t_rand01(s.seed, pixel, sample, stage, 0u);
        float u2 = t_rand01(s.seed, pixel, sample, stage, 1u);
        float u3 = t_rand01(s.seed, pixel, sample, stage, 2u);
        TV3 nd;
        if (mk == 0u) {
            TV3 sd = v_add(hn, t_random_unit_vector(u1, u2));
            nd = t_near_zero(sd) ? hn : v_normalize(sd);
        } else if (mk == 1u) {
            TV3 r = t_reflect(d, hn);
            TV3 sd = v_normalize(v_add(r, v_scale(t_random_unit_vector(u1, u2), md[3])));
            if (!(v_dot(sd, hn) > 0.0f)) break;
            nd = sd;
        } else {
            nd = t_dielectric(d, hn, front, md[3], u3);
        }
        throughput = v_had(throughput, color);
        o = hp;
        d = nd;
        bounce += 1u;
    }
    return radiance;
}

__device__ __forceinline__ unsigned char t_channel(float c, float n) {
    float avg = __fdiv_rn(c, n);
    float tm = __fdiv_rn(avg, __fadd_rn(1.0f, avg));
    float g = __fsqrt_rn(f_clamp01(tm));
    return (unsigned char)__float2uint_rz(__fadd_rn(__fmul_rn(g, 255.0f), 0.5f));
}

// One thread per pixel of rows [row0, row0 + rows). rgba: full image; rays: per-pixel segments.
extern "C" __global__ void tessera_render(const unsigned int* __restrict__ obj_kind, const float* __restrict__ obj_data,
                                          const unsigned int* __restrict__ mat_kind, const float* __restrict__ mat_data,
                                          const float* __restrict__ camera, int n_obj,
                                          unsigned int width, unsigned int height, unsigned int spp,
                                          unsigned int max_bounces, unsigned int seed, unsigned int row0,
                                          unsigned int rows, unsigned char* __restrict__ rgba,
                                          unsigned int* __restrict__ rays)
{
    unsigned int px = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned int py = row0 + blockIdx.y * blockDim.y + threadIdx.y;
    if (px >= width || py >= row0 + rows || py >= height) return;
    TScene s;
    s.obj_kind = obj_kind; s.obj_data = obj_data; s.mat_kind = mat_kind; s.mat_data = mat_data;
    s.camera = camera; s.n_obj = n_obj; s.width = width; s.height = height; s.spp = spp;
    s.max_bounces = max_bounces; s.seed = seed;
    TV3 origin = tv3_load(camera);
    unsigned int pixel = py * width + px;
    TV3 sum = tv3(0.0f, 0.0f, 0.0f);
    unsigned int segs = 0u;
    for (unsigned int sample = 0u; sample < spp; ++sample) {
        float j1 = t_rand01(seed, pixel, sample, 0u, 0u);
        float j2 = t_rand01(seed, pixel, sample, 0u, 1u);
        TV3 l = t_trace(s, pixel, sample, origin, t_pinhole_dir(camera, width, height, px, py, j1, j2), &segs);
        sum = v_add(sum, l);
    }
    float n = __uint2float_rn(spp);
    unsigned long long o = ((unsigned long long)py * width + px) * 4ull;
    rgba[o + 0] = t_channel(sum.x, n);
    rgba[o + 1] = t_channel(sum.y, n);
    rgba[o + 2] = t_channel(sum.z, n);
    rgba[o + 3] = 255;
    rays[(unsigned long long)py * width + px] = segs;
}
