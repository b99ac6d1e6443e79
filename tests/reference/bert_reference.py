#!/usr/bin/env python3
"""Independent numpy reference of the BERT encoder (float64), used to check
rtrec's LibTorch encoder. Creates a small randomly initialised checkpoint in
Hugging Face format (config.json, vocab.txt, model.safetensors in F32, F16 and
BF16, with the "bert." prefix and a pre-training head to skip), runs the
reference forward pass on a few token sequences and writes the expected
outputs to tests/data/tiny_bert/expected.json.

Run from the repository root:  /usr/bin/python3 tests/reference/bert_reference.py
Needs numpy only.
"""
import json
import math
import os
import struct

import numpy as np

OUT = "tests/data/tiny_bert"
CONFIG = {
    "architectures": ["BertModel"], "model_type": "bert",
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 64, "max_position_embeddings": 64, "type_vocab_size": 2,
    "layer_norm_eps": 1e-12, "hidden_act": "gelu",
}
WORDS = ["the", "a", "running", "shoes", "coffee", "beans", "jazz", "record", "tent", "green",
         "tea", "book", "space", "novel", "light", "dark", "roast", "trail", "road", "camp",
         ".", ",", "!", "?", "-", "'"]
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + LETTERS + ["##" + c for c in LETTERS]
         + ["##s", "##ing", "##ed"])
# Token id sequences (with [CLS]=2 ... [SEP]=3); shorter rows are padded with 0.
SEQUENCES = [
    [2, 5, 7, 8, 3],
    [2, 9, 10, 25, 3, 0, 0, 0],
    [2, 11, 12, 13, 14, 15, 16, 17, 18, 19, 1, 4, 3],
]


def f16_round(x):
    return x.astype(np.float16).astype(np.float64)


def bf16_round(x):
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


def make_weights(rng):
    h, i, v = CONFIG["hidden_size"], CONFIG["intermediate_size"], len(VOCAB)
    w = {}
    def n(*shape, std=0.2):
        return rng.normal(0.0, std, size=shape)
    w["embeddings.word_embeddings.weight"] = n(v, h, std=0.5)
    w["embeddings.position_embeddings.weight"] = n(CONFIG["max_position_embeddings"], h, std=0.3)
    w["embeddings.token_type_embeddings.weight"] = n(CONFIG["type_vocab_size"], h, std=0.3)
    w["embeddings.LayerNorm.weight"] = 1.0 + n(h, std=0.1)
    w["embeddings.LayerNorm.bias"] = n(h, std=0.1)
    for l in range(CONFIG["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        for name in ("query", "key", "value"):
            w[p + f"attention.self.{name}.weight"] = n(h, h)
            w[p + f"attention.self.{name}.bias"] = n(h, std=0.05)
        w[p + "attention.output.dense.weight"] = n(h, h)
        w[p + "attention.output.dense.bias"] = n(h, std=0.05)
        w[p + "attention.output.LayerNorm.weight"] = 1.0 + n(h, std=0.1)
        w[p + "attention.output.LayerNorm.bias"] = n(h, std=0.1)
        w[p + "intermediate.dense.weight"] = n(i, h)
        w[p + "intermediate.dense.bias"] = n(i, std=0.05)
        w[p + "output.dense.weight"] = n(h, i)
        w[p + "output.dense.bias"] = n(h, std=0.05)
        w[p + "output.LayerNorm.weight"] = 1.0 + n(h, std=0.1)
        w[p + "output.LayerNorm.bias"] = n(h, std=0.1)
    w["pooler.dense.weight"] = n(h, h)
    w["pooler.dense.bias"] = n(h, std=0.05)
    return w


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def forward(w, ids, mask):
    c = CONFIG
    h, heads = c["hidden_size"], c["num_attention_heads"]
    d = h // heads
    b, t = ids.shape
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][np.arange(t)][None]
         + w["embeddings.token_type_embeddings.weight"][0][None, None])
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], c["layer_norm_eps"])
    add = (1.0 - mask[:, None, None, :]) * -10000.0
    for l in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        def lin(y, name):
            return y @ w[p + name + ".weight"].T + w[p + name + ".bias"]
        q = lin(x, "attention.self.query").reshape(b, t, heads, d).transpose(0, 2, 1, 3)
        k = lin(x, "attention.self.key").reshape(b, t, heads, d).transpose(0, 2, 1, 3)
        v = lin(x, "attention.self.value").reshape(b, t, heads, d).transpose(0, 2, 1, 3)
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + add
        s = s - s.max(-1, keepdims=True)
        pr = np.exp(s)
        pr = pr / pr.sum(-1, keepdims=True)
        ctx = (pr @ v).transpose(0, 2, 1, 3).reshape(b, t, h)
        a = layer_norm(lin(ctx, "attention.output.dense") + x,
                       w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                       c["layer_norm_eps"])
        inter = gelu(lin(a, "intermediate.dense"))
        x = layer_norm(lin(inter, "output.dense") + a, w[p + "output.LayerNorm.weight"],
                       w[p + "output.LayerNorm.bias"], c["layer_norm_eps"])
    m = mask[:, :, None]
    mean = (x * m).sum(1) / m.sum(1)
    pooler = np.tanh(x[:, 0] @ w["pooler.dense.weight"].T + w["pooler.dense.bias"])
    return x, mean, pooler


def write_safetensors(path, tensors, dtype):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        if dtype == "F32":
            raw = a.astype("<f4").tobytes()
        elif dtype == "F16":
            raw = a.astype("<f2").tobytes()
        else:
            u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
            u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
            raw = u.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (len(h) + 8) % 8) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)))
        fh.write(h)
        for blob in blobs:
            fh.write(blob)


def main():
    rng = np.random.default_rng(20241130)
    w = make_weights(rng)
    os.makedirs(OUT, exist_ok=True)
    cfg = dict(CONFIG, vocab_size=len(VOCAB))
    with open(os.path.join(OUT, "config.json"), "w") as fh:
        json.dump(cfg, fh, indent=2)
    with open(os.path.join(OUT, "vocab.txt"), "w") as fh:
        fh.write("\n".join(VOCAB) + "\n")
    t = max(len(s) for s in SEQUENCES)
    ids = np.zeros((len(SEQUENCES), t), dtype=np.int64)
    mask = np.zeros((len(SEQUENCES), t))
    for r, s in enumerate(SEQUENCES):
        ids[r, :len(s)] = s
        mask[r, :len(s)] = [1.0 if tok != 0 else 0.0 for tok in s]
    expected = {"input_ids": ids.tolist(), "attention_mask": mask.astype(int).tolist()}
    for dtype, rounding in (("F32", lambda a: a.astype(np.float32).astype(np.float64)),
                            ("F16", f16_round), ("BF16", bf16_round)):
        file_weights = {"bert." + k: v for k, v in w.items()}
        # A pre-training head, as real checkpoints carry; the loader skips it.
        file_weights["cls.predictions.bias"] = np.zeros(len(VOCAB))
        write_safetensors(os.path.join(OUT, f"model.{dtype.lower()}.safetensors"), file_weights, dtype)
        hidden, mean, pooler = forward({k: rounding(v) for k, v in w.items()}, ids, mask)
        expected[dtype] = {"last_hidden": hidden.round(7).tolist(), "mean": mean.round(7).tolist(),
                           "pooler": pooler.round(7).tolist()}
    os.replace(os.path.join(OUT, "model.f32.safetensors"), os.path.join(OUT, "model.safetensors"))
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(expected, fh)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
