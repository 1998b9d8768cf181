// Tessera render specs 2 and 3 (mesh scenes): a line-by-line transliteration of
// src/render/mesh_cpu.rs and (spec 3's Principled BSDF, m_p_*) src/render/principled.rs.
// Compiled after render.cu in the same translation unit (it uses its TV3 helpers, t_rand01 and
// t_sincos_turns). Only correctly rounded operations (__fadd_rn, __fsub_rn, __fmul_rn,
// __fdiv_rn, __fsqrt_rn; no fused multiply-add anywhere here, --fmad=false forbids any
// other), and every constant by its bit pattern. Spec: docs/KERNELS.md, "Render, spec 2".

#define M_T_FAR RF(0x7149f2cau)
#define M_ROBUST RF(0x3f800003u)
#define M_INV_PI RF(0x3ea2f983u)
#define M_RR_MAX RF(0x3f733333u)
#define M_RR_START 3u
#define M_NONE 0xffffffffu
#define M_STACK 64
#define M_TRI_STRIDE 12
#define M_MAT_STRIDE 12
#define M_PI_F RF(0x40490fdbu)
#define M_NO_TEXTURE 0xffffffffu

struct TMesh {
    const float* tri;
    const unsigned int* tri_info;
    const float* normals;
    const float* uvs;
    const unsigned int* mat_kind;
    const unsigned int* mat_tex;
    const float* mat;
    const unsigned int* tex_info;
    const unsigned char* texels;
    const unsigned int* light_tri;
    const float* light_cdf;
    const float* light_pdf;
    const float* node_box;
    const unsigned int* node_meta;
    const float* camera;
    // the environment (render::environment::CompiledEnv::device_buffer)
    const float* env_rgb;
    const float* env_row;
    const float* env_col;
    const float* env_pdf;
    unsigned int env_w, env_h;
    float env_select;
    unsigned int n_tri, n_lights, has_normals, has_uvs;
    float ray_eps;
    unsigned int width, height, spp, max_bounces, seed;
};

__device__ __forceinline__ float m_comp(TV3 v, int k) { return k == 0 ? v.x : (k == 1 ? v.y : v.z); }

__device__ __forceinline__ bool m_hit_box(const TMesh& m, unsigned int n, TV3 o, TV3 d, TV3 inv, float tmin,
                                          float tmax) {
    const float* b = m.node_box + 6ull * n;
    float t0 = tmin;
    float t1 = tmax;
    for (int k = 0; k < 3; ++k) {
        float ok = m_comp(o, k), dk = m_comp(d, k), ik = m_comp(inv, k);
        if (dk == 0.0f) {
            if (ok < b[k] || ok > b[3 + k]) return false;
            continue;
        }
        float tn = __fmul_rn(__fsub_rn(b[k], ok), ik);
        float tf = __fmul_rn(__fsub_rn(b[3 + k], ok), ik);
        if (tn > tf) { float x = tn; tn = tf; tf = x; }
        tf = __fmul_rn(tf, M_ROBUST);
        if (tn > t0) t0 = tn;
        if (tf < t1) t1 = tf;
        if (t0 > t1) return false;
    }
    return true;
}

// Möller–Trumbore: true with (t, u, v) when the ray meets stored triangle i.
__device__ __forceinline__ bool m_hit_tri(const TMesh& m, unsigned int i, TV3 o, TV3 d, float* t, float* u,
                                          float* v) {
    if (m.tri_info[5ull * i + 4] != 0u) return false;
    const float* td = m.tri + (unsigned long long)i * M_TRI_STRIDE;
    TV3 v0 = tv3_load(td);
    TV3 e1 = tv3_load(td + 3);
    TV3 e2 = tv3_load(td + 6);
    TV3 pvec = v_cross(d, e2);
    float det = v_dot(e1, pvec);
    if (det == 0.0f) return false;
    float inv = __fdiv_rn(1.0f, det);
    TV3 tvec = v_sub(o, v0);
    float uu = __fmul_rn(v_dot(tvec, pvec), inv);
    if (!(uu >= 0.0f && uu <= 1.0f)) return false;
    TV3 qvec = v_cross(tvec, e1);
    float vv = __fmul_rn(v_dot(d, qvec), inv);
    if (!(vv >= 0.0f && __fadd_rn(uu, vv) <= 1.0f)) return false;
    *t = __fmul_rn(v_dot(e2, qvec), inv);
    *u = uu;
    *v = vv;
    return true;
}

__device__ __forceinline__ TV3 m_inverse(TV3 d) {
    return tv3(__fdiv_rn(1.0f, d.x), __fdiv_rn(1.0f, d.y), __fdiv_rn(1.0f, d.z));
}

