# Builds a small test scene entirely from Python (no external files), exports it as glTF
# binary (scene.glb) and renders the same scene with Cycles on the CPU (cycles.png), so that
# Tessera's path tracer can load the .glb and be compared against a reference renderer.
#
#   blender -b --factory-startup --python scripts/assets/blender-scene.py -- \
#       --out DIR [--spp 16] [--width 160] [--height 120] [--frame 1] [--no-render]
#
# Writes into DIR: scene.glb, cycles.png (8-bit sRGB PNG, 'Standard' view transform, no
# denoiser, no clamping, box pixel filter, no dither), checker.png (the generated texture, also
# embedded in the .glb) and render-settings.json (what was used, and the timings).
#
# The scene (Blender Z-up; the .glb is exported Y-up):
#   * ground: 12 x 12 m plane, grey diffuse (Principled, base 0.5, roughness 1)
#   * "Suzanne": Blender's monkey with a level-2 subdivision modifier (applied on export),
#     red diffuse, smooth shaded
#   * "GoldSphere": UV sphere, metallic 1, roughness 0.25, gold base colour
#   * "GlassSphere": UV sphere, transmission 1, IOR 1.5, roughness 0, white; exports
#     KHR_materials_transmission (1.0) + KHR_materials_volume (thicknessFactor 1.0, i.e. a solid
#     refracting sphere, no attenuation), doubleSided false; IOR 1.5 is glTF's default, so no
#     KHR_materials_ior. All other materials are doubleSided (Cycles shades both sides).
#   * "CheckerCube": cube whose Base Color comes from an Image Texture node reading a 256 x 256
#     checker image generated here, pixel by pixel (exports as baseColorTexture; 'Closest'
#     interpolation, so the glTF sampler is magFilter NEAREST / minFilter NEAREST_MIPMAP_NEAREST;
#     UVs are Blender's default cube unwrap); it is keyframed to turn 90 degrees about
#     the vertical axis over frames 1..24 (linear), exported as a glTF animation; the still
#     render and the exported node transform are those of --frame (default 1)
#   * "AreaLight": 2 x 2 m plane 3.5 m up, facing down, Principled with black base colour,
#     emission white, strength 8, specular 0 (exports emissiveFactor [1,1,1] +
#     KHR_materials_emissive_strength 8 + KHR_materials_specular specularColorFactor [0,0,0]).
#     Cycles makes mesh emitters two-sided; nothing is above it, so only its lower side matters.
#   * "Camera": perspective, 40 mm lens on a 36 mm sensor (sensor fit auto: horizontal for
#     landscape), at (0, -6.5, 2.6) looking at (0, 0.3, 0.55); glTF yfov 0.65099 rad at 4:3
#   * world: black (colour 0, strength 0): all light comes from the emissive mesh
# Cycles: CPU, --spp samples (no adaptive sampling), seed 0, max bounces 8 for every kind
# (--max-bounces), no clamping, no filter-glossy, caustics on, box pixel filter 1 px, film
# exposure 0, 'Standard' view transform, look None, sRGB display, no dither, frame --frame.
# Reproducibility: scene.glb is byte-identical from run to run (see canonicalize_glb);
# cycles.png pixels were identical in most runs, but (through Blender's own last-bit normal
# noise) in 2 of 9 runs one pixel differed by 3/255 -- compare against it statistically.
# Bump SCRIPT_VERSION whenever the scene or the render settings change (setup-assets.sh keys
# its cache folder on it).
import argparse
import json
import math
import os
import sys
import time

import bpy

SCRIPT_VERSION = 1
# Meshes shaded smooth: their exported normals are replaced by reproducible ones computed with
# Blender's formula (smooth_vertex_normals) and their vertices put in a canonical order.
SMOOTH_MESHES = {
    "studio": ("Suzanne", "GoldSphere", "GlassSphere"),
    "materials": ("CopperSphere", "BlueSphere", "Torus"),
    "sky": ("Suzanne", "GoldSphere"),
}
SCENES = {"studio": "build_scene", "materials": "build_materials_scene", "sky": "build_sky_scene"}


def parse_args():
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
    p = argparse.ArgumentParser(prog="blender-scene.py")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--spp", type=int, default=16, help="Cycles samples per pixel")
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--height", type=int, default=120)
    p.add_argument("--frame", type=int, default=1, help="frame to render and export as rest pose")
    p.add_argument("--max-bounces", type=int, default=8)
    p.add_argument("--threads", type=int, default=0, help="Cycles CPU threads (0 = all)")
    p.add_argument("--no-render", action="store_true", help="only export scene.glb")
    p.add_argument("--scene", choices=sorted(SCENES), default="studio",
                   help="studio: the original scene; materials: Principled lobes under the "
                        "area light; sky: lit by the world alone (a colour, then an HDRI)")
    return p.parse_args(argv)


