//! The train kernel's gradients and one AdamW step against candle's autograd, on the real
//! all-MiniLM-L6-v2 and a batch of four WordNet pairs (issue 32).
//!
//! The anchor is candle: every parameter a `candle_nn::VarMap` variable, the encoder written
//! with candle's differentiable ops (matmul, softmax, `gelu_erf`, LayerNorm from means and a
//! square root), MultipleNegativesRankingLoss as `candle_nn::loss::cross_entropy` of the scaled
//! similarities, `backward()`, then `candle_nn::AdamW`. candle-transformers' own `BertModel`
//! cannot be differentiated: its LayerNorm is a fused op without a backward pass
//! (`candle_nn::ops::layer_norm` → `apply_op3_no_bwd`), so no gradient would reach anything
//! below a LayerNorm. The forward here is the same model (its embeddings are checked against
//! the embed kernel's too).
use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use candle_nn::VarMap;
use tessera_compute::embed::EmbedModel;
use tessera_compute::train::{self, backward, forward, loss, params, Hyper, Path};
use tessera_jobs::{embedding, training};

struct Candle {
    vars: HashMap<String, Var>,
    heads: usize,
    eps: f64,
}

impl Candle {
    fn t(&self, name: &str) -> &Tensor {
        self.vars[name].as_tensor()
    }

    fn ln(&self, x: &Tensor, p: &str) -> Tensor {
        let mean = x.mean_keepdim(D::Minus1).unwrap();
        let xc = x.broadcast_sub(&mean).unwrap();
        let var = xc.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
        let xh = xc
            .broadcast_div(&(var + self.eps).unwrap().sqrt().unwrap())
            .unwrap();
        xh.broadcast_mul(self.t(&format!("{p}.weight")))
            .unwrap()
            .broadcast_add(self.t(&format!("{p}.bias")))
            .unwrap()
    }

    fn linear(&self, x: &Tensor, p: &str) -> Tensor {
        x.matmul(&self.t(&format!("{p}.weight")).t().unwrap())
            .unwrap()
            .broadcast_add(self.t(&format!("{p}.bias")))
            .unwrap()
    }

    /// One sequence's mean-pooled, L2-normalised embedding.
    fn embed(&self, ids: &[u32], layers: usize) -> Tensor {
        let len = ids.len();
        let ids = Tensor::new(ids, &Device::Cpu).unwrap();
        let h = self.t("embeddings.LayerNorm.weight").dim(0).unwrap();
        let d = h / self.heads;
        let x = self
            .t("embeddings.word_embeddings.weight")
            .index_select(&ids, 0)
            .unwrap()
            .broadcast_add(
                &self
                    .t("embeddings.token_type_embeddings.weight")
                    .get(0)
                    .unwrap(),
            )
            .unwrap()
            .add(
                &self
                    .t("embeddings.position_embeddings.weight")
                    .narrow(0, 0, len)
                    .unwrap(),
            )
            .unwrap();
        let mut x = self.ln(&x, "embeddings.LayerNorm");
        for l in 0..layers {
            let p = format!("encoder.layer.{l}");
            let split = |t: Tensor| {
                t.reshape((len, self.heads, d))
                    .unwrap()
                    .transpose(0, 1)
                    .unwrap()
                    .contiguous()
                    .unwrap()
            };
            let q = split(self.linear(&x, &format!("{p}.attention.self.query")));
            let k = split(self.linear(&x, &format!("{p}.attention.self.key")));
            let v = split(self.linear(&x, &format!("{p}.attention.self.value")));
            let s = (q.matmul(&k.t().unwrap()).unwrap() / (d as f64).sqrt()).unwrap();
            let pr = candle_nn::ops::softmax(&s, D::Minus1).unwrap();
            let ctx = pr
                .matmul(&v)
                .unwrap()
                .transpose(0, 1)
                .unwrap()
                .contiguous()
                .unwrap()
                .reshape((len, h))
                .unwrap();
            let a = self
                .linear(&ctx, &format!("{p}.attention.output.dense"))
                .add(&x)
                .unwrap();
            let a = self.ln(&a, &format!("{p}.attention.output.LayerNorm"));
            let g = self
                .linear(&a, &format!("{p}.intermediate.dense"))
                .gelu_erf()
                .unwrap();
            let o = self
                .linear(&g, &format!("{p}.output.dense"))
                .add(&a)
                .unwrap();
            x = self.ln(&o, &format!("{p}.output.LayerNorm"));
        }
        let pooled = x.mean(0).unwrap();
        let norm = pooled.sqr().unwrap().sum_all().unwrap().sqrt().unwrap();
        pooled.broadcast_div(&norm).unwrap()
    }
}

fn rel(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        .sqrt();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum::<f64>().sqrt();
    if den == 0.0 {
        num
    } else {
        num / den
    }
}

/// A tensor of ours in the file's layout.
fn file_layout(spec: &params::Spec, t: &[f32]) -> Vec<f32> {
    if spec.transposed {
        forward::transpose(t, spec.shape[1], spec.shape[0])
    } else {
        t.to_vec()
    }
}