// Closest hit with tmin < t, ignoring `skip`; ties at equal t go to the lowest index.
__device__ bool m_closest(const TMesh& m, TV3 o, TV3 d, float tmin, unsigned int skip, unsigned int* tri,
                          float* t_out, float* u_out, float* v_out) {
    if (m.n_tri == 0u) return false;
    TV3 inv = m_inverse(d);
    unsigned int stack[M_STACK];
    int sp = 0;
    unsigned int node = 0u;
    float best_t = M_T_FAR;
    unsigned int best = M_NONE;
    float bu = 0.0f, bv = 0.0f;
    for (;;) {
        if (m_hit_box(m, node, o, d, inv, tmin, best_t)) {
            unsigned int a = m.node_meta[2ull * node];
            unsigned int meta = m.node_meta[2ull * node + 1];
            unsigned int count = meta >> 2;
            if (count == 0u) {
                if (m_comp(d, (int)(meta & 3u)) < 0.0f) {
                    stack[sp] = node + 1u;
                    node = a;
                } else {
                    stack[sp] = a;
                    node = node + 1u;
                }
                sp += 1;
                continue;
            }
            for (unsigned int i = a; i < a + count; ++i) {
                if (i == skip) continue;
                float t, u, v;
                if (m_hit_tri(m, i, o, d, &t, &u, &v)) {
                    if (t > tmin && (t < best_t || (t == best_t && i < best))) {
                        best_t = t;
                        best = i;
                        bu = u;
                        bv = v;
                    }
                }
            }
        }
        if (sp == 0) break;
        sp -= 1;
        node = stack[sp];
    }
    if (best == M_NONE) return false;
    *tri = best;
    *t_out = best_t;
    *u_out = bu;
    *v_out = bv;
    return true;
}

__device__ bool m_occluded(const TMesh& m, TV3 o, TV3 d, float tmin, float tmax, unsigned int skip_a,
                           unsigned int skip_b) {
    if (m.n_tri == 0u) return false;
    TV3 inv = m_inverse(d);
    unsigned int stack[M_STACK];
    int sp = 0;
    unsigned int node = 0u;
    for (;;) {
        if (m_hit_box(m, node, o, d, inv, tmin, tmax)) {
            unsigned int a = m.node_meta[2ull * node];
            unsigned int meta = m.node_meta[2ull * node + 1];
            unsigned int count = meta >> 2;
            if (count == 0u) {
                if (m_comp(d, (int)(meta & 3u)) < 0.0f) {
                    stack[sp] = node + 1u;
                    node = a;
                } else {
                    stack[sp] = a;
                    node = node + 1u;
                }
                sp += 1;
                continue;
            }
            for (unsigned int i = a; i < a + count; ++i) {
                if (i == skip_a || i == skip_b) continue;
                float t, u, v;
                if (m_hit_tri(m, i, o, d, &t, &u, &v)) {
                    if (t > tmin && t < tmax) return true;
                }
            }
        }
        if (sp == 0) return false;
        sp -= 1;
        node = stack[sp];
    }
}

__device__ __forceinline__ float m_floor_small(float a) {
    float t = __int2float_rn(__float2int_rz(a));
    return t > a ? __fsub_rn(t, 1.0f) : t;
}

__device__ __forceinline__ float m_frac(float a) {
    if (!(f_abs(a) < 8388608.0f)) return 0.0f;
    float r = __fsub_rn(a, m_floor_small(a));
    return r < 1.0f ? r : 0.0f;
}

__device__ __forceinline__ float m_decode(unsigned char c) {
    float v = __fdiv_rn(__uint2float_rn((unsigned int)c), 255.0f);
    return __fmul_rn(v, v);
}

__device__ __forceinline__ TV3 m_texel(const TMesh& m, unsigned int t, unsigned int x, unsigned int y) {
    unsigned int off = m.tex_info[3ull * t], w = m.tex_info[3ull * t + 1];
    unsigned long long i = 4ull * ((unsigned long long)off + (unsigned long long)y * w + x);
    return tv3(m_decode(m.texels[i]), m_decode(m.texels[i + 1]), m_decode(m.texels[i + 2]));
}

__device__ __forceinline__ unsigned int m_wrap(long long i, unsigned int n) {
    if (i < 0) return n - 1u;
    if (i >= (long long)n) return (unsigned int)(i - (long long)n);
    return (unsigned int)i;
}

__device__ TV3 m_sample_texture(const TMesh& m, unsigned int t, float u, float v) {
    unsigned int w = m.tex_info[3ull * t + 1], h = m.tex_info[3ull * t + 2];
    float x = __fsub_rn(__fmul_rn(m_frac(u), __uint2float_rn(w)), 0.5f);
    float y = __fsub_rn(__fmul_rn(m_frac(v), __uint2float_rn(h)), 0.5f);
    long long x0, y0;
    float fx, fy;
    if (x < 0.0f) { x0 = -1; fx = __fadd_rn(x, 1.0f); }
    else { x0 = __float2ll_rz(x); fx = __fsub_rn(x, __ll2float_rn(x0)); }
    if (y < 0.0f) { y0 = -1; fy = __fadd_rn(y, 1.0f); }
    else { y0 = __float2ll_rz(y); fy = __fsub_rn(y, __ll2float_rn(y0)); }
    unsigned int xa = m_wrap(x0, w), xb = m_wrap(x0 + 1, w);
    unsigned int ya = m_wrap(y0, h), yb = m_wrap(y0 + 1, h);
    float gx = __fsub_rn(1.0f, fx);
    TV3 top = v_add(v_scale(m_texel(m, t, xa, ya), gx), v_scale(m_texel(m, t, xb, ya), fx));
    TV3 bottom = v_add(v_scale(m_texel(m, t, xa, yb), gx), v_scale(m_texel(m, t, xb, yb), fx));
    return v_add(v_scale(top, __fsub_rn(1.0f, fy)), v_scale(bottom, fy));
}