def set_input(node, names, value):
    """Sets the first existing input among `names` (Blender 3.x and 4.x name them differently)."""
    for n in names:
        if n in node.inputs:
            node.inputs[n].default_value = value
            return
    raise KeyError(f"{node.name}: none of the inputs {names}")


def principled(name, base=(0.8, 0.8, 0.8), metallic=0.0, roughness=0.5, transmission=0.0,
               ior=1.5, emission=None, strength=0.0):
    mat = bpy.data.materials.new(name)
    mat.use_nodes = True
    bsdf = mat.node_tree.nodes["Principled BSDF"]
    set_input(bsdf, ["Base Color"], (*base, 1.0))
    set_input(bsdf, ["Metallic"], metallic)
    set_input(bsdf, ["Roughness"], roughness)
    set_input(bsdf, ["IOR"], ior)
    set_input(bsdf, ["Transmission", "Transmission Weight"], transmission)
    if emission is not None:
        set_input(bsdf, ["Emission", "Emission Color"], (*emission, 1.0))
        set_input(bsdf, ["Emission Strength"], strength)
    return mat, bsdf


def gltf_thickness(mat, thickness):
    """Adds the exporter's "glTF Material Output" node group with a Thickness value, which makes
    it write KHR_materials_volume (thicknessFactor) next to KHR_materials_transmission; without
    it a glTF viewer must treat the transmissive surface as thin-walled (no refraction)."""
    name = "glTF Material Output"
    group = bpy.data.node_groups.get(name)
    if group is None:
        group = bpy.data.node_groups.new(name, "ShaderNodeTree")
        if hasattr(group, "interface"):  # Blender >= 4.0
            group.interface.new_socket("Occlusion", in_out="INPUT", socket_type="NodeSocketFloat")
            group.interface.new_socket("Thickness", in_out="INPUT", socket_type="NodeSocketFloat")
        else:
            group.inputs.new("NodeSocketFloat", "Occlusion")
            group.inputs.new("NodeSocketFloat", "Thickness")
        group.nodes.new("NodeGroupInput")
        group.nodes.new("NodeGroupOutput")
    node = mat.node_tree.nodes.new("ShaderNodeGroup")
    node.node_tree = group
    node.inputs["Thickness"].default_value = thickness


