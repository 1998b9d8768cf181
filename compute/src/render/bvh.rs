//! The bounding volume hierarchy of a mesh scene (render spec 2): built once on the client with
//! a binned surface-area heuristic whose every choice is fixed (the same bytes on every
//! machine), flattened depth-first into one array that the CPU tracer and the CUDA kernel walk
//! in the same order, and validated by workers before use (a hostile BVH can neither loop,
//! overflow the traversal stack, skip nor repeat a triangle, nor hide a triangle outside its
//! boxes).
//!
//! Layout (pbrt's linear BVH): node `i` has a box (`min xyz`, `max xyz`) and two words. A leaf
//! holds `count ≥ 1` triangles starting at `first`; an interior node's first child is node
//! `i + 1` and its second child is node `second`; `axis` is the split axis. Triangles are stored
//! in leaf order, so the leaves, read depth-first, cover the triangle array exactly once.

// `!(a <= b)` is deliberate: NaN must fail validation too.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use crate::error::{ComputeError, Result};

/// Deepest tree a worker accepts (the traversal stack holds this many entries).
pub const MAX_DEPTH: usize = 64;
/// A leaf is made at this many triangles or fewer when splitting does not pay.
pub const MAX_LEAF: usize = 8;
/// SAH bins per axis.
const BINS: usize = 16;
/// SAH cost of one traversal step relative to one triangle test.
const TRAVERSAL_COST: f32 = 1.0;

/// One flattened node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// Box minimum corner.
    pub min: [f32; 3],
    /// Box maximum corner.
    pub max: [f32; 3],
    /// Leaf: first triangle. Interior: index of the second child.
    pub a: u32,
    /// `count << 2 | axis`: `count` triangles in a leaf, 0 for an interior node.
    pub meta: u32,
}

impl Node {
    /// Triangles in a leaf (0: interior node).
    pub fn count(&self) -> u32 {
        self.meta >> 2
    }

    /// Split axis of an interior node.
    pub fn axis(&self) -> usize {
        (self.meta & 3) as usize
    }
}

/// An axis-aligned box.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Aabb {
    min: [f32; 3],
    max: [f32; 3],
}

impl Aabb {
    const EMPTY: Aabb = Aabb {
        min: [f32::INFINITY; 3],
        max: [f32::NEG_INFINITY; 3],
    };

    fn grow(&mut self, p: [f32; 3]) {
        for k in 0..3 {
            if p[k] < self.min[k] {
                self.min[k] = p[k];
            }
            if p[k] > self.max[k] {
                self.max[k] = p[k];
            }
        }
    }

    /// Grows to contain `o` (an empty `o` changes nothing: its inverted corners must not be
    /// taken for points).
    fn join(&mut self, o: &Aabb) {
        if o.min[0] > o.max[0] {
            return;
        }
        self.grow(o.min);
        self.grow(o.max);
    }

    /// Half the surface area (enough for the SAH's ratios); 0 for an empty box.
    fn half_area(&self) -> f32 {
        if self.min[0] > self.max[0] {
            return 0.0;
        }
        let d = [
            self.max[0] - self.min[0],
            self.max[1] - self.min[1],
            self.max[2] - self.min[2],
        ];
        d[0] * d[1] + d[1] * d[2] + d[2] * d[0]
    }
}

/// A built hierarchy: the nodes and the triangle order (`order[i]` is the input index of the
/// `i`-th stored triangle).
#[derive(Debug, Clone)]
pub struct Built {
    /// Flattened nodes, root first.
    pub nodes: Vec<Node>,
    /// Input triangle index of each stored triangle.
    pub order: Vec<u32>,
}

struct Builder<'a> {
    boxes: &'a [Aabb],
    centroids: &'a [[f32; 3]],
    nodes: Vec<Node>,
}