__device__ __forceinline__ unsigned int m_pick_light(const TMesh& m, float u) {
    unsigned int lo = 0u, hi = m.n_lights - 1u;
    while (lo < hi) {
        unsigned int mid = (lo + hi) / 2u;
        if (u < m.light_cdf[mid]) hi = mid;
        else lo = mid + 1u;
    }
    return lo;
}

__device__ __forceinline__ float m_power_weight(float a, float b) {
    float a2 = __fmul_rn(a, a);
    return __fdiv_rn(a2, __fadd_rn(a2, __fmul_rn(b, b)));
}

// ---- spec 3: the environment (render::environment, math::atan2) ----

#define M_HALF_PI RF(0x3fc90fdbu)
#define M_INV_TWO_PI RF(0x3e22f983u)

__device__ float m_atan2(float y, float x) {
    float ax = f_abs(x);
    float ay = f_abs(y);
    float mx, mn;
    if (ay > ax) { mx = ay; mn = ax; } else { mx = ax; mn = ay; }
    if (!(mx > 0.0f)) return 0.0f;
    float a = __fdiv_rn(mn, mx);
    float t = __fmul_rn(a, a);
    float p = RF(0xbb84dc1bu);
    p = __fadd_rn(__fmul_rn(p, t), RF(0x3cb319e3u));
    p = __fadd_rn(__fmul_rn(p, t), RF(0xbd650449u));
    p = __fadd_rn(__fmul_rn(p, t), RF(0x3dc578dfu));
    p = __fadd_rn(__fmul_rn(p, t), RF(0xbe0e6ca3u));
    p = __fadd_rn(__fmul_rn(p, t), RF(0x3e4c40bau));
    p = __fadd_rn(__fmul_rn(p, t), RF(0xbeaaa61du));
    p = __fadd_rn(__fmul_rn(p, t), RF(0x3f7ffff5u));
    float r = __fmul_rn(a, p);
    if (ay > ax) r = __fsub_rn(M_HALF_PI, r);
    if (x < 0.0f) r = __fsub_rn(M_PI_F, r);
    return y < 0.0f ? -r : r;
}

__device__ __forceinline__ unsigned int m_clamp_index(float x, unsigned int n) {
    unsigned int i = x > 0.0f ? __float2uint_rz(x) : 0u;
    return i < n ? i : n - 1u;
}

__device__ __forceinline__ unsigned int m_search(const float* cdf, unsigned int n, float u) {
    unsigned int lo = 0u, hi = n - 1u;
    while (lo < hi) {
        unsigned int mid = (lo + hi) / 2u;
        if (u < cdf[mid]) hi = mid;
        else lo = mid + 1u;
    }
    return lo;
}

__device__ __forceinline__ unsigned int m_env_texel(const TMesh& m, TV3 d) {
    float u = __fadd_rn(0.5f, __fmul_rn(m_atan2(d.z, d.x), M_INV_TWO_PI));
    float s = __fsqrt_rn(__fadd_rn(__fmul_rn(d.x, d.x), __fmul_rn(d.z, d.z)));
    float v = __fsub_rn(0.5f, __fmul_rn(m_atan2(d.y, s), M_INV_PI));
    unsigned int col = m_clamp_index(__fmul_rn(u, __uint2float_rn(m.env_w)), m.env_w);
    unsigned int row = m_clamp_index(__fmul_rn(v, __uint2float_rn(m.env_h)), m.env_h);
    return row * m.env_w + col;
}

__device__ __forceinline__ float m_env_density(const TMesh& m, unsigned int i, TV3 d) {
    float s = __fsqrt_rn(__fadd_rn(__fmul_rn(d.x, d.x), __fmul_rn(d.z, d.z)));
    return s > 0.0f ? __fdiv_rn(m.env_pdf[i], s) : 0.0f;
}

__device__ __forceinline__ TV3 m_env_radiance(const TMesh& m, unsigned int i) {
    return tv3_load(m.env_rgb + 3ull * i);
}

__device__ __forceinline__ TV3 m_env_sample(const TMesh& m, float u0, float u1, float j1, float j2,
                                            unsigned int* idx) {
    unsigned int w = m.env_w;
    unsigned int row = m_search(m.env_row, m.env_h, u0);
    unsigned int col = m_search(m.env_col + (unsigned long long)row * w, w, u1);
    float u = __fdiv_rn(__fadd_rn(__uint2float_rn(col), j1), __uint2float_rn(w));
    float v = __fdiv_rn(__fadd_rn(__uint2float_rn(row), j2), __uint2float_rn(m.env_h));
    float s2, c2, st, ct;
    t_sincos_turns(u, &s2, &c2);
    t_sincos_turns(__fmul_rn(v, 0.5f), &st, &ct);
    *idx = row * w + col;
    return tv3(-__fmul_rn(st, c2), ct, -__fmul_rn(st, s2));
}

