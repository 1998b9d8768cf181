#!/usr/bin/env python3
"""The same fine-tuning run in PyTorch + sentence-transformers (CPU), for docs/BENCHMARKS.md.

Reads what `bench-train --dump DIR` wrote (the steps' token ids, the hyperparameters, Tessera's
losses, step times and final weights), runs the same steps on all-MiniLM-L6-v2 with
sentence-transformers' model (Transformer + mean Pooling + Normalize) and
MultipleNegativesRankingLoss, torch.optim.AdamW (decay off biases and LayerNorms, as
sentence-transformers' fit sets it up) and transformers' get_linear_schedule_with_warmup, with
dropout off (the train kernel has none), then prints the comparison table.

usage: train_torch.py <model dir> <dump dir> [threads]
Not in the test command: PyTorch comes from PyPI with its CUDA packages (several GB), in its own
virtual environment (scripts/bench/train-torch.sh).
"""
import json
import math
import sys
import time

import torch
from safetensors.torch import load_file
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
from sentence_transformers import SentenceTransformer, losses, models  # noqa: E402
from transformers import get_linear_schedule_with_warmup

model_dir, dump = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)

steps = json.load(open(f"{dump}/steps.json"))
h = json.load(open(f"{dump}/hyper.json"))
ours = json.load(open(f"{dump}/tessera.json"))

word = models.Transformer(model_dir, config_kwargs={"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0})
st = SentenceTransformer(modules=[word, models.Pooling(word.get_embedding_dimension(), "mean"), models.Normalize()])
st.train()
bert = word.auto_model
loss_fn = losses.MultipleNegativesRankingLoss(st, scale=h["scale"])

no_decay = ["bias", "LayerNorm.bias", "LayerNorm.weight"]
named = [(n, p) for n, p in bert.named_parameters() if not n.startswith("pooler.")]
for n, p in bert.named_parameters():
    if n.startswith("pooler."):
        p.requires_grad_(False)
groups = [
    {"params": [p for n, p in named if not any(nd in n for nd in no_decay)], "weight_decay": h["weight_decay"]},
    {"params": [p for n, p in named if any(nd in n for nd in no_decay)], "weight_decay": 0.0},
]
opt = torch.optim.AdamW(groups, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"])
sched = get_linear_schedule_with_warmup(opt, h["warmup"], h["total_steps"])


def features(seqs):
    n = max(len(s) for s in seqs)
    ids = torch.tensor([s + [0] * (n - len(s)) for s in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (n - len(s)) for s in seqs])
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}


theirs, times = [], []
for s in steps:
    t = time.perf_counter()
    opt.zero_grad()
    loss = loss_fn([features(s["anchors"]), features(s["positives"])], None)
    loss.backward()
    opt.step()
    sched.step()
    times.append(time.perf_counter() - t)
    theirs.append(loss.item())

rel = [abs(a - b) / abs(b) for a, b in zip(ours["losses"], theirs)]
tess = load_file(f"{dump}/tessera.safetensors")
cos = {}
for n, p in named:
    a = tess[n].double().flatten()
    b = p.detach().double().flatten()
    cos[n] = float((a @ b) / (a.norm() * b.norm()))
worst = min(cos, key=cos.get)
# the change each made, compared too (the weights themselves are mostly the base's)
base = load_file(f"{model_dir}/model.safetensors")
dcos = {}
for n, p in named:
    if n.endswith("attention.self.key.bias"):
        continue  # its gradient is zero in exact arithmetic: both runs move it by rounding noise
    da = (tess[n].double() - base[n].double()).flatten()
    db = (p.detach().double() - base[n].double()).flatten()
    if db.norm() > 0:
        dcos[n] = float((da @ db) / (da.norm() * db.norm()))
dworst = min(dcos, key=dcos.get)
med = lambda v: sorted(v)[len(v) // 2]
print(f"| steps | {len(steps)} of {len(steps[0]['anchors'])} pairs |")
print(f"| per-step loss, worst relative difference | {max(rel):.2e} (step {rel.index(max(rel)) + 1}; median {med(rel):.2e}) |")
print(f"| loss, first / last step | Tessera {ours['losses'][0]:.5f} / {ours['losses'][-1]:.5f}; PyTorch {theirs[0]:.5f} / {theirs[-1]:.5f} |")
print(f"| weights after the run, worst cosine per tensor | {cos[worst]:.8f} ({worst}) |")
print(f"| the runs' changes to the weights, worst cosine per tensor (key biases aside) | {dcos[dworst]:.6f} ({dworst}); median {med(list(dcos.values())):.6f} |")
ts, tt = med(ours["step_secs"]), med(times)
print(f"| seconds a step (median), {threads} threads | Tessera {ts:.3f} · PyTorch {torch.__version__} {tt:.3f} · ratio {ts / tt:.2f} |")
json.dump({"losses": theirs, "step_secs": times}, open(f"{dump}/torch.json", "w"))
