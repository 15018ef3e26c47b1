#!/usr/bin/env python3
"""The tapegrad-lm yardstick (scripts/lm_yardstick.sh) in PyTorch, with the same data pipeline
and the same training recipe, so that both run on the same machine and their losses can be
compared step for step.

Same as `tapegrad-lm train --level char`: the vocabulary is the text's characters in code-point
order; the last round(n * val_fraction) characters are held out; the rest is cut into B
contiguous streams read T characters at a time, the hidden state carried (detached) from one
chunk to the next and reset when the streams start over; embedding -> --layers stacked
recurrent layers -> linear head; mean cross-entropy over the T * B predictions; gradient-norm
clipping; the optimiser's step at the scheduled learning rate. Validation is tapegrad-lm's too:
min(B, n / (T + 1)) streams over the held-out text, every character after the first of each
stream predicted, state carried, no gradient, dropout off (model.eval()). --time counts the
training steps only (not validation), as tapegrad-lm's does. One intra-op thread.

The recipe, as tapegrad-lm does it:
  --dropout P       on the embedding output, between stacked recurrent layers (the torch
                    module's dropout=) and on the top layer's output before the head.
  --optimizer, --weight-decay W
                    adam, adagrad, sgd (momentum 0): W is the optimiser's weight_decay= (L2
                    added to the gradient); adamw: torch.optim.AdamW's decoupled weight decay.
                    W applies to every parameter (one parameter group).
  --init            xavier (the default, tapegrad's): each [H, in] gate block of every
                    recurrent weight U(-a, a) with a = sqrt(6 / (H + in)), recurrent biases
                    zero. pytorch: torch's own recurrent init, U(+-1/sqrt(H)) for weights and
                    biases. Either way the embedding is N(0, 1) and the head Xavier-uniform with
                    zero bias, as tapegrad's. Until --init existed this script used torch's
                    init for the recurrent layers and the head alike, so runs recorded before
                    it (README's yardstick table) are not reproduced exactly by either choice.
  --forget-bias B   LSTM only: after init, every layer's forget-gate bias_ih = B, bias_hh = 0.
  --lr-schedule constant|cosine|step, --warmup, --lr-min, --lr-decay, --lr-decay-every,
  --lr-decay-start  the learning rate before each step (see scheduled_lr).
  --patience N      stop after N validations in a row without a new best validation loss.

  bench/lm_yardstick_torch.py --data ../shared/data/tinyshakespeare.txt --model lstm --time 300

Prints a progress line every --val-every steps and, at the end, one JSON line with the figures
(steps, train_seconds, chars_per_second, validation_loss, the validation curve, the best
validation loss and its step, whether --patience stopped the run) and the recipe (every flag).
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
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--optimizer", choices=["adam", "adamw", "adagrad", "sgd"], default="adam")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--lr-schedule", choices=["constant", "cosine", "step"], default="constant")
    p.add_argument("--warmup", type=int, default=0, help="steps of linear warm-up")
    p.add_argument("--lr-min", type=float, default=0.0, help="cosine's floor")
    p.add_argument("--lr-decay", type=float, default=0.97, help="step's factor")
    p.add_argument("--lr-decay-every", type=int, default=1000, help="step's period in steps")
    p.add_argument("--lr-decay-start", type=int, default=0, help="step's first step")
    p.add_argument("--init", choices=["xavier", "pytorch"], default="xavier")
    # None, not 0: with --init pytorch an absent flag leaves torch's forget-gate biases alone
    # (with xavier init the biases are zero, so absent and 0 are the same).
    p.add_argument("--forget-bias", type=float, help="LSTM forget-gate bias (default: the init's)")
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--time", type=float, help="seconds of training steps")
    p.add_argument("--steps", type=int)
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--patience", type=int,
                   help="stop after this many validations without a new best")
    a = p.parse_args()
    if a.time is None and a.steps is None:
        p.error("give --time or --steps")
    for name in ("hidden", "embed", "layers", "batch", "seq_len", "val_every", "lr_decay_every"):
        if getattr(a, name) < 1:
            p.error("--%s must be at least 1, got %d" % (name.replace("_", "-"), getattr(a, name)))
    for name in ("warmup", "lr_decay_start"):
        if getattr(a, name) < 0:
            p.error("--%s must be at least 0, got %d" % (name.replace("_", "-"), getattr(a, name)))
    if a.steps is not None and a.steps < 1:
        p.error("--steps must be at least 1, got %d" % a.steps)
    if a.time is not None and not a.time > 0:
        p.error("--time must be positive, got %g" % a.time)
    if not 0 < a.val_fraction <= 0.5:
        p.error("--val-fraction must be in (0, 0.5], got %g" % a.val_fraction)
    if not a.lr > 0 or not a.clip > 0:
        p.error("--lr and --clip must be positive, got %g and %g" % (a.lr, a.clip))
    # The "not (in range)" form also refuses nan.
    if not 0 <= a.dropout < 1:
        p.error("--dropout must be in [0, 1), got %g" % a.dropout)
    if not a.weight_decay >= 0:
        p.error("--weight-decay must be at least 0, got %g" % a.weight_decay)
    if not 0 <= a.lr_min < a.lr:
        p.error("--lr-min must be at least 0 and below --lr (%g), got %g" % (a.lr, a.lr_min))
    if not 0 < a.lr_decay <= 1:
        p.error("--lr-decay must be in (0, 1], got %g" % a.lr_decay)
    if a.steps is not None and a.warmup >= a.steps:
        p.error("--warmup (%d) must be below --steps (%d)" % (a.warmup, a.steps))
    if a.forget_bias is not None:
        if a.model != "lstm":
            p.error("--forget-bias is for --model lstm only, got --model %s" % a.model)
        if not math.isfinite(a.forget_bias):
            p.error("--forget-bias must be finite, got %g" % a.forget_bias)
    if a.patience is not None and a.patience < 1:
        p.error("--patience must be at least 1, got %d" % a.patience)
    return a


def scheduled_lr(a, step, fraction):
    """The learning rate for the training step with index `step` (the steps completed so far,
    0-based), tapegrad-lm's schedule:

        warm = min(1, (step + 1) / W) if W = --warmup > 0, else 1
        constant: lr * warm
        cosine:   warm * (lr_min + (lr - lr_min) * 0.5 * (1 + cos(pi * f)))
        step:     warm * lr * G ** floor(max(0, step - S) / N)
                  (G = --lr-decay, N = --lr-decay-every, S = --lr-decay-start)

    where f = `fraction` is the share of the run completed so far, in [0, 1] (run_fraction).
    """
    warm = min(1.0, (step + 1) / a.warmup) if a.warmup > 0 else 1.0
    if a.lr_schedule == "constant":
        return a.lr * warm
    if a.lr_schedule == "cosine":
        return warm * (a.lr_min + (a.lr - a.lr_min) * 0.5 * (1 + math.cos(math.pi * fraction)))
    decays = math.floor(max(0, step - a.lr_decay_start) / a.lr_decay_every)
    return warm * a.lr * a.lr_decay ** decays


def run_fraction(a, step, seconds):
    """How much of the run is done: the larger of steps / --steps and training seconds / --time
    (whichever are given), clamped to [0, 1]."""
    done = []
    if a.steps is not None:
        done.append(step / a.steps)
    if a.time is not None:
        done.append(seconds / a.time)
    return min(1.0, max(0.0, max(done)))


class CharModel(torch.nn.Module):
    def __init__(self, kind, vocab, embed, hidden, layers, dropout):
        super().__init__()
        self.embedding = torch.nn.Embedding(vocab, embed)
        cell = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
        # The module's own dropout acts between layers only: with one layer it would do nothing
        # (and torch warns), so it is passed only to a stack.
        self.rnn = cell(embed, hidden, num_layers=layers,
                        dropout=dropout if layers > 1 else 0.0)  # [T, B, E] in, [T, B, H] out
        self.drop = torch.nn.Dropout(dropout)  # on the embedding and on the top layer's output
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, x, state):  # x [T, B]
        out, state = self.rnn(self.drop(self.embedding(x)), state)
        out = self.drop(out)
        return self.head(out.reshape(-1, out.shape[-1])), state  # rows t * B + b


def initialise(model, init, forget_bias):
    """tapegrad-lm's initialisation over torch's (the embedding keeps torch's N(0, 1), which is
    tapegrad's too)."""
    rnn, hidden = model.rnn, model.rnn.hidden_size
    with torch.no_grad():
        if init == "xavier":
            for k in range(rnn.num_layers):
                for w in (getattr(rnn, "weight_ih_l%d" % k), getattr(rnn, "weight_hh_l%d" % k)):
                    # Every [H, in] gate block has the same bound, so one draw over the stacked
                    # [G * H, in] weight is the per-block Xavier (and not xavier_uniform_ of the
                    # whole, whose bound would count G * H outputs).
                    a = math.sqrt(6.0 / (hidden + w.shape[1]))
                    w.uniform_(-a, a)
                getattr(rnn, "bias_ih_l%d" % k).zero_()
                getattr(rnn, "bias_hh_l%d" % k).zero_()
        torch.nn.init.xavier_uniform_(model.head.weight)  # U(+-sqrt(6 / (H + V)))
        model.head.bias.zero_()
        if forget_bias is not None:  # LSTM gates are [i, f, g, o]: f is rows H..2H
            for k in range(rnn.num_layers):
                getattr(rnn, "bias_ih_l%d" % k)[hidden : 2 * hidden] = forget_bias
                getattr(rnn, "bias_hh_l%d" % k)[hidden : 2 * hidden] = 0.0


def make_optimizer(a, params):
    # PyTorch's semantics: weight_decay is L2 added to the gradient for adam, adagrad and sgd,
    # and decoupled (p -= lr * W * p) for adamw.
    if a.optimizer == "adam":
        return torch.optim.Adam(params, lr=a.lr, weight_decay=a.weight_decay)
    if a.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=a.lr, weight_decay=a.weight_decay)
    if a.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=a.lr, weight_decay=a.weight_decay)
    return torch.optim.SGD(params, lr=a.lr, momentum=0.0, weight_decay=a.weight_decay)


def detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def evaluate(model, tokens, batch, seq_len):
    model.eval()  # dropout off; the training loop sets train() again before its next step
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

    model = CharModel(a.model, len(chars), a.embed, a.hidden, a.layers, a.dropout)
    initialise(model, a.init, a.forget_bias)
    params = sum(p.numel() for p in model.parameters())
    opt = make_optimizer(a, model.parameters())
    print(f"pytorch {torch.__version__}: {a.layers}-layer {a.model} (hidden {a.hidden}, "
          f"embedding {a.embed}, {params} parameters, {a.init} init, dropout {a.dropout:g}), "
          f"{a.optimizer} lr {a.lr:g} ({a.lr_schedule}, warm-up {a.warmup}) weight decay "
          f"{a.weight_decay:g}, vocabulary {len(chars)}, {len(train)} training and {len(val)} "
          f"validation characters", file=sys.stderr)

    state, offset, step, seconds = None, 0, 0, 0.0
    curve = []
    best, best_step, since_best, stopped_early = math.inf, None, 0, False

    def validated(at, v):  # records the validation after step `at`; True if --patience says stop
        nonlocal best, best_step, since_best
        curve.append([at, v])
        if v < best:
            best, best_step, since_best = v, at, 0
        else:
            since_best += 1
        return a.patience is not None and since_best >= a.patience

    while (a.steps is None or step < a.steps) and (a.time is None or seconds < a.time):
        start = time.perf_counter()
        lr = scheduled_lr(a, step, run_fraction(a, step, seconds))
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
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
            stop = validated(step, v)
            print(f"step {step}  loss {loss.item():.4f}  val {v:.4f}  lr {lr:.6g}  "
                  f"{step * B * T / seconds / 1000:.1f}k chars/s  {seconds:.0f} s", file=sys.stderr)
            if stop:
                stopped_early = True
                break
    if curve and curve[-1][0] == step:  # validated at this very step: the same model, same loss
        v = curve[-1][1]
    else:
        v = evaluate(model, val, B, T)
        validated(step, v)
    print(json.dumps({"impl": "pytorch", "version": torch.__version__, "model": a.model,
                      "parameters": params, "steps": step, "train_seconds": seconds,
                      "chars_per_second": step * B * T / seconds, "validation_loss": v,
                      "validation_curve": curve, "best_validation_loss": best,
                      "best_step": best_step, "stopped_early": stopped_early,
                      "recipe": vars(a)}))


if __name__ == "__main__":
    main()