// ---- spec 3: the Principled BSDF (render::principled) ----

__device__ __forceinline__ float m_p_fresnel(float cosi, float eta) {
    float c = cosi < 0.0f ? -cosi : cosi;
    float g = __fadd_rn(__fsub_rn(__fmul_rn(eta, eta), 1.0f), __fmul_rn(c, c));
    if (g > 0.0f) {
        g = __fsqrt_rn(g);
        float a = __fdiv_rn(__fsub_rn(g, c), __fadd_rn(g, c));
        float b = __fdiv_rn(__fsub_rn(__fmul_rn(c, __fadd_rn(g, c)), 1.0f),
                            __fadd_rn(__fmul_rn(c, __fsub_rn(g, c)), 1.0f));
        return __fmul_rn(__fmul_rn(__fmul_rn(0.5f, a), a), __fadd_rn(1.0f, __fmul_rn(b, b)));
    }
    return 1.0f;
}

__device__ __forceinline__ float m_p_schlick(float c) {
    float m = f_clamp01(__fsub_rn(1.0f, c));
    float m2 = __fmul_rn(m, m);
    return __fmul_rn(__fmul_rn(m2, m2), m);
}

__device__ __forceinline__ float m_p_g1(float a2, float cs) {
    float c2 = __fmul_rn(cs, cs);
    return __fdiv_rn(2.0f, __fadd_rn(1.0f, __fsqrt_rn(__fadd_rn(1.0f, __fdiv_rn(__fmul_rn(a2, __fsub_rn(1.0f, c2)), c2)))));
}

struct TSurface {
    TV3 base;
    float metallic, roughness, alpha, eta, f0, inv_1mf0;
};

__device__ __forceinline__ TSurface m_p_surface(const float* md, TV3 base) {
    TSurface s;
    s.base = base;
    s.metallic = md[8];
    s.roughness = md[3];
    s.alpha = md[9];
    s.eta = md[7];
    s.f0 = md[10];
    s.inv_1mf0 = md[11];
    return s;
}

__device__ __forceinline__ float m_p_diffuse_prob(const TSurface& s) {
    float mean = __fdiv_rn(__fadd_rn(__fadd_rn(s.base.x, s.base.y), s.base.z), 3.0f);
    float wd = __fmul_rn(mean, __fsub_rn(1.0f, s.metallic));
    return __fdiv_rn(wd, __fadd_rn(wd, 1.0f));
}

// f(wo, wi)·cos θi into *value and the density of wi (returned).
__device__ float m_p_eval(const TSurface& s, TV3 n, TV3 wo, TV3 wi, TV3* value) {
    float nl = v_dot(n, wi);
    if (!(nl > 0.0f)) { *value = tv3(0.0f, 0.0f, 0.0f); return 0.0f; }
    float nv = v_dot(n, wo);
    float pd = m_p_diffuse_prob(s);
    float fl = m_p_schlick(nl);
    float fv = m_p_schlick(nv);
    float rr = __fmul_rn(s.roughness, __fadd_rn(v_dot(wi, wo), 1.0f));
    float lambert = __fmul_rn(__fsub_rn(1.0f, __fmul_rn(0.5f, fv)), __fsub_rn(1.0f, __fmul_rn(0.5f, fl)));
    float retro = __fmul_rn(rr, __fadd_rn(__fadd_rn(fl, fv), __fmul_rn(__fmul_rn(fl, fv), __fsub_rn(rr, 1.0f))));
    float fd = __fmul_rn(__fmul_rn(M_INV_PI, nl), __fadd_rn(lambert, retro));
    TV3 val = v_scale(s.base, __fmul_rn(__fsub_rn(1.0f, s.metallic), fd));
    float pdf = __fmul_rn(pd, __fmul_rn(nl, M_INV_PI));
    if (nv > 0.0f) {
        TV3 h = v_normalize(v_add(wi, wo));
        float nh = v_dot(n, h);
        if (nh > 0.0f) {
            float a2 = __fmul_rn(s.alpha, s.alpha);
            float nh2 = __fmul_rn(nh, nh);
            float tan2 = __fdiv_rn(__fsub_rn(1.0f, nh2), nh2);
            float den = __fadd_rn(a2, tan2);
            float d = __fdiv_rn(a2, __fmul_rn(__fmul_rn(__fmul_rn(M_PI_F, __fmul_rn(nh2, nh2)), den), den));
            float g1o = m_p_g1(a2, nv);
            float g1i = m_p_g1(a2, nl);
            float common = __fdiv_rn(__fmul_rn(d, 0.25f), nv);
            float fh = __fmul_rn(__fsub_rn(m_p_fresnel(v_dot(wi, h), s.eta), s.f0), s.inv_1mf0);
            float m = s.metallic;
            TV3 c0 = v_add(v_scale(tv3(s.f0, s.f0, s.f0), __fsub_rn(1.0f, m)), v_scale(s.base, m));
            TV3 fc = v_add(v_scale(c0, __fsub_rn(1.0f, fh)), tv3(fh, fh, fh));
            val = v_add(val, v_scale(fc, __fmul_rn(__fmul_rn(g1o, g1i), common)));
            pdf = __fadd_rn(pdf, __fmul_rn(__fsub_rn(1.0f, pd), __fmul_rn(g1o, common)));
        }
    }
    *value = val;
    return pdf;
}