/// Builds the BVH of triangles given by their vertex positions (`tris[i]` = three corners).
/// Deterministic: binned SAH with 16 bins per axis, the lowest cost wins with ties broken by
/// the lower axis then the lower bin boundary, and partitions are stable.
pub fn build(tris: &[[[f32; 3]; 3]]) -> Built {
    let boxes: Vec<Aabb> = tris
        .iter()
        .map(|t| {
            let mut b = Aabb::EMPTY;
            for p in t {
                b.grow(*p);
            }
            b
        })
        .collect();
    let centroids: Vec<[f32; 3]> = boxes
        .iter()
        .map(|b| {
            [
                (b.min[0] + b.max[0]) * 0.5,
                (b.min[1] + b.max[1]) * 0.5,
                (b.min[2] + b.max[2]) * 0.5,
            ]
        })
        .collect();
    let mut order: Vec<u32> = (0..tris.len() as u32).collect();
    let mut b = Builder {
        boxes: &boxes,
        centroids: &centroids,
        nodes: Vec::with_capacity(2 * tris.len().div_ceil(2).max(1)),
    };
    if tris.is_empty() {
        // an empty scene: one empty leaf whose box no ray enters
        b.nodes.push(Node {
            min: [1.0; 3],
            max: [-1.0; 3],
            a: 0,
            meta: 0,
        });
        // count 0 would read as interior: an empty scene is flagged by the triangle count
        return Built {
            nodes: b.nodes,
            order,
        };
    }
    b.split(&mut order, 0, 1);
    Built {
        nodes: b.nodes,
        order,
    }
}

impl Builder<'_> {
    /// Emits the subtree of `order[..]` (absolute offset `first`) at `depth`.
    fn split(&mut self, order: &mut [u32], first: usize, depth: usize) {
        let mut bounds = Aabb::EMPTY;
        let mut cbounds = Aabb::EMPTY;
        for &i in order.iter() {
            bounds.join(&self.boxes[i as usize]);
            cbounds.grow(self.centroids[i as usize]);
        }
        let me = self.nodes.len();
        self.nodes.push(Node {
            min: bounds.min,
            max: bounds.max,
            a: first as u32,
            meta: (order.len() as u32) << 2,
        });
        let n = order.len();
        if n == 1 || depth >= MAX_DEPTH {
            return;
        }
        let leaf_cost = n as f32;
        // best (cost, axis, boundary): boundary b puts bins 0..=b left
        let mut best: Option<(f32, usize, usize)> = None;
        for axis in 0..3 {
            let lo = cbounds.min[axis];
            let extent = cbounds.max[axis] - lo;
            if !(extent > 0.0) {
                continue;
            }
            let scale = BINS as f32 / extent;
            let mut count = [0usize; BINS];
            let mut bin_box = [Aabb::EMPTY; BINS];
            for &i in order.iter() {
                let bi = bin_of(self.centroids[i as usize][axis], lo, scale);
                count[bi] += 1;
                bin_box[bi].join(&self.boxes[i as usize]);
            }
            // sweep: left areas from the left, right from the right
            let mut right_area = [0.0f32; BINS];
            let mut right_count = [0usize; BINS];
            let mut acc = Aabb::EMPTY;
            let mut c = 0;
            for k in (1..BINS).rev() {
                acc.join(&bin_box[k]);
                c += count[k];
                right_area[k] = acc.half_area();
                right_count[k] = c;
            }
            let mut acc = Aabb::EMPTY;
            let mut c = 0;
            for k in 0..BINS - 1 {
                acc.join(&bin_box[k]);
                c += count[k];
                if c == 0 || right_count[k + 1] == 0 {
                    continue;
                }
                let cost = TRAVERSAL_COST
                    + (acc.half_area() * c as f32 + right_area[k + 1] * right_count[k + 1] as f32)
                        / bounds.half_area().max(f32::MIN_POSITIVE);
                if best.is_none_or(|(bc, _, _)| cost < bc) {
                    best = Some((cost, axis, k));
                }
            }
        }
        let (axis, mid) = match best {
            Some((cost, axis, k)) if cost < leaf_cost || n > MAX_LEAF => {
                let lo = cbounds.min[axis];
                let scale = BINS as f32 / (cbounds.max[axis] - lo);
                let c = self.centroids;
                let mid = stable_partition(order, |i| bin_of(c[i as usize][axis], lo, scale) <= k);
                (axis, mid)
            }
            // no axis separates the centroids: halve by index when too many for one leaf
            None if n > MAX_LEAF => (0, n / 2),
            _ => return,
        };
        self.nodes[me].meta = axis as u32;
        let (left, right) = order.split_at_mut(mid);
        self.split(left, first, depth + 1);
        self.nodes[me].a = self.nodes.len() as u32;
        self.split(right, first + mid, depth + 1);
    }
}

