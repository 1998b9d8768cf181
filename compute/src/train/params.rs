//! The trainable tensors of a BERT encoder in one fixed order: their Hugging Face names,
//! shapes as the safetensors file stores them, whether the model keeps them transposed
//! (linear weights are `[in, out]` in memory, `[out, in]` in the file), and whether AdamW's
//! weight decay applies (not to biases and LayerNorm parameters, as sentence-transformers
//! sets it up). The optimizer and the checkpoint writer walk this order.
use crate::embed::model::{BertConfig, EmbedModel};

/// One trainable tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Hugging Face name (`encoder.layer.0.attention.self.query.weight`, …).
    pub name: String,
    /// Shape in the safetensors file.
    pub shape: Vec<usize>,
    /// Kept transposed in memory (a linear weight).
    pub transposed: bool,
    /// Weight decay applies.
    pub decay: bool,
}

fn spec(name: String, shape: &[usize], transposed: bool, decay: bool) -> Spec {
    Spec {
        name,
        shape: shape.to_vec(),
        transposed,
        decay,
    }
}

/// Every trainable tensor of a model with config `c`, in the fixed order.
pub fn specs(c: &BertConfig) -> Vec<Spec> {
    let (h, i) = (c.hidden_size, c.intermediate_size);
    let mut v = vec![
        spec(
            "embeddings.word_embeddings.weight".into(),
            &[c.vocab_size, h],
            false,
            true,
        ),
        spec(
            "embeddings.position_embeddings.weight".into(),
            &[c.max_position_embeddings, h],
            false,
            true,
        ),
        spec(
            "embeddings.token_type_embeddings.weight".into(),
            &[c.type_vocab_size, h],
            false,
            true,
        ),
        spec("embeddings.LayerNorm.weight".into(), &[h], false, false),
        spec("embeddings.LayerNorm.bias".into(), &[h], false, false),
    ];
    for l in 0..c.num_hidden_layers {
        let p = format!("encoder.layer.{l}");
        let linear = |v: &mut Vec<Spec>, name: &str, out: usize, inp: usize| {
            v.push(spec(format!("{p}.{name}.weight"), &[out, inp], true, true));
            v.push(spec(format!("{p}.{name}.bias"), &[out], false, false));
        };
        let norm = |v: &mut Vec<Spec>, name: &str| {
            v.push(spec(format!("{p}.{name}.weight"), &[h], false, false));
            v.push(spec(format!("{p}.{name}.bias"), &[h], false, false));
        };
        linear(&mut v, "attention.self.query", h, h);
        linear(&mut v, "attention.self.key", h, h);
        linear(&mut v, "attention.self.value", h, h);
        linear(&mut v, "attention.output.dense", h, h);
        norm(&mut v, "attention.output.LayerNorm");
        linear(&mut v, "intermediate.dense", i, h);
        linear(&mut v, "output.dense", h, i);
        norm(&mut v, "output.LayerNorm");
    }
    v
}

/// The tensors of `m` in [`specs`]' order.
pub fn tensors(m: &EmbedModel) -> Vec<&[f32]> {
    let mut v: Vec<&[f32]> = vec![
        &m.word,
        &m.position,
        &m.token_type,
        &m.emb_ln_w,
        &m.emb_ln_b,
    ];
    for l in &m.layers {
        v.extend([
            &l.q_w[..],
            &l.q_b,
            &l.k_w,
            &l.k_b,
            &l.v_w,
            &l.v_b,
            &l.o_w,
            &l.o_b,
            &l.ln1_w,
            &l.ln1_b,
            &l.i_w,
            &l.i_b,
            &l.out_w,
            &l.out_b,
            &l.ln2_w,
            &l.ln2_b,
        ]);
    }
    v
}

/// The same, mutable.
pub fn tensors_mut(m: &mut EmbedModel) -> Vec<&mut [f32]> {
    let mut v: Vec<&mut [f32]> = vec![
        &mut m.word,
        &mut m.position,
        &mut m.token_type,
        &mut m.emb_ln_w,
        &mut m.emb_ln_b,
    ];
    for l in &mut m.layers {
        v.extend([
            &mut l.q_w[..],
            &mut l.q_b,
            &mut l.k_w,
            &mut l.k_b,
            &mut l.v_w,
            &mut l.v_b,
            &mut l.o_w,
            &mut l.o_b,
            &mut l.ln1_w,
            &mut l.ln1_b,
            &mut l.i_w,
            &mut l.i_b,
            &mut l.out_w,
            &mut l.out_b,
            &mut l.ln2_w,
            &mut l.ln2_b,
        ]);
    }
    v
}

/// Parameters in the model.
pub fn count(m: &EmbedModel) -> u64 {
    tensors(m).iter().map(|t| t.len() as u64).sum()
}