__device__ __forceinline__ void m_p_basis(TV3 n, TV3* t, TV3* bt) {
    float sign = n.z >= 0.0f ? 1.0f : -1.0f;
    float a = __fdiv_rn(-1.0f, __fadd_rn(sign, n.z));
    float b = __fmul_rn(__fmul_rn(n.x, n.y), a);
    *t = tv3(__fadd_rn(1.0f, __fmul_rn(__fmul_rn(__fmul_rn(sign, n.x), n.x), a)), __fmul_rn(sign, b), -__fmul_rn(sign, n.x));
    *bt = tv3(b, __fadd_rn(sign, __fmul_rn(__fmul_rn(n.y, n.y), a)), -n.y);
}

__device__ __forceinline__ TV3 m_p_vndf(TV3 v, float alpha, float u0, float u1) {
    TV3 vh = v_normalize(tv3(__fmul_rn(alpha, v.x), __fmul_rn(alpha, v.y), v.z));
    float lensq = __fadd_rn(__fmul_rn(vh.x, vh.x), __fmul_rn(vh.y, vh.y));
    TV3 t1 = lensq > 0.0f ? v_div(tv3(-vh.y, vh.x, 0.0f), __fsqrt_rn(lensq)) : tv3(1.0f, 0.0f, 0.0f);
    TV3 t2 = v_cross(vh, t1);
    float r = __fsqrt_rn(u0);
    float sn, cs;
    t_sincos_turns(u1, &sn, &cs);
    float p1 = __fmul_rn(r, cs);
    float p2 = __fmul_rn(r, sn);
    float sw = __fmul_rn(0.5f, __fadd_rn(1.0f, vh.z));
    float q = __fsub_rn(1.0f, __fmul_rn(p1, p1));
    q = q > 0.0f ? __fsqrt_rn(q) : 0.0f;
    p2 = __fadd_rn(__fmul_rn(__fsub_rn(1.0f, sw), q), __fmul_rn(sw, p2));
    float k = __fsub_rn(__fsub_rn(1.0f, __fmul_rn(p1, p1)), __fmul_rn(p2, p2));
    k = k > 0.0f ? __fsqrt_rn(k) : 0.0f;
    TV3 nh = v_add(v_add(v_scale(t1, p1), v_scale(t2, p2)), v_scale(vh, k));
    float z = nh.z > 0.0f ? nh.z : 0.0f;
    return v_normalize(tv3(__fmul_rn(alpha, nh.x), __fmul_rn(alpha, nh.y), z));
}

// A sampled direction into *wi; false when the GGX sample leaves below n.
__device__ bool m_p_sample(const TSurface& s, TV3 n, TV3 wo, float u0, float u1, float u2, TV3* wi) {
    if (u2 < m_p_diffuse_prob(s)) {
        TV3 sd = v_add(n, t_random_unit_vector(u0, u1));
        *wi = t_near_zero(sd) ? n : v_normalize(sd);
        return true;
    }
    TV3 t, b;
    m_p_basis(n, &t, &b);
    TV3 wl = tv3(v_dot(wo, t), v_dot(wo, b), v_dot(wo, n));
    if (!(wl.z > 0.0f)) return false;
    TV3 hl = m_p_vndf(wl, s.alpha, u0, u1);
    TV3 h = v_add(v_add(v_scale(t, hl.x), v_scale(b, hl.y)), v_scale(n, hl.z));
    TV3 w = v_sub(v_scale(h, __fmul_rn(2.0f, v_dot(wo, h))), wo);
    *wi = w;
    return v_dot(n, w) > 0.0f;
}

// The smooth dielectric of spec 3 (principled::glass): the direction, *refracted set.
__device__ __forceinline__ TV3 m_p_glass(TV3 d, TV3 n, bool front, float ior, float u, bool* refracted) {
    float eta = front ? ior : __fdiv_rn(1.0f, ior);
    float c = -v_dot(d, n);
    c = c < 0.0f ? 0.0f : c;
    float fr = m_p_fresnel(c, eta);
    if (u < fr) { *refracted = false; return t_reflect(d, n); }
    float e = __fdiv_rn(1.0f, eta);
    float k = __fsub_rn(1.0f, __fmul_rn(__fmul_rn(e, e), __fsub_rn(1.0f, __fmul_rn(c, c))));
    k = k > 0.0f ? __fsqrt_rn(k) : 0.0f;
    *refracted = true;
    return v_normalize(v_add(v_scale(d, e), v_scale(n, __fsub_rn(__fmul_rn(e, c), k))));
}

// Next-event estimation's light point (mesh_cpu::light_sample); false when it cannot light p.
struct TLight {
    unsigned int tri;
    TV3 wn;
    float dist, cos_x, pl;
    TV3 le;
};