#[inline]
fn bin_of(c: f32, lo: f32, scale: f32) -> usize {
    let b = ((c - lo) * scale) as usize; // saturating, NaN -> 0
    b.min(BINS - 1)
}

/// Moves the elements for which `left` holds to the front, keeping both groups in order;
/// returns how many there are.
fn stable_partition(v: &mut [u32], left: impl Fn(u32) -> bool) -> usize {
    let (l, r): (Vec<u32>, Vec<u32>) = v.iter().partition(|&&i| left(i));
    let n = l.len();
    v[..n].copy_from_slice(&l);
    v[n..].copy_from_slice(&r);
    n
}

/// Checks a hierarchy received from elsewhere against `n_tris` stored triangles with corners
/// `corner(tri, k)`: nodes in depth-first order (every interior node's first child right after
/// it, its second child right after the first child's subtree), leaves covering the triangles
/// exactly once in order, depth ≤ [`MAX_DEPTH`], every box finite and containing its
/// triangles (leaves) or its children's boxes (interior). Returns the depth.
pub fn validate(
    nodes: &[Node],
    n_tris: usize,
    corner: impl Fn(usize, usize) -> [f32; 3],
) -> Result<usize> {
    let bad = |m: String| Err(ComputeError::Scene(format!("BVH: {m}")));
    if nodes.is_empty() {
        return bad("no nodes".into());
    }
    if n_tris == 0 {
        return if nodes.len() == 1 {
            Ok(1)
        } else {
            bad(format!("{} nodes for an empty scene", nodes.len()))
        };
    }
    let contains =
        |outer: &Node, p: [f32; 3]| (0..3).all(|k| outer.min[k] <= p[k] && p[k] <= outer.max[k]);
    // (node, depth) stack; visiting order must be 0, 1, 2, ...
    let mut stack: Vec<(usize, usize)> = vec![(0, 1)];
    let mut next_node = 0usize;
    let mut next_tri = 0usize;
    let mut max_depth = 0;
    while let Some((i, depth)) = stack.pop() {
        if i != next_node {
            return bad(format!(
                "node {i} is not in depth-first order (expected {next_node})"
            ));
        }
        if i >= nodes.len() {
            return bad(format!("node {i} is past the end ({} nodes)", nodes.len()));
        }
        if depth > MAX_DEPTH {
            return bad(format!("deeper than {MAX_DEPTH} levels"));
        }
        max_depth = max_depth.max(depth);
        next_node += 1;
        let n = &nodes[i];
        if !n.min.iter().chain(&n.max).all(|v| v.is_finite()) {
            return bad(format!("node {i} has a non-finite box"));
        }
        let count = n.count() as usize;
        if count > 0 {
            if n.a as usize != next_tri || next_tri + count > n_tris {
                return bad(format!(
                    "leaf {i} holds triangles {}..{} (expected to start at {next_tri} of {n_tris})",
                    n.a,
                    n.a as u64 + count as u64
                ));
            }
            for t in next_tri..next_tri + count {
                for k in 0..3 {
                    if !contains(n, corner(t, k)) {
                        return bad(format!("leaf {i} does not contain triangle {t}"));
                    }
                }
            }
            next_tri += count;
        } else {
            if n.axis() > 2 {
                return bad(format!("node {i} has split axis {}", n.axis()));
            }
            let second = n.a as usize;
            if second <= i + 1 || second >= nodes.len() {
                return bad(format!(
                    "node {i}: second child {second} out of order or range"
                ));
            }
            for c in [i + 1, second] {
                let ch = &nodes[c];
                if !(contains(n, ch.min) && contains(n, ch.max)) {
                    return bad(format!("node {i} does not contain child {c}"));
                }
            }
            stack.push((second, depth + 1));
            stack.push((i + 1, depth + 1));
        }
    }
    if next_node != nodes.len() {
        return bad(format!("{} nodes, {next_node} reachable", nodes.len()));
    }
    if next_tri != n_tris {
        return bad(format!("the leaves hold {next_tri} of {n_tris} triangles"));
    }
    Ok(max_depth)
}

