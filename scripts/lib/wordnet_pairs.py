#!/usr/bin/env python3
"""(usage example, definition) pairs from WordNet 3.0 (Debian's wordnet-base), for training runs.

Each synset of the noun, verb, adjective and adverb databases whose gloss quotes an example of
use gives one pair: the anchor is its first example ("the pilot reported two kills during the
mission"), the positive its definition ("the destruction of an enemy plane or ship or tank or
missile"). Retrieving the definition of the sense a sentence uses is a word-sense task the
base model was not trained on. One synset in ten (by the MD5 of "pos:offset") is held out;
the held-out file keeps the first 1000 of them in file order.

usage: wordnet_pairs.py <dir with data.noun, data.verb, data.adj, data.adv> <out dir>
Licence of the data: WordNet 3.0 licence (Princeton University), in the package's copyright file.
"""
import hashlib
import json
import os
import re
import sys

src, out = sys.argv[1], sys.argv[2]
train, held = [], []
for pos in ("noun", "verb", "adj", "adv"):
    with open(os.path.join(src, f"data.{pos}"), encoding="latin-1") as f:
        for line in f:
            if line.startswith("  ") or " | " not in line:
                continue
            head, gloss = line.rstrip("\n").split(" | ", 1)
            examples = [e.strip() for e in re.findall(r'"([^"]+)"', gloss)]
            definition = gloss.split('; "')[0].split(' "')[0].strip().rstrip(";").strip()
            examples = [e for e in examples if len(e.split()) >= 3]
            if not examples or len(definition.split()) < 2:
                continue
            pair = {"anchor": examples[0], "positive": definition}
            key = f"{pos}:{head.split()[0]}".encode()
            if int(hashlib.md5(key).hexdigest(), 16) % 10 == 0:
                held.append(pair)
            else:
                train.append(pair)
os.makedirs(out, exist_ok=True)
for name, rows in (("train.jsonl", train), ("heldout.jsonl", held[:1000])):
    with open(os.path.join(out, name), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(f"{len(train)} training pairs, {min(len(held), 1000)} held out")