__device__ bool m_light_sample(const TMesh& m, TV3 p, TV3 ns, TV3 ng, float eps, float u3, float u4, float u5,
                               TLight* l) {
    if (m.n_lights == 0u) return false;
    unsigned int li = m_pick_light(m, u3);
    unsigned int lt = m.light_tri[li];
    const float* ld = m.tri + (unsigned long long)lt * M_TRI_STRIDE;
    float su = __fsqrt_rn(u4);
    float b1 = __fmul_rn(su, __fsub_rn(1.0f, u5));
    float b2 = __fmul_rn(su, u5);
    TV3 q = v_add(v_add(tv3_load(ld), v_scale(tv3_load(ld + 3), b1)), v_scale(tv3_load(ld + 6), b2));
    TV3 wi = v_sub(q, p);
    float dist2 = v_dot(wi, wi);
    float dist = __fsqrt_rn(dist2);
    TV3 wn = v_div(wi, dist);
    float cos_x = v_dot(ns, wn);
    float cos_g = v_dot(ng, wn);
    float cos_l = f_abs(v_dot(tv3_load(ld + 9), wn));
    if (!(cos_x > 0.0f && cos_g > 0.0f && cos_l > 0.0f && dist > eps)) return false;
    l->tri = lt;
    l->wn = wn;
    l->dist = dist;
    l->cos_x = cos_x;
    l->pl = __fdiv_rn(__fmul_rn(m.light_pdf[lt], dist2), cos_l);
    unsigned int lmi = m.tri_info[5ull * lt];
    l->le = tv3_load(m.mat + (unsigned long long)lmi * M_MAT_STRIDE + 4);
    return true;
}

// Next-event estimation's environment direction (mesh_cpu::env_sample).
__device__ bool m_env_light(const TMesh& m, TV3 ns, TV3 ng, float u0, float u1, float j1, float j2, TLight* l) {
    unsigned int k;
    TV3 wn = m_env_sample(m, u0, u1, j1, j2, &k);
    float cos_x = v_dot(ns, wn);
    float cos_g = v_dot(ng, wn);
    if (!(cos_x > 0.0f && cos_g > 0.0f)) return false;
    float pl = m_env_density(m, k, wn);
    if (!(pl > 0.0f)) return false;
    l->tri = M_NONE;
    l->wn = wn;
    l->dist = M_T_FAR;
    l->cos_x = cos_x;
    l->pl = pl;
    l->le = m_env_radiance(m, k);
    return true;
}

