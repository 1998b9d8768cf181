//! CPU forward pass of the quantized MLP, on the blocked int8 GEMM.

use rayon::prelude::*;

use super::model::{requantize, QuantModel};
use crate::gemm::cpu::gemm_i8;

/// Forward pass over `batch` rows of `inputs` (row-major `batch × input_dim`); returns the
/// int32 logits (row-major `batch × classes`).
pub fn forward(model: &QuantModel, batch: usize, inputs: &[i8]) -> Vec<i32> {
    assert_eq!(inputs.len(), batch * model.input_dim as usize);
    let mut act: Vec<i8> = inputs.to_vec();
    let n_layers = model.layers.len();
    for (li, l) in model.layers.iter().enumerate() {
        let (din, dout) = (l.in_dim as usize, l.out_dim as usize);
        let mut acc = gemm_i8(batch, dout, din, &act, &l.weights);
        if li + 1 == n_layers {
            if dout > 0 {
                acc.par_chunks_mut(dout).for_each(|row| {
                    for (v, b) in row.iter_mut().zip(&l.bias) {
                        *v = v.wrapping_add(*b);
                    }
                });
            }
            return acc;
        }
        let mut next = vec![0i8; batch * dout];
        next.par_chunks_mut(dout)
            .zip(acc.par_chunks(dout))
            .for_each(|(o, a)| {
                for j in 0..dout {
                    o[j] = requantize(a[j], l.bias[j], l.multiplier, l.shift, l.relu);
                }
            });
        act = next;
    }
    unreachable!("a validated model has at least one layer")
}

/// Index of the first maximum of each row.
pub fn argmax_rows(logits: &[i32], classes: usize) -> Vec<u32> {
    if classes == 0 {
        return Vec::new();
    }
    logits
        .chunks(classes)
        .map(|row| {
            let mut best = 0usize;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = j;
                }
            }
            best as u32
        })
        .collect()
}