def checker_image(name, size=256, squares=8, c0=(0.9, 0.9, 0.9), c1=(0.1, 0.25, 0.8)):
    """A new image filled here with a checker pattern (no external file, no generator node)."""
    img = bpy.data.images.new(name, width=size, height=size, alpha=False)
    cell = size // squares
    px = []
    for y in range(size):
        for x in range(size):
            c = c0 if ((x // cell) + (y // cell)) % 2 == 0 else c1
            px.extend((*c, 1.0))
    img.pixels[:] = px
    return img


def add_object(op, name, mat, location=(0, 0, 0), smooth=False, **kw):
    op(location=location, **kw)
    ob = bpy.context.active_object
    ob.name = name
    ob.data.name = name
    ob.data.materials.append(mat)
    if smooth:
        for poly in ob.data.polygons:
            poly.use_smooth = True
    return ob


def clear_scene():
    """Starts empty: --factory-startup gives the default cube, light and camera."""
    bpy.ops.object.select_all(action="SELECT")
    bpy.ops.object.delete()
    return bpy.context.scene


def set_world(scene, color=(0.0, 0.0, 0.0), strength=0.0, hdr=None):
    """The world: a constant colour, or (hdr) an equirectangular image, 'Closest' interpolation
    so that the texels Tessera reads are the texels Cycles reads."""
    world = bpy.data.worlds.new("World") if scene.world is None else scene.world
    scene.world = world
    world.use_nodes = True
    nodes = world.node_tree.nodes
    bg = nodes["Background"]
    for n in [n for n in nodes if n.type == "TEX_ENVIRONMENT"]:
        nodes.remove(n)
    bg.inputs["Color"].default_value = (*color, 1.0)
    bg.inputs["Strength"].default_value = strength
    if hdr is not None:
        env = nodes.new("ShaderNodeTexEnvironment")
        env.image = bpy.data.images.load(hdr)
        env.interpolation = "Closest"
        env.projection = "EQUIRECTANGULAR"
        world.node_tree.links.new(env.outputs["Color"], bg.inputs["Color"])
        bg.inputs["Strength"].default_value = 1.0


def add_ground(base=(0.5, 0.5, 0.5)):
    ground_mat, _ = principled("Ground", base=base, roughness=1.0)
    add_object(bpy.ops.mesh.primitive_plane_add, "Ground", ground_mat, size=12.0)


def add_area_light():
    """Emissive area light: a mesh, not a Blender light (export_lights=False)."""
    light_mat, light_bsdf = principled("AreaLight", base=(0.0, 0.0, 0.0), roughness=1.0,
                                       emission=(1.0, 1.0, 1.0), strength=8.0)
    set_input(light_bsdf, ["Specular", "Specular IOR Level"], 0.0)
    light = add_object(bpy.ops.mesh.primitive_plane_add, "AreaLight", light_mat,
                       location=(0.0, 0.3, 3.5), size=2.0)
    light.rotation_euler = (math.pi, 0.0, 0.0)  # normal points down (-Z)


def add_camera(scene):
    bpy.ops.object.camera_add(location=(0.0, -6.5, 2.6))
    cam = bpy.context.active_object
    cam.name = "Camera"
    cam.data.name = "Camera"
    cam.data.lens = 40.0
    cam.data.sensor_width = 36.0
    cam.data.sensor_fit = "AUTO"
    cam.data.clip_start = 0.05
    cam.data.clip_end = 100.0
    # Look at a point slightly above the ground centre.
    target = (0.0, 0.3, 0.55)
    d = [t - c for t, c in zip(target, cam.location)]
    cam.rotation_euler = (math.atan2(math.hypot(d[0], d[1]), -d[2]), 0.0,
                          math.atan2(d[1], d[0]) - math.pi / 2)
    scene.camera = cam


def build_materials_scene(args):
    """Principled lobes the studio lacks, under the same area light: a rough copper metal, a
    glossy blue dielectric, a half-metal torus, a tinted glass cylinder and a mid-rough cube."""
    scene = clear_scene()
    set_world(scene)
    add_ground(base=(0.45, 0.42, 0.38))
    copper, _ = principled("Copper", base=(0.95, 0.64, 0.54), metallic=1.0, roughness=0.4)
    add_object(bpy.ops.mesh.primitive_uv_sphere_add, "CopperSphere", copper,
               location=(-1.7, 0.7, 0.55), smooth=True, radius=0.55, segments=48, ring_count=24)
    blue, _ = principled("BlueGloss", base=(0.1, 0.25, 0.8), roughness=0.15)
    add_object(bpy.ops.mesh.primitive_uv_sphere_add, "BlueSphere", blue,
               location=(-0.2, 1.5, 0.6), smooth=True, radius=0.6, segments=48, ring_count=24)
    half, _ = principled("HalfMetal", base=(0.8, 0.75, 0.2), metallic=0.5, roughness=0.3)
    torus = add_object(bpy.ops.mesh.primitive_torus_add, "Torus", half,
                       location=(1.5, 0.9, 0.45), smooth=True, major_radius=0.55, minor_radius=0.2)
    torus.rotation_euler = (math.radians(60), 0.0, math.radians(30))
    green, _ = principled("GreenGlass", base=(0.6, 0.95, 0.7), roughness=0.0, transmission=1.0)
    gltf_thickness(green, 1.0)
    green.use_backface_culling = True
    add_object(bpy.ops.mesh.primitive_cylinder_add, "GlassCylinder", green,
               location=(0.3, -0.7, 0.56), radius=0.4, depth=1.0, vertices=32)
    grey, _ = principled("MidRough", base=(0.7, 0.7, 0.7), roughness=0.5)
    cube = add_object(bpy.ops.mesh.primitive_cube_add, "Cube", grey,
                      location=(1.9, -0.6, 0.35), size=0.7)
    cube.rotation_euler = (0.0, 0.0, math.radians(25))
    add_area_light()
    add_camera(scene)
    scene.frame_set(args.frame)
    return scene


def write_sky_hdr(path, width=64, height=32):
    """An equirectangular sky written as Radiance HDR: a blue gradient from the zenith to a
    pale horizon, a dark ground below it and a 2 x 2 texel "sun" about 22 degrees up."""
    img = bpy.data.images.new("sky", width=width, height=height, alpha=False, float_buffer=True)
    px = []
    for y in range(height):  # Blender's rows run bottom to top
        t = (y + 0.5) / height  # 0 at the nadir, 1 at the zenith
        for x in range(width):
            if y in (height * 39 // 64, height * 39 // 64 + 1) and x in (40, 41):
                c = (60.0, 56.0, 48.0)
            elif t > 0.5:
                e = (t - 0.5) * 2.0
                c = (0.9 - 0.6 * e, 1.0 - 0.5 * e, 1.2 - 0.2 * e)
            else:
                c = (0.12, 0.1, 0.08)
            px.extend((*c, 1.0))
    img.pixels[:] = px
    img.filepath_raw = path
    img.file_format = "HDR"
    img.save()
    return path


def build_sky_scene(args):
    """Lit by the world alone (no emissive mesh): a red Suzanne, a gold sphere and a white
    cube on the ground; rendered under a constant world colour, then under an HDRI."""
    scene = clear_scene()
    set_world(scene, color=SKY_RGB, strength=1.0)
    add_ground()
    red, _ = principled("RedDiffuse", base=(0.8, 0.1, 0.08), roughness=0.9)
    monkey = add_object(bpy.ops.mesh.primitive_monkey_add, "Suzanne", red,
                        location=(-1.3, 0.4, 0.75), smooth=True, size=1.2)
    monkey.rotation_euler = (math.radians(-20), 0.0, math.radians(-20))
    sub = monkey.modifiers.new("Subdivision", "SUBSURF")
    sub.levels = 2
    sub.render_levels = 2
    gold, _ = principled("Gold", base=(1.0, 0.766, 0.336), metallic=1.0, roughness=0.25)
    add_object(bpy.ops.mesh.primitive_uv_sphere_add, "GoldSphere", gold,
               location=(0.4, 1.0, 0.6), smooth=True, radius=0.6, segments=48, ring_count=24)
    white, _ = principled("White", base=(0.8, 0.8, 0.8), roughness=0.7)
    cube = add_object(bpy.ops.mesh.primitive_cube_add, "Cube", white,
                      location=(1.6, -0.3, 0.5), size=1.0)
    cube.rotation_euler = (0.0, 0.0, math.radians(20))
    add_camera(scene)
    scene.frame_set(args.frame)
    return scene


# The sky scene's constant world colour (linear RGB, strength 1).
SKY_RGB = (0.35, 0.45, 0.6)


def build_scene(args):
    scene = clear_scene()
    # World: black, so all light comes from the emissive mesh.
    set_world(scene)
    add_ground()

    red, _ = principled("RedDiffuse", base=(0.8, 0.1, 0.08), roughness=0.9)
    monkey = add_object(bpy.ops.mesh.primitive_monkey_add, "Suzanne", red,
                        location=(-1.4, 0.4, 0.75), smooth=True, size=1.2)
    monkey.rotation_euler = (math.radians(-20), 0.0, math.radians(-20))
    sub = monkey.modifiers.new("Subdivision", "SUBSURF")
    sub.levels = 2
    sub.render_levels = 2

    gold, _ = principled("Gold", base=(1.0, 0.766, 0.336), metallic=1.0, roughness=0.25)
    add_object(bpy.ops.mesh.primitive_uv_sphere_add, "GoldSphere", gold,
               location=(0.3, 1.4, 0.6), smooth=True, radius=0.6, segments=48, ring_count=24)

    glass, _ = principled("Glass", base=(1.0, 1.0, 1.0), roughness=0.0, transmission=1.0, ior=1.5)
    gltf_thickness(glass, 1.0)  # a solid sphere, not a thin-walled shell (KHR_materials_volume)
    # Single-sided in glTF (KHR_materials_volume requires it); Cycles ignores this flag.
    glass.use_backface_culling = True
    add_object(bpy.ops.mesh.primitive_uv_sphere_add, "GlassSphere", glass,
               location=(0.2, -0.6, 0.5), smooth=True, radius=0.5, segments=48, ring_count=24)

    # Textured cube: Image Texture -> Base Color.
    tex_mat, tex_bsdf = principled("Checker", roughness=0.6)
    img = checker_image("checker")
    out_png = os.path.join(args.out, "checker.png")
    img.filepath_raw = out_png
    img.file_format = "PNG"
    img.save()
    img.pack()  # keep the pixels inside the .blend data whatever happens to the file
    nodes = tex_mat.node_tree.nodes
    tex = nodes.new("ShaderNodeTexImage")
    tex.image = img
    tex.interpolation = "Closest"
    tex.extension = "REPEAT"
    tex_mat.node_tree.links.new(tex.outputs["Color"], tex_bsdf.inputs["Base Color"])
    cube = add_object(bpy.ops.mesh.primitive_cube_add, "CheckerCube", tex_mat,
                      location=(1.8, -0.1, 0.5), size=1.0)
    # Animation: a quarter turn about Z over 24 frames, linear.
    cube.rotation_euler = (0.0, 0.0, math.radians(20))
    cube.keyframe_insert("rotation_euler", frame=1)
    cube.rotation_euler = (0.0, 0.0, math.radians(110))
    cube.keyframe_insert("rotation_euler", frame=24)
    for fc in cube.animation_data.action.fcurves:
        for kp in fc.keyframe_points:
            kp.interpolation = "LINEAR"
    scene.frame_start, scene.frame_end = 1, 24
    scene.render.fps = 24

    add_area_light()
    add_camera(scene)
    scene.frame_set(args.frame)
    return scene


def configure_render(scene, args):
    r = scene.render
    r.engine = "CYCLES"
    r.resolution_x, r.resolution_y, r.resolution_percentage = args.width, args.height, 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.film_transparent = False
    r.dither_intensity = 0.0  # no noise added when quantising to 8 bits
    r.use_persistent_data = False
    if args.threads > 0:
        r.threads_mode, r.threads = "FIXED", args.threads
    # No metadata text chunks (date, render time, ...) in the PNG, so identical pixels give an
    # identical file.
    for prop in r.bl_rna.properties:
        if prop.identifier.startswith("use_stamp") and prop.type == "BOOLEAN":
            setattr(r, prop.identifier, False)
    r.image_settings.file_format = "PNG"
    r.image_settings.color_mode = "RGB"
    r.image_settings.color_depth = "8"
    r.image_settings.compression = 15
    scene.display_settings.display_device = "sRGB"
    vs = scene.view_settings
    vs.view_transform = "Standard"
    vs.look = "None"
    vs.exposure = 0.0
    vs.gamma = 1.0
    vs.use_curve_mapping = False
    c = scene.cycles
    c.device = "CPU"
    c.feature_set = "SUPPORTED"
    c.samples = args.spp
    c.use_adaptive_sampling = False
    c.use_denoising = False
    c.seed = 0
    c.use_animated_seed = False
    c.sample_clamp_direct = 0.0  # 0 = no clamping
    c.sample_clamp_indirect = 0.0
    c.blur_glossy = 0.0  # no filter-glossy regularisation
    c.caustics_reflective = True
    c.caustics_refractive = True
    c.max_bounces = args.max_bounces
    c.diffuse_bounces = args.max_bounces
    c.glossy_bounces = args.max_bounces
    c.transmission_bounces = args.max_bounces
    c.transparent_max_bounces = args.max_bounces
    c.volume_bounces = 0
    c.film_exposure = 1.0  # Cycles' film exposure is a multiplier: 1.0 == "exposure 0"
    c.pixel_filter_type = "BOX"
    c.filter_width = 1.0  # box filter one pixel wide: plain pixel-area average
    if hasattr(c, "use_light_tree"):
        c.use_light_tree = False  # Blender >= 3.5
    if hasattr(c, "use_guiding"):
        c.use_guiding = False  # Blender >= 3.4 path guiding (off by default anyway)


def export_glb(path):
    kw = dict(filepath=path, export_format="GLB", export_cameras=True, export_lights=False,
              export_apply=True, export_yup=True, export_texcoords=True, export_normals=True,
              export_materials="EXPORT", export_image_format="AUTO", export_animations=True,
              use_selection=False, export_extras=False)
    res = bpy.ops.export_scene.gltf(**kw)
    if "FINISHED" not in res:
        raise RuntimeError(f"glTF export failed: {res}")


def smooth_vertex_normals(obj):
    """Vertex normals of `obj`'s evaluated mesh (modifiers applied, as export_apply does) by
    Blender's own rule -- sum over the faces around a vertex of the face normal (Newell) times
    the face's corner angle there, normalised -- computed in float64 with numpy in a fixed
    order, so they are the same in every run (Blender's own differ in the last bit). Keyed by
    the float32 bytes of the position in glTF axes (x, z, -y), which is what the exporter
    writes for export_yup; values are glTF-axis float32 normals."""
    import numpy as np

    dg = bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(dg)
    me = ev.to_mesh()
    try:
        nv, nl, npoly = len(me.vertices), len(me.loops), len(me.polygons)
        co = np.empty(nv * 3, np.float32)
        me.vertices.foreach_get("co", co)
        co = co.reshape(-1, 3)
        lv = np.empty(nl, np.int64)
        me.loops.foreach_get("vertex_index", lv)
        start = np.empty(npoly, np.int64)
        total = np.empty(npoly, np.int64)
        me.polygons.foreach_get("loop_start", start)
        me.polygons.foreach_get("loop_total", total)
    finally:
        ev.to_mesh_clear()
    p = co.astype(np.float64)
    poly_of_loop = np.repeat(np.arange(npoly), total)
    idx_in_poly = np.arange(nl) - start[poly_of_loop]
    nxt = start[poly_of_loop] + (idx_in_poly + 1) % total[poly_of_loop]
    prv = start[poly_of_loop] + (idx_in_poly - 1) % total[poly_of_loop]
    cur_p, nxt_p, prv_p = p[lv], p[lv[nxt]], p[lv[prv]]
    # Newell face normals (for triangles and quads this is the cross product Blender uses).
    fn = np.zeros((npoly, 3))
    np.add.at(fn, poly_of_loop, np.cross(cur_p, nxt_p))
    fn /= np.maximum(np.linalg.norm(fn, axis=1, keepdims=True), 1e-300)
    e_in = cur_p - prv_p
    e_out = nxt_p - cur_p
    e_in /= np.maximum(np.linalg.norm(e_in, axis=1, keepdims=True), 1e-300)
    e_out /= np.maximum(np.linalg.norm(e_out, axis=1, keepdims=True), 1e-300)
    ang = np.arccos(np.clip(-(e_in * e_out).sum(1), -1.0, 1.0))
    acc = np.zeros((nv, 3))
    np.add.at(acc, lv, fn[poly_of_loop] * ang[:, None])
    ln = np.linalg.norm(acc, axis=1, keepdims=True)
    fallback = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-300)
    vn = np.where(ln > 0, acc / np.maximum(ln, 1e-300), fallback).astype(np.float32)
    # Blender Z-up -> glTF Y-up: (x, y, z) -> (x, z, -y); exact in float32.
    gpos = np.stack([co[:, 0], co[:, 2], -co[:, 1]], axis=1).astype(np.float32)
    gnrm = np.stack([vn[:, 0], vn[:, 2], -vn[:, 1]], axis=1).astype(np.float32)
    out = {}
    for i in range(nv):
        k = gpos[i].tobytes()
        if k in out and not np.array_equal(out[k], gnrm[i]):
            raise RuntimeError(f"{obj.name}: two vertices at {gpos[i]} with different normals")
        out[k] = gnrm[i]
    return out


def strip_png_text(path):
    """Drops the text chunks Cycles writes (render times) so the PNG is reproducible."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise RuntimeError(f"{path}: not a PNG")
    out, i = bytearray(data[:8]), 8
    while i < len(data):
        n, kind = struct.unpack_from(">I4s", data, i)
        if kind not in (b"tEXt", b"zTXt", b"iTXt", b"tIME"):
            out += data[i:i + 12 + n]
        i += 12 + n
    with open(path, "wb") as f:
        f.write(out)


def canonicalize_glb(path, smooth_normals):
    """Makes scene.glb byte-for-byte reproducible.

    Blender 3.4's smooth vertex normals vary in the last bit from run to run (even on one
    thread), and the glTF exporter sorts vertices by their attributes, so the vertex order of
    smooth meshes changes too. For each mesh in `smooth_normals` (name -> {position bytes ->
    normal}, from `smooth_vertex_normals`) this replaces the normals by those reproducible ones,
    sorts the triangles (each starting at its smallest vertex key, winding kept) and numbers the
    vertices in order of first use. Other meshes, images and animations are copied unchanged.
    """
    import struct
    import numpy as np

    with open(path, "rb") as f:
        data = f.read()
    magic, version, _ = struct.unpack_from("<III", data, 0)
    if magic != 0x46546C67 or version != 2:
        raise RuntimeError(f"{path}: not a glTF 2 binary")
    jlen, jtype = struct.unpack_from("<II", data, 12)
    gltf = json.loads(data[20:20 + jlen])
    blen, btype = struct.unpack_from("<II", data, 20 + jlen)
    if jtype != 0x4E4F534A or btype != 0x004E4942:
        raise RuntimeError(f"{path}: unexpected chunk layout")
    bin_in = data[28 + jlen:28 + jlen + blen]
    views, accessors = gltf["bufferViews"], gltf["accessors"]
    ctype = {5121: np.uint8, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}

    def read(i):
        a = accessors[i]
        v = views[a["bufferView"]]
        if v.get("byteStride"):
            raise RuntimeError("interleaved accessors are not handled")
        n = a["count"] * width[a["type"]]
        arr = np.frombuffer(bin_in, dtype=ctype[a["componentType"]], count=n,
                            offset=v.get("byteOffset", 0) + a.get("byteOffset", 0))
        return arr.reshape(a["count"], -1) if width[a["type"]] > 1 else arr

    replaced = {}  # bufferView index -> new bytes

    def replace(i, arr, component_type, minmax=False):
        a = accessors[i]
        if sum(1 for b in accessors if b.get("bufferView") == a["bufferView"]) != 1:
            raise RuntimeError("shared bufferViews are not handled")
        a["componentType"], a["count"], a["byteOffset"] = component_type, int(arr.shape[0]), 0
        if minmax:
            a["min"] = [float(x) for x in arr.min(axis=0)]
            a["max"] = [float(x) for x in arr.max(axis=0)]
        replaced[a["bufferView"]] = np.ascontiguousarray(arr).tobytes()

    for mesh in gltf["meshes"]:
        if mesh["name"] not in smooth_normals:
            continue
        normal_of = smooth_normals[mesh["name"]]
        for prim in mesh["primitives"]:
            attrs = prim["attributes"]
            if set(attrs) - {"POSITION", "NORMAL", "TEXCOORD_0"} or "indices" not in prim:
                raise RuntimeError(f"{mesh['name']}: unexpected attributes {sorted(attrs)}")
            pos = read(attrs["POSITION"])
            uv = read(attrs["TEXCOORD_0"]) if "TEXCOORD_0" in attrs else np.zeros((len(pos), 2), np.float32)
            tri = read(prim["indices"]).astype(np.int64).reshape(-1, 3)
            corner_pos = pos[tri.reshape(-1)]
            # Corners -> distinct positions (exact float32 bits).
            _, pos_id = np.unique(corner_pos.view(np.uint32), axis=0, return_inverse=True)
            pos_id = pos_id.reshape(-1)
            vnorm = np.zeros((pos_id.max() + 1, 3), np.float32)
            for c, pid in enumerate(pos_id):
                k = corner_pos[c].tobytes()
                if k not in normal_of:
                    raise RuntimeError(f"{mesh['name']}: exported position {corner_pos[c]} not in the mesh")
                vnorm[pid] = normal_of[k]
            # New vertices: distinct (position, uv) pairs, numbered by first use.
            corner_uv = uv[tri.reshape(-1)]
            key = np.concatenate([pos_id[:, None].astype(np.uint64),
                                  corner_uv.view(np.uint32).astype(np.uint64)], axis=1)
            _, first, vid = np.unique(key, axis=0, return_index=True, return_inverse=True)
            # The exporter's triangle order varies from run to run too: put each triangle's
            # smallest vertex key first (keeping its winding) and sort the triangles.
            vid = vid.reshape(-1, 3)
            rot = np.argmin(vid, axis=1)
            cols = (rot[:, None] + np.arange(3)[None, :]) % 3
            rows = np.arange(len(vid))[:, None]
            vid = vid[rows, cols]
            corner = (rows * 3 + cols)  # original corner numbers, in the new order
            tri_order = np.lexsort((vid[:, 2], vid[:, 1], vid[:, 0]))
            vid = vid[tri_order].reshape(-1)
            corner = corner[tri_order].reshape(-1)
            # Number the vertices by first use in that triangle order.
            uniq, first_use = np.unique(vid, return_index=True)
            order = np.argsort(first_use, kind="stable")
            rank = np.empty(uniq.max() + 1, dtype=np.int64)
            rank[uniq[order]] = np.arange(len(order))
            new_idx = rank[vid]
            src = corner[first_use[order]]  # a corner that defines each new vertex
            new_pos = corner_pos[src].astype(np.float32)
            new_nrm = vnorm[pos_id[src]]
            new_uv = corner_uv[src].astype(np.float32)
            replace(attrs["POSITION"], new_pos, 5126, minmax=True)
            replace(attrs["NORMAL"], new_nrm, 5126)
            if "TEXCOORD_0" in attrs:
                replace(attrs["TEXCOORD_0"], new_uv, 5126)
            if len(new_pos) < 65536:
                replace(prim["indices"], new_idx.astype(np.uint16), 5123)
            else:
                replace(prim["indices"], new_idx.astype(np.uint32), 5125)

    out = bytearray()
    for i, v in enumerate(views):
        chunk = replaced.get(i)
        if chunk is None:
            o = v.get("byteOffset", 0)
            chunk = bin_in[o:o + v["byteLength"]]
        out += b"\0" * (-len(out) % 4)
        v["byteOffset"], v["byteLength"] = len(out), len(chunk)
        out += chunk
    out += b"\0" * (-len(out) % 4)
    gltf["buffers"][0]["byteLength"] = len(out)
    js = json.dumps(gltf, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    total = 12 + 8 + len(js) + 8 + len(out)
    with open(path, "wb") as f:
        f.write(struct.pack("<III", 0x46546C67, 2, total))
        f.write(struct.pack("<II", len(js), 0x4E4F534A) + js)
        f.write(struct.pack("<II", len(out), 0x004E4942) + bytes(out))


def render_png(scene, path):
    scene.render.filepath = path
    t1 = time.time()
    bpy.ops.render.render(write_still=True)
    if not os.path.exists(path):
        raise RuntimeError(f"Cycles did not write {path}")
    strip_png_text(path)
    return time.time() - t1


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    args.out = os.path.abspath(args.out)
    t0 = time.time()
    scene = globals()[SCENES[args.scene]](args)
    configure_render(scene, args)  # before export: the camera's aspect ratio comes from it
    glb = os.path.join(args.out, "scene.glb")
    smooth = {n: smooth_vertex_normals(bpy.data.objects[n]) for n in SMOOTH_MESHES[args.scene]}
    export_glb(glb)
    canonicalize_glb(glb, smooth)
    t_export = time.time() - t0
    t_render = None
    written = []
    world = {"world_color": [0.0, 0.0, 0.0], "world_strength": 0.0}
    if not args.no_render:
        if args.scene == "sky":
            # the same scene under a constant world colour, then under an HDRI
            t_render = render_png(scene, os.path.join(args.out, "cycles-rgb.png"))
            hdr = write_sky_hdr(os.path.join(args.out, "sky.hdr"))
            set_world(scene, hdr=hdr)
            t_render += render_png(scene, os.path.join(args.out, "cycles-hdr.png"))
            written = ["cycles-rgb.png", "sky.hdr", "cycles-hdr.png"]
            world = {"world_color": list(SKY_RGB), "world_strength": 1.0, "world_hdr": "sky.hdr"}
        else:
            t_render = render_png(scene, os.path.join(args.out, "cycles.png"))
            written = ["cycles.png"]
    c = scene.cycles
    meta = {
        "script_version": SCRIPT_VERSION,
        "scene": args.scene,
        "blender_version": bpy.app.version_string,
        "gltf_exporter_version": ".".join(map(str, __import__("io_scene_gltf2").bl_info["version"])),
        "width": args.width, "height": args.height, "spp": args.spp, "frame": args.frame,
        "device": c.device, "threads": scene.render.threads,
        "max_bounces": c.max_bounces, "clamp_direct": c.sample_clamp_direct,
        "clamp_indirect": c.sample_clamp_indirect, "blur_glossy": c.blur_glossy,
        "denoise": c.use_denoising, "adaptive_sampling": c.use_adaptive_sampling, "seed": c.seed,
        "pixel_filter": c.pixel_filter_type, "filter_width": c.filter_width,
        "view_transform": scene.view_settings.view_transform, "look": scene.view_settings.look,
        "exposure": scene.view_settings.exposure, "display_device": scene.display_settings.display_device,
        "dither": scene.render.dither_intensity, **world,
        "seconds_build_and_export": round(t_export, 3),
        "seconds_render": None if t_render is None else round(t_render, 3),
    }
    with open(os.path.join(args.out, "render-settings.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print(f"blender-scene ({args.scene}): wrote {glb} {' '.join(written)} (export {t_export:.1f} s"
          + ("" if t_render is None else f", render {t_render:.1f} s") + ")")


try:
    main()
except SystemExit as e:  # argparse errors: leave Blender with that status
    sys.stdout.flush()
    os._exit(e.code if isinstance(e.code, int) else 2)
except Exception:
    import traceback
    traceback.print_exc()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)  # Blender would otherwise exit 0 after a failing --python script