__device__ TV3 m_trace(const TMesh& m, unsigned int pixel, unsigned int sample, TV3 o, TV3 d, unsigned int* segs) {
    TV3 bg = tv3_load(m.camera + 12);
    float eps = m.ray_eps;
    TV3 throughput = tv3(1.0f, 1.0f, 1.0f);
    TV3 radiance = tv3(0.0f, 0.0f, 0.0f);
    unsigned int bounce = 0u;
    unsigned int from = M_NONE;
    float bsdf_pdf = 0.0f;
    for (;;) {
        *segs += 1u;
        unsigned int ti;
        float t, bu, bv;
        if (!m_closest(m, o, d, eps, from, &ti, &t, &bu, &bv)) {
            if (m.env_w > 0u) {
                unsigned int k = m_env_texel(m, d);
                float w = bsdf_pdf > 0.0f ? m_power_weight(bsdf_pdf, m_env_density(m, k, d)) : 1.0f;
                radiance = v_add(radiance, v_scale(v_had(throughput, m_env_radiance(m, k)), w));
            } else {
                radiance = v_add(radiance, v_had(throughput, bg));
            }
            break;
        }
        const float* td = m.tri + (unsigned long long)ti * M_TRI_STRIDE;
        TV3 ng0 = tv3_load(td + 9);
        unsigned int mi = m.tri_info[5ull * ti];
        const float* md = m.mat + (unsigned long long)mi * M_MAT_STRIDE;
        float lp = m.light_pdf[ti];
        if (lp > 0.0f) {
            TV3 emission = tv3_load(md + 4);
            float w;
            if (bsdf_pdf > 0.0f) {
                float cos_l = f_abs(v_dot(ng0, d));
                float pl = __fdiv_rn(__fmul_rn(lp, __fmul_rn(t, t)), cos_l);
                w = m_power_weight(bsdf_pdf, pl);
            } else {
                w = 1.0f;
            }
            radiance = v_add(radiance, v_scale(v_had(throughput, emission), w));
        }
        if (bounce >= m.max_bounces) break;
        TV3 p = v_add(o, v_scale(d, t));
        bool front = v_dot(ng0, d) < 0.0f;
        TV3 ng = front ? ng0 : v_neg(ng0);
        float bw = __fsub_rn(__fsub_rn(1.0f, bu), bv);
        TV3 ns = ng;
        const unsigned int* vi = m.tri_info + 5ull * ti + 1;
        if (m.has_normals) {
            TV3 n0 = tv3_load(m.normals + 3ull * vi[0]);
            TV3 n1 = tv3_load(m.normals + 3ull * vi[1]);
            TV3 n2 = tv3_load(m.normals + 3ull * vi[2]);
            TV3 sn = v_add(v_add(v_scale(n0, bw), v_scale(n1, bu)), v_scale(n2, bv));
            float len2 = v_dot(sn, sn);
            if (len2 > 0.0f && len2 < __int_as_float(0x7f800000)) {
                TV3 s2 = v_div(sn, __fsqrt_rn(len2));
                ns = v_dot(s2, ng) < 0.0f ? v_neg(s2) : s2;
            }
        }
        TV3 albedo = tv3_load(md);
        unsigned int tex = m.mat_tex[mi];
        if (tex != M_NO_TEXTURE && m.has_uvs) {
            const float* uv0 = m.uvs + 2ull * vi[0];
            const float* uv1 = m.uvs + 2ull * vi[1];
            const float* uv2 = m.uvs + 2ull * vi[2];
            float u = __fadd_rn(__fadd_rn(__fmul_rn(uv0[0], bw), __fmul_rn(uv1[0], bu)), __fmul_rn(uv2[0], bv));
            float v = __fadd_rn(__fadd_rn(__fmul_rn(uv0[1], bw), __fmul_rn(uv1[1], bu)), __fmul_rn(uv2[1], bv));
            albedo = v_had(albedo, m_sample_texture(m, tex, u, v));
        }
        unsigned int stage = bounce + 1u;
        unsigned int kind = m.mat_kind[mi];
        TV3 nd;
        TV3 weight;
        TLight l;
        if (kind == 0u) {
            if (m_light_sample(m, p, ns, ng, eps, t_rand01(m.seed, pixel, sample, stage, 3u),
                               t_rand01(m.seed, pixel, sample, stage, 4u), t_rand01(m.seed, pixel, sample, stage, 5u), &l)) {
                *segs += 1u;
                if (!m_occluded(m, p, l.wn, eps, l.dist, ti, l.tri)) {
                    float pb = __fmul_rn(l.cos_x, M_INV_PI);
                    float w = m_power_weight(l.pl, pb);
                    float k = __fdiv_rn(__fmul_rn(__fmul_rn(l.cos_x, M_INV_PI), w), l.pl);
                    radiance = v_add(radiance, v_scale(v_had(v_had(throughput, albedo), l.le), k));
                }
            }
            TV3 sd = v_add(ns, t_random_unit_vector(t_rand01(m.seed, pixel, sample, stage, 0u),
                                                    t_rand01(m.seed, pixel, sample, stage, 1u)));
            sd = t_near_zero(sd) ? ns : v_normalize(sd);
            if (!(v_dot(ng, sd) > 0.0f)) break;
            bsdf_pdf = __fmul_rn(v_dot(ns, sd), M_INV_PI);
            nd = sd;
            weight = albedo;
        } else if (kind == 1u) {
            TV3 rf = t_reflect(d, ns);
            TV3 sd = v_normalize(v_add(rf, v_scale(t_random_unit_vector(t_rand01(m.seed, pixel, sample, stage, 0u),
                                                                         t_rand01(m.seed, pixel, sample, stage, 1u)),
                                                   md[3])));
            if (!(v_dot(sd, ng) > 0.0f)) break;
            bsdf_pdf = 0.0f;
            nd = sd;
            weight = albedo;
        } else if (kind == 3u) {
            TSurface sf = m_p_surface(md, albedo);
            TV3 wo = v_neg(d);
            bool lit;
            if (m.env_select > 0.0f && t_rand01(m.seed, pixel, sample, stage, 7u) < m.env_select) {
                lit = m_env_light(m, ns, ng, t_rand01(m.seed, pixel, sample, stage, 3u),
                                  t_rand01(m.seed, pixel, sample, stage, 4u), t_rand01(m.seed, pixel, sample, stage, 8u),
                                  t_rand01(m.seed, pixel, sample, stage, 9u), &l);
            } else {
                lit = m_light_sample(m, p, ns, ng, eps, t_rand01(m.seed, pixel, sample, stage, 3u),
                                     t_rand01(m.seed, pixel, sample, stage, 4u), t_rand01(m.seed, pixel, sample, stage, 5u), &l);
            }
            if (lit) {
                *segs += 1u;
                if (!m_occluded(m, p, l.wn, eps, l.dist, ti, l.tri)) {
                    TV3 fv;
                    float pb = m_p_eval(sf, ns, wo, l.wn, &fv);
                    float w = m_power_weight(l.pl, pb);
                    float k = __fdiv_rn(w, l.pl);
                    radiance = v_add(radiance, v_scale(v_had(v_had(throughput, fv), l.le), k));
                }
            }
            TV3 sd;
            if (!m_p_sample(sf, ns, wo, t_rand01(m.seed, pixel, sample, stage, 0u), t_rand01(m.seed, pixel, sample, stage, 1u),
                            t_rand01(m.seed, pixel, sample, stage, 2u), &sd)) break;
            if (!(v_dot(ng, sd) > 0.0f)) break;
            TV3 fv;
            float pdf = m_p_eval(sf, ns, wo, sd, &fv);
            if (!(pdf > 0.0f)) break;
            bsdf_pdf = pdf;
            nd = sd;
            weight = v_div(fv, pdf);
        } else if (kind == 4u) {
            bsdf_pdf = 0.0f;
            bool refracted;
            TV3 sd = m_p_glass(d, ns, front, md[7], t_rand01(m.seed, pixel, sample, stage, 2u), &refracted);
            float side = v_dot(ng, sd);
            if (refracted) {
                if (!(side < 0.0f)) break;
                weight = albedo;
            } else {
                if (!(side > 0.0f)) break;
                weight = tv3(1.0f, 1.0f, 1.0f);
            }
            nd = sd;
        } else {
            bsdf_pdf = 0.0f;
            nd = t_dielectric(d, ng, front, md[7], t_rand01(m.seed, pixel, sample, stage, 2u));
            weight = albedo;
        }
        throughput = v_had(throughput, weight);
        if (bounce >= M_RR_START) {
            float q = throughput.x;
            if (throughput.y > q) q = throughput.y;
            if (throughput.z > q) q = throughput.z;
            q = f_min(q, M_RR_MAX);
            if (!(t_rand01(m.seed, pixel, sample, stage, 6u) < q)) break;
            throughput = v_div(throughput, q);
        }
        o = p;
        d = nd;
        from = ti;
        bounce += 1u;
    }
    return radiance;
}

