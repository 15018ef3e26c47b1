#!/usr/bin/env python3
"""Per-keystroke latency of PyTorch eager doing what bench_keystroke times in tapegrad: the token
just typed through nn.Embedding, nn.LSTM (state carried) and nn.Linear, then the top 3 next
tokens with their probabilities; one thread, no gradients, random weights, a fixed sequence of
random keys. Prints one JSON line like bench_keystroke's.

    keystroke_torch.py V E H LAYERS [--keys N] [--seed S]
"""
import argparse
import json
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("V", type=int)
    ap.add_argument("E", type=int)
    ap.add_argument("H", type=int)
    ap.add_argument("layers", type=int)
    ap.add_argument("--keys", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.E <= 0:
        ap.error("E must be at least 1 (one-hot input is not compared)")
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    embedding = torch.nn.Embedding(a.V, a.E)
    lstm = torch.nn.LSTM(a.E, a.H, a.layers)
    head = torch.nn.Linear(a.H, a.V)
    for m in (embedding, lstm, head):
        m.eval()
    g = torch.Generator().manual_seed(a.seed)
    tokens = torch.randint(0, a.V, (a.keys + 100,), generator=g).tolist()
    state = None
    checksum = 0.0

    def key(token):
        nonlocal state, checksum
        x = embedding(torch.tensor([[token]]))  # [T=1, B=1, E]
        out, state = lstm(x, state)
        probs = torch.softmax(head(out[0, 0]), dim=0)
        p, i = torch.topk(probs, 3)
        checksum += float((i.double() * p.double()).sum())

    micros = []
    with torch.no_grad():
        for t in tokens[:100]:  # warm
            key(t)
        for t in tokens[100:]:
            t0 = time.perf_counter()
            key(t)
            micros.append((time.perf_counter() - t0) * 1e6)
    micros.sort()

    def pct(q):
        return micros[min(len(micros) - 1, int(q * (len(micros) - 1) + 0.5))]

    params = sum(p.numel() for m in (embedding, lstm, head) for p in m.parameters())
    print(json.dumps({"impl": "pytorch", "V": a.V, "E": a.E, "H": a.H, "layers": a.layers,
                      "parameters": params, "size_mb": round(params * 4 / 1e6, 3),
                      "keys": a.keys, "p50_us": round(pct(0.5), 2), "p95_us": round(pct(0.95), 2),
                      "p99_us": round(pct(0.99), 2), "max_us": round(micros[-1], 2),
                      "checksum": checksum}))


if __name__ == "__main__":
    main()