#[test]
fn gradients_and_one_adamw_step_match_candles_autograd_on_minilm() {
    let dir = tessera_tests::minilm_dir().expect("all-MiniLM-L6-v2");
    let blob = embedding::model_blob(&dir).unwrap();
    let model = EmbedModel::parse(&blob).unwrap();
    let pairs = training::read_pairs(
        &tessera_tests::wordnet_pairs_dir()
            .unwrap()
            .join("train.jsonl"),
    )
    .unwrap();
    let pairs = training::tokenize_pairs(&blob, &pairs[100..104], Some(32)).unwrap();
    let b = pairs.len();
    let mut seqs: Vec<&[u32]> = pairs.iter().map(|p| p.0.as_slice()).collect();
    seqs.extend(pairs.iter().map(|p| p.1.as_slice()));
    let c = &model.config;
    let scale = 20.0f32;

    // ours
    let rows = forward::Rows::new(&seqs);
    let f = forward::forward(Path::Fast, &model, &rows);
    let lg = loss::mnrl(Path::Fast, &f.emb, b, c.hidden_size, scale);
    let grads = backward::backward(Path::Fast, &model, &rows, &f, &lg.d_emb);

    // candle
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let varmap = VarMap::new();
    let specs = params::specs(c);
    let mut vars = HashMap::new();
    {
        let mut data = varmap.data().lock().unwrap();
        for s in &specs {
            let v = Var::from_tensor(&tensors[&s.name].to_dtype(DType::F32).unwrap()).unwrap();
            data.insert(s.name.clone(), v.clone());
            vars.insert(s.name.clone(), v);
        }
    }
    let cm = Candle {
        vars,
        heads: c.num_attention_heads,
        eps: c.layer_norm_eps,
    };
    let embs: Vec<Tensor> = seqs
        .iter()
        .map(|s| cm.embed(s, c.num_hidden_layers))
        .collect();
    let a = Tensor::stack(&embs[..b], 0).unwrap();
    let p = Tensor::stack(&embs[b..], 0).unwrap();
    // the forward is the embed kernel's model
    let ce: Vec<f32> = Tensor::cat(&[&a, &p], 0)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(
        rel(&f.emb, &ce) < 1e-5,
        "embeddings differ from candle's by {:e}",
        rel(&f.emb, &ce)
    );
    let sims = (a.matmul(&p.t().unwrap()).unwrap() * scale as f64).unwrap();
    let labels = Tensor::arange(0u32, b as u32, &Device::Cpu).unwrap();
    let l = candle_nn::loss::cross_entropy(&sims, &labels).unwrap();
    let closs = l.to_scalar::<f32>().unwrap();
    assert!(
        ((lg.loss - closs) / closs).abs() < 1e-5,
        "loss {} vs candle {closs}",
        lg.loss
    );
    let store = l.backward().unwrap();

    let mut worst = (0.0f64, String::new());
    let mut compared = 0;
    for (s, ours) in specs.iter().zip(params::tensors(&grads)) {
        let theirs: Vec<f32> = store
            .get(cm.t(&s.name))
            .unwrap_or_else(|| panic!("candle has no gradient for {}", s.name))
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let ours = file_layout(s, ours);
        if s.name.ends_with("attention.self.key.bias") {
            // a key bias adds q·b to every score of a row, which the softmax removes: its
            // gradient is zero, and both sides hold only rounding noise
            let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            eprintln!(
                "{}: |ours| {:.1e}, |candle| {:.1e}",
                s.name,
                norm(&ours),
                norm(&theirs)
            );
            assert!(norm(&ours) < 1e-6 && norm(&theirs) < 1e-6, "{}", s.name);
            continue;
        }
        let r = rel(&ours, &theirs);
        assert!(
            r < 1e-4,
            "{}: gradient differs from candle's by {r:e} (relative L2)",
            s.name
        );
        if r > worst.0 {
            worst = (r, s.name.clone());
        }
        compared += 1;
    }
    eprintln!(
        "{compared} gradient tensors, worst relative L2 difference {:.2e} ({})",
        worst.0, worst.1
    );

    // one AdamW step (decay off biases and LayerNorms in both)
    let h = Hyper {
        lr: 1e-4,
        warmup: 0,
        weight_decay: 0.01,
        eps: 1e-6,
        ..Hyper::defaults(10)
    };
    assert_eq!(train::adamw::lr_at(&h, 1), 1e-4);
    let mut ours = model.clone();
    let mut state = train::fresh_state(&model);
    train::adamw::step(Path::Plain, &mut ours, &grads, &mut state, &h, 1);
    let group = |decay: bool| -> Vec<Var> {
        specs
            .iter()
            .filter(|s| s.decay == decay)
            .map(|s| cm.vars[&s.name].clone())
            .collect()
    };
    for (decay, wd) in [(true, h.weight_decay as f64), (false, 0.0)] {
        let mut opt = AdamW::new(
            group(decay),
            ParamsAdamW {
                lr: h.lr as f64,
                beta1: h.beta1 as f64,
                beta2: h.beta2 as f64,
                eps: h.eps as f64,
                weight_decay: wd,
            },
        )
        .unwrap();
        opt.step(&store).unwrap();
    }
    let mut worst = 0.0f64;
    for ((s, before), after) in specs
        .iter()
        .zip(params::tensors(&model))
        .zip(params::tensors(&ours))
    {
        let theirs: Vec<f32> = cm.t(&s.name).flatten_all().unwrap().to_vec1().unwrap();
        let before = file_layout(s, before);
        let d_ours: Vec<f32> = file_layout(s, after)
            .iter()
            .zip(&before)
            .map(|(x, y)| x - y)
            .collect();
        let d_theirs: Vec<f32> = theirs.iter().zip(&before).map(|(x, y)| x - y).collect();
        if s.name.ends_with("attention.self.key.bias") {
            continue; // its gradient is rounding noise (above): so is its update
        }
        let r = rel(&d_ours, &d_theirs);
        // Adam's first step is lr·g/(|g| + ε): where |g| is near ε it magnifies the gradients'
        // 1e-5 differences, and the update is a difference of f32 weights
        assert!(
            r < 1e-2,
            "{}: the AdamW update differs from candle's by {r:e}",
            s.name
        );
        worst = worst.max(r);
    }
    eprintln!("AdamW step: worst relative L2 difference of the updates {worst:.2e}");
}