__device__ __forceinline__ float m_canonical(float x) { return x != x ? __int_as_float(0x7fc00000) : x; }

// One thread per pixel of tile rows [row0, row0 + rows) (rows relative to the tile). out: the
// tile's w x h x 3 radiance; rays: per-pixel segments.
extern "C" __global__ void tessera_render_mesh(
    const float* __restrict__ tri, const unsigned int* __restrict__ tri_info, const float* __restrict__ normals,
    const float* __restrict__ uvs, const unsigned int* __restrict__ mat_kind, const unsigned int* __restrict__ mat_tex,
    const float* __restrict__ mat, const unsigned int* __restrict__ tex_info, const unsigned char* __restrict__ texels,
    const unsigned int* __restrict__ light_tri, const float* __restrict__ light_cdf,
    const float* __restrict__ light_pdf, const float* __restrict__ node_box, const unsigned int* __restrict__ node_meta,
    const float* __restrict__ camera, const float* __restrict__ env, unsigned int n_tri, unsigned int n_lights,
    unsigned int has_normals,
    unsigned int has_uvs, float ray_eps, unsigned int width, unsigned int height, unsigned int x0, unsigned int y0,
    unsigned int tw, unsigned int th, unsigned int spp, unsigned int max_bounces, unsigned int seed,
    unsigned int row0, unsigned int rows, float* __restrict__ out, unsigned int* __restrict__ rays)
{
    unsigned int cx = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned int cy = row0 + blockIdx.y * blockDim.y + threadIdx.y;
    if (cx >= tw || cy >= row0 + rows || cy >= th) return;
    TMesh m;
    m.tri = tri; m.tri_info = tri_info; m.normals = normals; m.uvs = uvs; m.mat_kind = mat_kind;
    m.mat_tex = mat_tex; m.mat = mat; m.tex_info = tex_info; m.texels = texels; m.light_tri = light_tri;
    m.light_cdf = light_cdf; m.light_pdf = light_pdf; m.node_box = node_box; m.node_meta = node_meta;
    m.camera = camera; m.n_tri = n_tri; m.n_lights = n_lights; m.has_normals = has_normals;
    m.has_uvs = has_uvs; m.ray_eps = ray_eps; m.width = width; m.height = height; m.spp = spp;
    m.max_bounces = max_bounces; m.seed = seed;
    m.env_select = env[0];
    m.env_w = __float2uint_rz(env[1]);
    m.env_h = __float2uint_rz(env[2]);
    unsigned long long env_n = (unsigned long long)m.env_w * m.env_h;
    m.env_rgb = env + 3;
    m.env_row = m.env_rgb + 3ull * env_n;
    m.env_col = m.env_row + m.env_h;
    m.env_pdf = m.env_col + env_n;
    unsigned int px = x0 + cx, py = y0 + cy;
    TV3 origin = tv3_load(camera);
    unsigned int pixel = py * width + px;
    TV3 sum = tv3(0.0f, 0.0f, 0.0f);
    unsigned int segs = 0u;
    for (unsigned int sample = 0u; sample < spp; ++sample) {
        float j1 = t_rand01(seed, pixel, sample, 0u, 0u);
        float j2 = t_rand01(seed, pixel, sample, 0u, 1u);
        TV3 l = m_trace(m, pixel, sample, origin, t_pinhole_dir(camera, width, height, px, py, j1, j2), &segs);
        sum = v_add(sum, l);
    }
    float n = __uint2float_rn(spp);
    unsigned long long o = ((unsigned long long)cy * tw + cx) * 3ull;
    out[o + 0] = m_canonical(__fdiv_rn(sum.x, n));
    out[o + 1] = m_canonical(__fdiv_rn(sum.y, n));
    out[o + 2] = m_canonical(__fdiv_rn(sum.z, n));
    rays[(unsigned long long)cy * tw + cx] = segs;
}