/// The expected work of one ray through a validated BVH, in node visits plus triangle tests:
/// the surface-area heuristic's measure (a ray that hits the root box hits a node's box with
/// probability area(node) / area(root)), which sees what depth alone does not: boxes that
/// overlap (coincident or stacked triangles, which no split separates) and big leaves.
pub fn expected_work(nodes: &[Node]) -> f64 {
    let (visits, tests) = expected_visits(nodes);
    visits + tests
}

/// [`expected_work`] in its two parts: expected node visits and triangle tests per ray (the
/// render estimate weighs a test three times a visit, as the tracer's run times do).
pub fn expected_visits(nodes: &[Node]) -> (f64, f64) {
    let area = |n: &Node| {
        let d = [0, 1, 2].map(|k| f64::from(n.max[k]) - f64::from(n.min[k]));
        (d[0] * d[1] + d[1] * d[2] + d[2] * d[0]).max(0.0)
    };
    let Some(root) = nodes.first() else {
        return (0.0, 0.0);
    };
    let root_area = area(root);
    // a flat or point-like scene: every ray that reaches it visits everything
    let p = |n: &Node| {
        if root_area <= 0.0 {
            1.0
        } else {
            (area(n) / root_area).min(1.0)
        }
    };
    nodes.iter().fold((0.0, 0.0), |(v, t), n| {
        (v + p(n), t + p(n) * f64::from(n.count()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Joining an empty box (a bin no centroid fell into) leaves a box as it was. It used to
    /// take the empty box's inverted corners (±inf) for points, so the SAH saw infinite areas
    /// and the trees came out deep and slow (a 3 674-triangle mesh 46 levels deep).
    #[test]
    fn joining_an_empty_box_changes_nothing() {
        let mut b = Aabb::EMPTY;
        b.grow([0.0, 1.0, 2.0]);
        b.grow([1.0, 2.0, 3.0]);
        let before = b;
        b.join(&Aabb::EMPTY);
        assert_eq!(b, before);
        assert_eq!(b.half_area(), 3.0);
    }

    /// The SAH tree of a well-spread mesh is shallow: at most about twice the depth of a
    /// balanced tree.
    #[test]
    fn sah_trees_are_shallow() {
        let (s, _) = crate::render::mesh_scenes::random_soup(4000, 3);
        let tris: Vec<[[f32; 3]; 3]> = s
            .triangles
            .iter()
            .map(|t| t.v.map(|i| s.positions[i as usize]))
            .collect();
        let built = build(&tris);
        let depth = validate(&built.nodes, tris.len(), |t, k| {
            tris[built.order[t] as usize][k]
        })
        .unwrap();
        let balanced = (tris.len() as f64 / MAX_LEAF as f64).log2().ceil() as usize + 1;
        assert!(
            depth <= 2 * balanced + 2,
            "depth {depth} for {} triangles",
            tris.len()
        );
        let work = expected_work(&built.nodes);
        println!(
            "random soup of {}: depth {depth}, expected work {work:.1}",
            tris.len()
        );
    }

    /// Coincident triangles cannot be split by position: the builder halves them by index
    /// and every ray visits the whole tree. The expected work says so (about 2 per triangle),
    /// where the depth says only log2.
    #[test]
    fn expected_work_sees_coincident_triangles() {
        let t = [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let spread: Vec<[[f32; 3]; 3]> = (0..2000)
            .map(|i| {
                let x = (i % 50) as f32 * 2.0;
                let y = (i / 50) as f32 * 2.0;
                t.map(|p| [p[0] + x, p[1] + y, 0.5 * (i % 7) as f32])
            })
            .collect();
        let stacked = vec![t; 2000];
        let w_spread = expected_work(&build(&spread).nodes);
        let w_stacked = expected_work(&build(&stacked).nodes);
        println!("2000 triangles: spread {w_spread:.1}, coincident {w_stacked:.1}");
        assert!(w_spread < 100.0, "{w_spread}");
        assert!(w_stacked > 2000.0, "{w_stacked}");
        // a client's BVH of one leaf (589 824 triangles in the measured attack): every ray
        // tests every triangle
        let one_leaf = [Node {
            min: [0.0; 3],
            max: [1.0; 3],
            a: 0,
            meta: 589_824 << 2,
        }];
        assert_eq!(expected_work(&one_leaf), 589_825.0);
    }
}
