#!/usr/bin/env python3
"""The tapegrad-lm yardstick (scripts/lm_yardstick.sh) in PyTorch, with the same data pipeline,
so that both run on the same machine and their losses can be compared step for step.

Same as `tapegrad-lm train --level char`: the vocabulary is the text's characters in code-point
order; the last round(n * val_fraction) characters are held out; the rest is cut into B
contiguous streams read T characters at a time, the hidden state carried (detached) from one
chunk to the next and reset when the streams start over; embedding -> one recurrent layer ->
linear head; mean cross-entropy over the T * B predictions; gradient-norm clipping; Adam.
Validation is tapegrad-lm's too: min(B, n / (T + 1)) streams over the held-out text, every
character after the first of each stream predicted, state carried, no gradient. --time counts
the training steps only (not validation), as tapegrad-lm's does. One intra-op thread.

  bench/lm_yardstick_torch.py --data ../shared/data/tinyshakespeare.txt --model lstm --time 300

Prints a progress line every --val-every steps and, at the end, one JSON line with the figures
(steps, train_seconds, chars_per_second, validation_loss, the validation curve).
"""
import argparse
import json
import math
import sys
import time

import torch


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--model", choices=["rnn", "lstm", "gru"], default="lstm")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--embed", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--time", type=float, help="seconds of training steps")
    p.add_argument("--steps", type=int)
    p.add_argument("--val-every", type=int, default=500)
    a = p.parse_args()
    if a.time is None and a.steps is None:
        p.error("give --time or --steps")
    for name in ("hidden", "embed", "batch", "seq_len", "val_every"):
        if getattr(a, name) < 1:
            p.error("--%s must be at least 1, got %d" % (name.replace("_", "-"), getattr(a, name)))
    if a.steps is not None and a.steps < 1:
        p.error("--steps must be at least 1, got %d" % a.steps)
    if a.time is not None and not a.time > 0:
        p.error("--time must be positive, got %g" % a.time)
    if not 0 < a.val_fraction <= 0.5:
        p.error("--val-fraction must be in (0, 0.5], got %g" % a.val_fraction)
    if not a.lr > 0 or not a.clip > 0:
        p.error("--lr and --clip must be positive, got %g and %g" % (a.lr, a.clip))
    return a


class CharModel(torch.nn.Module):
    def __init__(self, kind, vocab, embed, hidden):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, embed)
        cell = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
        self.rnn = cell(embed, hidden)  # [T, B, E] in, [T, B, H] out
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, x, state):  # x [T, B]
        out, state = self.rnn(self.embedding(x), state)
        return self.head(out.reshape(-1, out.shape[-1])), state  # rows t * B + b


def detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def evaluate(model, tokens, batch, seq_len):
    streams = max(1, min(batch, len(tokens) // (seq_len + 1)))
    length = len(tokens) // streams
    steps = min(seq_len, length - 1)
    data = tokens[: streams * length].view(streams, length).t()  # [length, streams]
    nats, count, state, offset = 0.0, 0, None, 0
    with torch.no_grad():
        remaining = length - 1
        while remaining > 0:
            n = min(steps, remaining)
            x, y = data[offset : offset + n], data[offset + 1 : offset + n + 1]
            logits, state = model(x, state)
            nats += torch.nn.functional.cross_entropy(logits, y.reshape(-1), reduction="sum").item()
            count += y.numel()
            offset += n
            remaining -= n
    return nats / count


def main():
    a = parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    with open(a.data, encoding="utf-8", newline="") as f:
        text = f.read()
    if text.startswith("\ufeff"):
        text = text[1:]
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    tokens = torch.tensor([index[c] for c in text], dtype=torch.long)
    n_val = int(math.floor(len(tokens) * a.val_fraction + 0.5))
    train, val = tokens[: len(tokens) - n_val], tokens[len(tokens) - n_val :]
    B, T = a.batch, a.seq_len
    if len(train) < B * (T + 1) or len(val) < 2:
        sys.exit("lm_yardstick_torch.py: %s has %d training and %d validation characters; "
                 "batch %d x seq-len %d needs at least %d and 2"
                 % (a.data, len(train), len(val), B, T, B * (T + 1)))
    L = len(train) // B
    streams = train[: B * L].view(B, L).t()  # [L, B]: column b is stream b

    model = CharModel(a.model, len(chars), a.embed, a.hidden)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    print(f"pytorch {torch.__version__}: 1-layer {a.model} (hidden {a.hidden}, embedding "
          f"{a.embed}, {params} parameters), vocabulary {len(chars)}, {len(train)} training and "
          f"{len(val)} validation characters", file=sys.stderr)

    state, offset, step, seconds = None, 0, 0, 0.0
    curve = []
    while (a.steps is None or step < a.steps) and (a.time is None or seconds < a.time):
        start = time.perf_counter()
        if offset + T + 1 > L:  # the streams start over: the carried state is for other text
            offset, state = 0, None
        x, y = streams[offset : offset + T], streams[offset + 1 : offset + T + 1]
        offset += T
        logits, state = model(x, state)
        loss = torch.nn.functional.cross_entropy(logits, y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        state = detach(state)
        seconds += time.perf_counter() - start
        step += 1
        if step % a.val_every == 0:
            v = evaluate(model, val, B, T)
            curve.append([step, v])
            print(f"step {step}  loss {loss.item():.4f}  val {v:.4f}  "
                  f"{step * B * T / seconds / 1000:.1f}k chars/s  {seconds:.0f} s", file=sys.stderr)
    v = evaluate(model, val, B, T)
    if not curve or curve[-1][0] != step:
        curve.append([step, v])
    print(json.dumps({"impl": "pytorch", "version": torch.__version__, "model": a.model,
                      "parameters": params, "steps": step, "train_seconds": seconds,
                      "chars_per_second": step * B * T / seconds, "validation_loss": v,
                      "validation_curve": curve}))


if __name__ == "__main__":
    main()
