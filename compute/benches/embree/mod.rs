//! Minimal FFI to Embree 3 (Debian 12's `libembree-dev` 3.13.5: `/usr/include/embree3`,
//! `-lembree3`, runtime `libembree3.so.3` with TBB) for the render bench: one device, one scene
//! of one triangle geometry (float3 vertices, uint3 indices in Embree-owned buffers), commit,
//! closest hit with `rtcIntersect1`. Only what benches/render.rs uses.
//!
//! Layouts are those of Debian's build (`RTC_MAX_INSTANCE_LEVEL_COUNT` 1, `RTC_MIN_WIDTH` 0:
//! no `instStackSize` / `minWidthDistanceFactor` in the context), checked with
//! offsetof/sizeof against the installed headers and asserted below at compile time. Ray masks
//! are enabled in this build (set `mask`), backface culling is off. `rtcInitIntersectContext`
//! is `static inline` in the header (not exported), so [`RTCIntersectContext::new`] redoes it.

#![allow(non_camel_case_types, non_snake_case)]

use std::ffi::{c_char, c_void};

#[repr(C)]
pub struct RTCDeviceTy {
    _private: [u8; 0],
}
#[repr(C)]
pub struct RTCSceneTy {
    _private: [u8; 0],
}
#[repr(C)]
pub struct RTCGeometryTy {
    _private: [u8; 0],
}
pub type RTCDevice = *mut RTCDeviceTy;
pub type RTCScene = *mut RTCSceneTy;
pub type RTCGeometry = *mut RTCGeometryTy;

// C enums are `int`-sized; plain integers avoid UB on unexpected values.
pub type RTCError = u32;
pub const RTC_ERROR_NONE: RTCError = 0;
pub const RTC_DEVICE_PROPERTY_VERSION: u32 = 0;
pub const RTC_GEOMETRY_TYPE_TRIANGLE: u32 = 0;
pub const RTC_BUFFER_TYPE_INDEX: u32 = 0;
pub const RTC_BUFFER_TYPE_VERTEX: u32 = 1;
pub const RTC_FORMAT_UINT3: u32 = 0x5003;
pub const RTC_FORMAT_FLOAT3: u32 = 0x9003;
pub const RTC_BUILD_QUALITY_MEDIUM: u32 = 1;
pub const RTC_BUILD_QUALITY_HIGH: u32 = 2;
pub const RTC_SCENE_FLAG_NONE: u32 = 0;
pub const RTC_SCENE_FLAG_ROBUST: u32 = 1 << 2;
pub const RTC_INTERSECT_CONTEXT_FLAG_INCOHERENT: u32 = 0;
pub const RTC_INVALID_GEOMETRY_ID: u32 = u32::MAX;

#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct RTCRay {
    pub org_x: f32,
    pub org_y: f32,
    pub org_z: f32,
    pub tnear: f32,
    pub dir_x: f32,
    pub dir_y: f32,
    pub dir_z: f32,
    pub time: f32,
    pub tfar: f32,
    pub mask: u32,
    pub id: u32,
    pub flags: u32,
}

#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct RTCHit {
    pub Ng_x: f32,
    pub Ng_y: f32,
    pub Ng_z: f32,
    pub u: f32,
    pub v: f32,
    pub primID: u32,
    pub geomID: u32,
    pub instID: [u32; 1],
}

#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct RTCRayHit {
    pub ray: RTCRay,
    pub hit: RTCHit,
}

/// `struct RTCIntersectContext` of this build: flags, filter function (unused: always null),
/// instance id stack of one.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RTCIntersectContext {
    pub flags: u32,
    pub filter: Option<unsafe extern "C" fn(args: *const c_void)>,
    pub instID: [u32; 1],
}

impl RTCIntersectContext {
    /// The header's inline `rtcInitIntersectContext`.
    pub fn new() -> Self {
        RTCIntersectContext {
            flags: RTC_INTERSECT_CONTEXT_FLAG_INCOHERENT,
            filter: None,
            instID: [RTC_INVALID_GEOMETRY_ID],
        }
    }
}

// The numbers measured from the C headers (gcc, offsetof/sizeof/_Alignof).
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<RTCRay>() == 48 && align_of::<RTCRay>() == 16);
    assert!(offset_of!(RTCRay, tnear) == 12 && offset_of!(RTCRay, dir_x) == 16);
    assert!(
        offset_of!(RTCRay, tfar) == 32
            && offset_of!(RTCRay, mask) == 36
            && offset_of!(RTCRay, flags) == 44
    );
    assert!(size_of::<RTCHit>() == 32 && align_of::<RTCHit>() == 16);
    assert!(offset_of!(RTCHit, u) == 12 && offset_of!(RTCHit, primID) == 20);
    assert!(offset_of!(RTCHit, geomID) == 24 && offset_of!(RTCHit, instID) == 28);
    assert!(
        size_of::<RTCRayHit>() == 80
            && align_of::<RTCRayHit>() == 16
            && offset_of!(RTCRayHit, hit) == 48
    );
    assert!(size_of::<RTCIntersectContext>() == 24 && align_of::<RTCIntersectContext>() == 8);
    assert!(
        offset_of!(RTCIntersectContext, filter) == 8
            && offset_of!(RTCIntersectContext, instID) == 16
    );
};

#[link(name = "embree3")]
extern "C" {
    /// `config` may be null, or e.g. `c"threads=1"`.
    pub fn rtcNewDevice(config: *const c_char) -> RTCDevice;
    pub fn rtcReleaseDevice(device: RTCDevice);
    /// `device` may be null (the error of a failed `rtcNewDevice`).
    pub fn rtcGetDeviceError(device: RTCDevice) -> RTCError;
    pub fn rtcGetDeviceProperty(device: RTCDevice, prop: u32) -> isize;

    pub fn rtcNewScene(device: RTCDevice) -> RTCScene;
    pub fn rtcReleaseScene(scene: RTCScene);
    pub fn rtcSetSceneFlags(scene: RTCScene, flags: u32);
    pub fn rtcSetSceneBuildQuality(scene: RTCScene, quality: u32);
    pub fn rtcAttachGeometry(scene: RTCScene, geometry: RTCGeometry) -> u32;
    pub fn rtcCommitScene(scene: RTCScene);

    pub fn rtcNewGeometry(device: RTCDevice, kind: u32) -> RTCGeometry;
    /// Safe right after `rtcAttachGeometry` (the scene holds a reference).
    pub fn rtcReleaseGeometry(geometry: RTCGeometry);
    pub fn rtcCommitGeometry(geometry: RTCGeometry);
    /// Embree-owned (and padded) buffer of `item_count × byte_stride` bytes to fill.
    pub fn rtcSetNewGeometryBuffer(
        geometry: RTCGeometry,
        kind: u32,
        slot: u32,
        format: u32,
        byte_stride: usize,
        item_count: usize,
    ) -> *mut c_void;

    /// Closest hit. Set org, dir, tnear ≥ 0, tfar, mask, `hit.geomID = instID[0] = invalid`;
    /// on a hit Embree writes `ray.tfar = t` and the hit, on a miss nothing. Thread-safe on a
    /// committed scene.
    pub fn rtcIntersect1(
        scene: RTCScene,
        context: *mut RTCIntersectContext,
        rayhit: *mut RTCRayHit,
    );
}
