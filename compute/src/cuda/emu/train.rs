//! The training step on the host emulator: `train_step` on [`Path::Device`] with the emulator
//! as the launcher runs every launch the device runs (the same `train::kernels` calls, shapes
//! and buffers), and must give the plain CPU reference's bits.
use std::collections::BTreeMap;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::sync::Mutex;

use cudarc::driver::LaunchConfig;

use super::{buf, Arg, Emu};
use crate::cuda::launch::{KArg, Launch};
use crate::error::Result;

/// The emulator as a launcher, counting the launches of each kernel (so a test can tell
/// that the device path ran rather than fell back to the CPU).
pub(crate) struct Counting<'a> {
    emu: &'a Emu,
    seen: Mutex<BTreeMap<String, usize>>,
}

impl<'a> Counting<'a> {
    pub(crate) fn new(emu: &'a Emu) -> Self {
        Self {
            emu,
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    /// Launches of each kernel so far.
    pub(crate) fn seen(&self) -> BTreeMap<String, usize> {
        self.seen.lock().unwrap().clone()
    }
}

/// A read-only host buffer as a kernel pointer (the kernel declares it `const`).
fn read_only<T>(v: &[T]) -> Arg<'_> {
    Arg::Buf(v.as_ptr() as *mut c_void, PhantomData)
}

impl Launch for Counting<'_> {
    fn launch(&self, kernel: &str, cfg: LaunchConfig, args: &mut [KArg<'_>]) -> Result<()> {
        let mut a: Vec<Arg<'_>> = args
            .iter_mut()
            .map(|k| match k {
                KArg::In(v) => read_only(v),
                KArg::Out(v) => buf(v),
                KArg::U32s(v) => read_only(v),
                KArg::U64s(v) => read_only(v),
                KArg::I32(v) => Arg::I32(*v),
                KArg::F32(v) => Arg::F32(*v),
            })
            .collect();
        self.emu.launch(kernel, cfg, &mut a);
        *self.seen.lock().unwrap().entry(kernel.into()).or_default() += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::emu;
    use super::*;
    use crate::cuda::TRAIN_KERNELS;
    use crate::testcases::random_embed_model;
    use crate::train::tests::{batch, bits, refs, shape};
    use crate::train::{encode_output, fresh_state, train_step, Checkpoint, Hyper, Path};

    /// `steps` optimizer steps from a random model on `path`: the link's output bytes (the
    /// losses, the model and Adam's moments, NaNs canonical), and the raw bits.
    fn run(
        path: Path<'_>,
        s: &crate::testcases::EmbedShape,
        h: &Hyper,
        steps: u64,
        poison: bool,
    ) -> (Vec<u8>, Vec<u32>) {
        let mut m = random_embed_model(s, 11);
        if poison {
            // token 3's word row overflows: its LayerNorm, and every step after, has NaNs
            m.word[3 * s.hidden] = f32::INFINITY;
        }
        let mut st = fresh_state(&m);
        let mut losses = Vec::new();
        for t in 1..=steps {
            let mut seqs = batch(s.vocab, 4, t);
            if poison {
                seqs[0][0] = 3;
            }
            losses.push(train_step(path, &mut m, &mut st, h, t, &refs(&seqs)));
        }
        let raw = [bits(&m), bits(&st.m), bits(&st.v)].concat();
        let c = Checkpoint {
            model: m,
            state: st,
            step: steps,
            ..Checkpoint::from_model_blob(&crate::testcases::random_embed_model_blob(s, 11))
                .unwrap()
        };
        (encode_output(&losses, 0, &c).unwrap(), raw)
    }

    #[test]
    fn emulated_training_steps_are_bit_identical_to_the_plain_reference() {
        let Some(e) = emu() else { return };
        let h = Hyper {
            lr: 1e-3,
            warmup: 1,
            ..Hyper::defaults(4)
        };
        // a width that is a multiple of the warp, and one that is not (ragged lanes, head
        // width 10), with sequences of 2 ..= 10 tokens
        for s in [shape(32, 4, 2, 64, 60), shape(40, 4, 1, 72, 50)] {
            let l = Counting::new(e);
            let (dev, dev_raw) = run(Path::Device(&l), &s, &h, 3, false);
            let (cpu, cpu_raw) = run(Path::Plain, &s, &h, 3, false);
            assert!(dev_raw == cpu_raw, "{s:?}: the emulated step differs");
            assert!(dev == cpu, "{s:?}: the outputs differ");
            let seen = l.seen();
            for k in TRAIN_KERNELS
                .iter()
                .chain(&["tessera_gemm_f32", "tessera_embed_bias"])
            {
                assert!(
                    seen.get(*k).copied().unwrap_or(0) > 0,
                    "{k} never ran: {seen:?}"
                );
            }
        }
    }

    /// A diverging run: NaNs from the first LayerNorm on, in the weights and moments after
    /// the first update. The outputs (NaNs canonical) are the CPU's bytes.
    #[test]
    fn emulated_training_matches_when_the_run_diverges() {
        let Some(e) = emu() else { return };
        let s = shape(32, 4, 1, 64, 60);
        let h = Hyper {
            lr: 1e-2,
            warmup: 0,
            ..Hyper::defaults(3)
        };
        let l = Counting::new(e);
        let (dev, _) = run(Path::Device(&l), &s, &h, 2, true);
        let (cpu, cpu_raw) = run(Path::Plain, &s, &h, 2, true);
        assert!(
            cpu_raw.iter().any(|b| f32::from_bits(*b).is_nan()),
            "the poisoned run has no NaN"
        );
        assert!(dev == cpu, "the diverged outputs differ");
    }
}
