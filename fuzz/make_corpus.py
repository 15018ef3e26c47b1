#!/usr/bin/python3
"""Regenerates the crafted seed inputs of fuzz/corpus/ (python3 + numpy only).

    fuzz/make_corpus.py                          # crafted inputs, from the real ones
    fuzz/make_corpus.py --tapegrad-lm build/examples/tapegrad-lm   # the real ones too

The real inputs are checkpoints written by tapegrad-lm train (corpus/model_dir/real-*.npz, three
of them also in corpus/checkpoint/); without --tapegrad-lm the committed ones are used, and the
metadata inputs and the damaged model directories are derived from them. Regression inputs
(regression-*, found by the fuzzer) are never touched. Files are overwritten in place, so
`git status` after a run shows what changed.
"""
import argparse
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
KEEP_CRC = 0xFFFF  # "version made by" value that fuzz/support.cpp's CRC fix-up leaves alone


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


# ----------------------------------------------------------------------------------------------
# ZIP, written by hand so that every field can be wrong on purpose


class Entry:
    def __init__(self, name, data, **fields):
        self.name = name.encode("utf-8") if isinstance(name, str) else name
        self.data = data.encode("utf-8") if isinstance(data, str) else data
        self.crc = zlib.crc32(self.data)
        self.made_by, self.method, self.flags = 20, 0, 0
        self.size = self.stored_size = None  # default: len(data)
        self.local_name = None  # default: name
        self.local_extra = b""
        for key, value in fields.items():
            setattr(self, key, value)


def zip_bytes(entries, comment=b"", count=None):
    body, directory = b"", b""
    for e in entries:
        stored = len(e.data) if e.stored_size is None else e.stored_size
        size = len(e.data) if e.size is None else e.size
        local_name = e.name if e.local_name is None else e.local_name
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, e.flags, e.method, 0, 33, e.crc,
                            stored, size, len(local_name), len(e.local_extra))
        body += local_name + e.local_extra + e.data
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, e.made_by, 20, e.flags,
                                 e.method, 0, 33, e.crc, stored, size, len(e.name), 0, 0, 0, 0,
                                 0, offset)
        directory += e.name
    n = len(entries) if count is None else count
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(directory), len(body),
                      len(comment))
    return body + directory + end + comment


def read_zip(data):
    """(name, bytes) of each entry of a well-formed stored archive, in order."""
    end = len(data) - 22
    count, = struct.unpack_from("<H", data, end + 10)
    pos, = struct.unpack_from("<I", data, end + 16)
    out = []
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        size, = struct.unpack_from("<I", data, pos + 20)
        local, = struct.unpack_from("<I", data, pos + 42)
        name = data[pos + 46:pos + 46 + name_len].decode("utf-8")
        lname, lextra = struct.unpack_from("<HH", data, local + 26)
        start = local + 30 + lname + lextra
        out.append((name, data[start:start + size]))
        pos += 46 + name_len + extra_len + comment_len
    return out


# ----------------------------------------------------------------------------------------------
# NPY and tapegrad checkpoints


def npy_header(descr="<f4", shape=(2, 3), fortran="False", version=1, text=None, align=64):
    if text is None:
        dims = ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "")
        text = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (descr, fortran, dims)
    lead = 10 if version == 1 else 12
    if align:
        text += " " * ((align - (lead + len(text) + 1) % align) % align)
    text = (text + "\n").encode("latin-1")
    size = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text


def npy(values, descr="<f4", **header):
    values = np.asarray(values, dtype=np.dtype(descr))
    header.setdefault("shape", values.shape)
    return npy_header(descr=descr, **header) + values.tobytes()


def checkpoint(tensors, extra=(), dtype="float32", meta=None):
    """The entries of a tapegrad checkpoint of {name: npy bytes}, the names not in `extra` being
    parameters, then metadata.json (whose fields `meta` overrides)."""
    m = {"format": "tapegrad-checkpoint", "format_version": 1, "dtype": dtype,
         "parameters": [n for n in tensors if n not in extra], "extra": list(extra), "user": {}}
    m.update(meta or {})
    entries = [Entry(n + ".npy", data) for n, data in tensors.items()]
    entries.append(Entry("metadata.json", json.dumps(m, indent=2) + "\n"))
    return entries


# The fuzz_checkpoint harness loads into Linear(3 -> 2) + extra tensor "extra" [2].
W = np.arange(6, dtype=np.float64).reshape(2, 3) / 8
B = np.array([0.5, -0.25])


def linear_tensors(descr="<f4", weight=None):
    return {"weight": weight if weight is not None else npy(W, descr),
            "bias": npy(B, descr), "extra": npy([1.0, 2.0], descr)}


def linear_checkpoint(descr="<f4", dtype="float32", weight=None, meta=None):
    return checkpoint(linear_tensors(descr, weight), extra=["extra"], dtype=dtype, meta=meta)


def make_checkpoints(real):
    t = "checkpoint"
    for name in ("real-word-lstm.npz", "real-char-gru-2-layers.npz",
                 "real-word-gru-onehot-sgd.npz"):
        if name in real:
            write(t, name, real[name])
    good = zip_bytes(linear_checkpoint())
    write(t, "linear-float32-with-extra.npz", good)
    write(t, "linear-float64-with-extra.npz", zip_bytes(linear_checkpoint("<f8", "float64")))
    write(t, "linear-without-extra.npz",
          zip_bytes(checkpoint({"weight": npy(W), "bias": npy(B)})))
    write(t, "linear-weight-transposed.npz", zip_bytes(linear_checkpoint(weight=npy(W.T))))
    write(t, "linear-unknown-parameter.npz",
          zip_bytes(checkpoint(dict(linear_tensors(), other=npy([1.0])), extra=["extra"])))
    write(t, "empty.npz", b"")
    write(t, "not-a-zip.npz", "weight = [[0, 0.125, 0.25], [0.375, 0.5, 0.625]]\n")
    write(t, "end-record-only.npz", zip_bytes([]))
    local_end = 30 + len("weight.npy")
    write(t, "truncated-in-local-header.npz", good[:20])
    write(t, "truncated-in-entry-data.npz", good[:local_end + 40])
    directory = good.rfind(b"PK\x01\x02")
    write(t, "truncated-in-central-directory.npz", good[:directory + 30])
    write(t, "truncated-in-end-record.npz", good[:-5])
    write(t, "trailing-garbage.npz", good + b"\0" * 7)

    entries = linear_checkpoint()
    entries[0].crc ^= 1
    write(t, "flipped-crc-repaired-by-harness.npz", zip_bytes(entries))
    entries[0].made_by = KEEP_CRC
    write(t, "flipped-crc-kept.npz", zip_bytes(entries))

    with tempfile.TemporaryDirectory() as d:
        np.savez(os.path.join(d, "a.npz"), weight=W.astype(np.float32), bias=B.astype(np.float32))
        np.savez_compressed(os.path.join(d, "b.npz"), weight=W.astype(np.float32))
        write(t, "numpy-savez.npz", open(os.path.join(d, "a.npz"), "rb").read())
        write(t, "numpy-savez-compressed.npz", open(os.path.join(d, "b.npz"), "rb").read())
    # np.savez's archive with a metadata.json added: a foreign writer's ZIP the loader accepts.
    buf = io.BytesIO()
    np.save(buf, W.astype(np.float32))
    write(t, "numpy-save-entries-with-metadata.npz", zip_bytes(checkpoint(
        {"weight": buf.getvalue(), "bias": npy(B), "extra": npy([1.0, 2.0])}, extra=["extra"])))

    def weight_variant(name, weight_bytes):
        write(t, name, zip_bytes(linear_checkpoint(weight=weight_bytes)))

    weight_variant("fortran-order.npz", npy(W, fortran="True"))
    weight_variant("shape-bigger-than-data.npz", npy_header(shape=(4, 3)) + W.astype("<f4").tobytes())
    weight_variant("dtype-int32.npz", npy([[0, 1, 2], [3, 4, 5]], "<i4"))
    weight_variant("dtype-big-endian.npz", npy(W, ">f4"))
    weight_variant("npy-version-2-header.npz", npy(W, version=2))
    weight_variant("npy-version-3-header.npz", npy(W, version=3))
    weight_variant("npy-version-4-header.npz", npy(W, version=4))
    weight_variant("npy-unaligned-data.npz", npy(W, align=0))
    weight_variant("zero-size-tensor.npz", npy(np.zeros((0, 3))))
    weight_variant("scalar-tensor.npz", npy(np.float32(1.5)))
    weight_variant("huge-shape-no-data.npz",
                   npy_header(shape=(99999999999999999, 99999999999999999)))
    weight_variant("nan-and-inf-data.npz", npy([[np.nan, np.inf, -np.inf], [0.0, -0.0, 1e-45]]))
    write(t, "float64-data-float32-metadata.npz", zip_bytes(linear_checkpoint("<f8", "float32")))

    def entries_variant(name, change, **kw):
        e = linear_checkpoint()
        change(e)
        write(t, name, zip_bytes(e, **kw))

    entries_variant("duplicate-entries.npz", lambda e: e.insert(1, Entry("weight.npy", e[0].data)))
    entries_variant("metadata-missing.npz", lambda e: e.pop())
    entries_variant("metadata-not-json.npz",
                    lambda e: e.__setitem__(-1, Entry("metadata.json", "{\"format\": tapegrad")))
    entries_variant("metadata-not-object.npz",
                    lambda e: e.__setitem__(-1, Entry("metadata.json", "[1, 2, 3]")))
    entries_variant("unexpected-entry.npz", lambda e: e.insert(0, Entry("README.txt", "hello")))
    entries_variant("entry-named-dot-npy.npz", lambda e: e.insert(0, Entry(".npy", npy([1.0]))))
    entries_variant("entry-name-not-utf8.npz",
                    lambda e: e.insert(0, Entry(b"w\xff\xfe.npy", npy([1.0]))))
    entries_variant("zip64-size-marker.npz", lambda e: setattr(e[0], "size", 0xFFFFFFFF))
    entries_variant("two-different-sizes.npz", lambda e: setattr(e[0], "size", len(e[0].data) - 4))
    entries_variant("encrypted-flag.npz", lambda e: setattr(e[0], "flags", 1))
    entries_variant("data-descriptor-flag.npz", lambda e: setattr(e[0], "flags", 8))
    entries_variant("deflate-method-on-stored-data.npz", lambda e: setattr(e[0], "method", 8))
    entries_variant("local-name-differs.npz", lambda e: setattr(e[0], "local_name", b"wEight.npy"))
    entries_variant("local-extra-field.npz",
                    lambda e: setattr(e[0], "local_extra", b"\x55\x54\x05\x00\x01\0\0\0\0"))
    entries_variant("entry-count-too-large.npz", lambda e: None, count=9)
    entries_variant("entry-count-too-small.npz", lambda e: None, count=1)
    entries_variant("archive-comment.npz", lambda e: None, comment=b"made by hand")
    d = bytearray(good)
    struct.pack_into("<I", d, len(d) - 6, len(good) + 100)  # central directory offset
    write(t, "central-directory-offset-past-end.npz", bytes(d))
    d = bytearray(good)
    struct.pack_into("<I", d, directory + 42, len(good) - 10)  # local header offset
    write(t, "local-header-offset-into-end-record.npz", bytes(d))

    def meta_variant(name, **fields):
        write(t, name, zip_bytes(linear_checkpoint(meta=fields)))

    meta_variant("metadata-format-version-2.npz", format_version=2)
    meta_variant("metadata-format-version-string.npz", format_version="1")
    meta_variant("metadata-format-foreign.npz", format="numpy")
    meta_variant("metadata-dtype-float16.npz", dtype="float16")
    meta_variant("metadata-dtype-float64-data-float32.npz", dtype="float64")
    meta_variant("metadata-lists-missing-tensor.npz", parameters=["weight", "bias", "gone"])
    meta_variant("metadata-lists-tensor-twice.npz", parameters=["weight", "bias", "bias"])
    meta_variant("metadata-parameter-listed-as-number.npz", parameters=["weight", 7])
    meta_variant("metadata-extra-not-a-list.npz", extra="extra")
    nested = json.loads(linear_checkpoint()[-1].data)
    nested["user"] = json.loads("[" * 200 + "]" * 200)
    entries_variant("metadata-user-deeply-nested.npz",
                    lambda e: e.__setitem__(-1, Entry("metadata.json", json.dumps(nested))))


def make_npys():
    t = "npy"
    write(t, "float32-2x3.npy", npy(W))
    write(t, "float64-2x3.npy", npy(W, "<f8"))
    buf = io.BytesIO()
    np.save(buf, W.astype(np.float32))
    write(t, "numpy-save-float32-2x3.npy", buf.getvalue())
    buf = io.BytesIO()
    np.save(buf, np.asfortranarray(W))
    write(t, "numpy-save-fortran-float64.npy", buf.getvalue())
    write(t, "float32-3x2-wrong-shape.npy", npy(W.T))
    write(t, "float32-scalar.npy", npy(np.float32(2)))
    write(t, "float32-1d.npy", npy(W.ravel()))
    write(t, "float32-0x3.npy", npy(np.zeros((0, 3))))
    write(t, "float32-4d.npy", npy(W.reshape(1, 2, 3, 1)))
    write(t, "fortran-order-true.npy", npy(W, fortran="True"))
    write(t, "int32.npy", npy([[1, 2, 3], [4, 5, 6]], "<i4"))
    write(t, "big-endian-float32.npy", npy(W, ">f4"))
    write(t, "float16.npy", npy(W, "<f2"))
    write(t, "version-2-header.npy", npy(W, version=2))
    write(t, "version-3-header.npy", npy(W, version=3))
    write(t, "version-0.npy", npy(W, version=0))
    h = bytearray(npy(W))
    struct.pack_into("<H", h, 8, 0xFFFF)
    write(t, "header-length-past-end.npy", bytes(h))
    write(t, "no-magic.npy", b"\x93NUMPZ" + npy(W)[6:])
    write(t, "empty.npy", b"")
    write(t, "magic-only.npy", b"\x93NUMPY")
    write(t, "header-only-no-data.npy", npy_header())
    write(t, "shape-bigger-than-data.npy", npy_header(shape=(3, 3)) + W.astype("<f4").tobytes())
    write(t, "shape-smaller-than-data.npy", npy_header(shape=(2, 2)) + W.astype("<f4").tobytes())
    raw = W.astype("<f4").tobytes()
    for name, text in [
        ("shape-unclosed", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, }"),
        ("shape-negative", "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }"),
        ("shape-20-digits",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551617, 3), }"),
        ("shape-huge-product",
         "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2), }"),
        ("shape-letters", "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }"),
        ("shape-not-a-tuple", "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }"),
        ("descr-unquoted", "{'descr': <f4, 'fortran_order': False, 'shape': (2, 3), }"),
        ("descr-unterminated", "{'descr': '<f4"),
        ("descr-empty", "{'descr': '', 'fortran_order': False, 'shape': (2, 3), }"),
        ("descr-structured",
         "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2, 3), }"),
        ("missing-descr", "{'fortran_order': False, 'shape': (2, 3), }"),
        ("missing-fortran-order", "{'descr': '<f4', 'shape': (2, 3), }"),
        ("missing-shape", "{'descr': '<f4', 'fortran_order': False, }"),
        ("keys-in-other-order", "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4', }"),
        ("no-spaces", "{'descr':'<f4','fortran_order':False,'shape':(2,3)}"),
        ("key-at-end-of-header", "{'descr': '<f4', 'fortran_order': False, 'shape':"),
        ("keys-repeated",
         "{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"),
        ("double-quotes", '{"descr": "<f4", "fortran_order": False, "shape": (2, 3), }'),
        ("empty-header", ""),
    ]:
        write(t, name + ".npy", npy_header(text=text) + raw)


# ----------------------------------------------------------------------------------------------
# Real tapegrad-lm model directories, and what is derived from them

SAMPLE_TEXT = ("The quick brown fox jumps over the lazy dog.\n"
               "\u00c9toile, na\u00efve caf\u00e9 \u2014 \u201cquoted\u201d \u00bd "
               "\u65e5\u672c\u8a9e \U0001F600\n") * 8

# (file, tapegrad-lm train flags); each is ~10-30 KB.
REAL_RUNS = [
    ("real-word-lstm.npz", "--steps 5 --hidden 8 --embed 4"),
    ("real-word-rnn.npz", "--model rnn --steps 5 --hidden 8 --embed 4"),
    ("real-word-gru-onehot-sgd.npz", "--model gru --steps 3 --hidden 4 --embed 0 --optimizer sgd"),
    ("real-char-lstm.npz",
     "--data DATA --level char --steps 5 --hidden 8 --embed 4 --batch 4 --seq-len 16"),
    ("real-char-gru-2-layers.npz", "--data DATA --level char --model gru --layers 2 --steps 5 "
     "--hidden 8 --embed 4 --batch 4 --seq-len 16"),
    ("real-char-rnn-adagrad.npz", "--data DATA --level char --model rnn --optimizer adagrad "
     "--steps 3 --hidden 6 --embed 3 --batch 4 --seq-len 16"),
]


def make_real(program):
    with tempfile.TemporaryDirectory() as d:
        data = os.path.join(d, "sample.txt")
        with open(data, "w", encoding="utf-8") as f:
            f.write(SAMPLE_TEXT)
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
        for name, flags in REAL_RUNS:
            out = os.path.join(d, name[:-4])
            args = [a if a != "DATA" else "sample.txt" for a in flags.split()]
            run = subprocess.run([os.path.abspath(program), "train", "--out", out] + args,
                                 cwd=d, env=env, capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit("make_corpus: tapegrad-lm train %s failed:\n%s" % (flags, run.stderr))
            shutil.copy(os.path.join(out, "checkpoint.npz"), os.path.join(CORPUS, "model_dir", name))


def load_real():
    real = {}
    directory = os.path.join(CORPUS, "model_dir")
    for name, _ in REAL_RUNS:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            real[name] = open(path, "rb").read()
    return real


def repack(archive, change_meta=None, drop=()):
    """The archive's entries with metadata.json passed through change_meta(dict) and the
    tensors named in `drop` left out (from the entries and from the lists)."""
    entries = []
    for name, data in read_zip(archive):
        if name == "metadata.json":
            m = json.loads(data)
            for key in ("parameters", "extra"):
                m[key] = [n for n in m[key] if n not in drop]
            if change_meta:
                m = change_meta(m) or m
            data = json.dumps(m, indent=2) + "\n"
        elif name[:-4] in drop:
            continue
        entries.append(Entry(name, data))
    return zip_bytes(entries)


def version_1_layout(m):
    """metadata in the layout tapegrad-lm wrote before the training library (format 1)."""
    u = m["user"]
    u["tapegrad_lm"] = 1
    task = u.pop("task")
    u.pop("rngs", None)
    u["progress"]["position"] = task["position"]
    u["progress"]["train_tokens"] = u["progress"].pop("train_items")
    u["history"]["last_step_hidden_grad_norms"] = task["last_step_hidden_grad_norms"]
    u["history"]["last_time_step_grad_norms"] = task["last_time_step_grad_norms"]


def make_model_dirs(real):
    t = "model_dir"
    if "real-word-lstm.npz" not in real or "real-char-rnn-adagrad.npz" not in real:
        print("make_corpus: no real checkpoints; run with --tapegrad-lm PROGRAM", file=sys.stderr)
        return
    # The damaged variants start from the smallest real checkpoint (a character-level RNN).
    word, char = real["real-word-lstm.npz"], real["real-char-rnn-adagrad.npz"]

    def user(change):
        def apply(m):
            change(m["user"])
        return apply

    def setpath(path, value):
        def change(u):
            node = u
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        return user(change)

    write(t, "version-1-layout.npz", repack(word, version_1_layout))
    write(t, "version-1-char-rnn-layout.npz", repack(char, version_1_layout))
    write(t, "tapegrad-lm-version-3.npz", repack(word, setpath(["tapegrad_lm"], 3)))
    write(t, "tapegrad-lm-version-string.npz", repack(word, setpath(["tapegrad_lm"], "2")))
    write(t, "no-tapegrad-lm-field.npz", repack(word, user(lambda u: u.pop("tapegrad_lm"))))
    write(t, "user-not-an-object.npz",
          repack(word, lambda m: m.__setitem__("user", ["tapegrad_lm", 2])))
    write(t, "vocabulary-level-differs.npz",
          repack(char, setpath(["hyperparameters", "level"], "word")))
    write(t, "vocabulary-fingerprint-wrong.npz",
          repack(char, setpath(["vocabulary", "fingerprint"], "0123456789abcdef")))
    write(t, "vocabulary-one-symbol-fewer.npz", repack(char, user(
        lambda u: (u["vocabulary"]["symbols"].pop(), u["vocabulary"].pop("fingerprint")))))
    write(t, "hidden-differs-from-tensors.npz", repack(char, setpath(["hyperparameters", "hidden"], 9)))
    write(t, "layers-differ-from-tensors.npz", repack(char, setpath(["hyperparameters", "layers"], 2)))
    write(t, "model-cell-unknown.npz", repack(char, setpath(["hyperparameters", "model"], "transformer")))
    write(t, "model-gru-tensors-rnn.npz", repack(char, setpath(["hyperparameters", "model"], "gru")))
    write(t, "hidden-a-string.npz", repack(char, setpath(["hyperparameters", "hidden"], "8")))
    write(t, "hidden-negative.npz", repack(char, setpath(["hyperparameters", "hidden"], -8)))
    write(t, "lr-zero.npz", repack(char, setpath(["hyperparameters", "lr"], 0)))
    write(t, "history-one-loss-short.npz",
          repack(char, user(lambda u: u["history"]["train_loss"].pop())))
    write(t, "history-loss-a-string.npz", repack(char, user(
        lambda u: u["history"]["train_loss"].__setitem__(0, "low"))))
    write(t, "progress-step-huge.npz", repack(char, setpath(["progress", "step"], 2 ** 64 - 1)))
    write(t, "progress-missing.npz", repack(char, user(lambda u: u.pop("progress"))))
    write(t, "task-position-negative.npz", repack(char, setpath(["task", "position", "offset"], -1)))
    write(t, "task-norms-not-numbers.npz", repack(char, setpath(
        ["task", "last_step_hidden_grad_norms"], [None, True, "x"])))
    write(t, "data-bytes-float.npz", repack(char, setpath(["data", "bytes"], 612.5)))
    write(t, "optimizer-state-missing.npz", repack(char, drop=("optimizer.sum.0",)))
    write(t, "carried-state-missing.npz", repack(char, drop=("carried.h.0",)))
    write(t, "truncated-checkpoint.npz", char[: len(char) // 2])


def make_metadata(real):
    t = "metadata"
    for name, data in real.items():
        for entry, content in read_zip(data):
            if entry == "metadata.json":
                user = json.loads(content)["user"]
                write(t, name.replace(".npz", ".json"), json.dumps(user, indent=1) + "\n")
                if name == "real-word-lstm.npz":
                    write(t, "whole-metadata-json-word-lstm.json", content)
                    m = json.loads(content)
                    version_1_layout(m)
                    write(t, "version-1-layout.json", json.dumps(m["user"]) + "\n")
    small = {
        "hyperparameters": {"batch": 4, "clip": 5.0, "embed": 4, "hidden": 8, "layers": 1,
                            "level": "character", "lr": 0.002, "min_count": 2, "model": "lstm",
                            "optimizer": "adam", "seed": 1, "seq_len": 16, "val_fraction": 0.1},
        "vocabulary": {"format": "tapegrad-lm-vocabulary", "version": 1, "level": "character",
                       "symbols": ["\n", " ", "a", "b", "\u00e9", "\U0001F600"]},
        "data": {"path": "sample.txt", "bytes": 612, "fingerprint": "9094edd8c72da59d"},
        "progress": {"step": 2, "train_seconds": 0.5, "train_items": 128, "max_steps": 2,
                     "max_seconds": None},
        "history": {"train_loss": [3.5, 3.25], "grad_norm": [0.5, 0.25], "validation": [[2, 3.0]]},
        "task": {"position": {"offset": 80, "epoch": 0}, "last_step_hidden_grad_norms": [0.1],
                 "last_time_step_grad_norms": [0.01]},
        "tapegrad_lm": 2,
    }
    write(t, "small-valid.json", json.dumps(small, indent=1))

    def variant(name, path, value):
        m = json.loads(json.dumps(small))
        node = m
        for key in path[:-1]:
            node = node[key]
        if value is KeyError:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        write(t, name + ".json", json.dumps(m))

    hp, voc = ["hyperparameters"], ["vocabulary"]
    variant("hidden-zero", hp + ["hidden"], 0)
    variant("hidden-too-large", hp + ["hidden"], 65537)
    variant("hidden-negative", hp + ["hidden"], -1)
    variant("hidden-float", hp + ["hidden"], 8.0)
    variant("hidden-missing", hp + ["hidden"], KeyError)
    variant("seed-max", hp + ["seed"], 2 ** 64 - 1)
    variant("lr-negative", hp + ["lr"], -0.1)
    variant("lr-huge", hp + ["lr"], 1.7e308)
    variant("val-fraction-too-large", hp + ["val_fraction"], 0.75)
    variant("level-alias-char", hp + ["level"], "char")
    variant("level-unknown", hp + ["level"], "bytes")
    variant("model-unknown", hp + ["model"], "transformer")
    variant("optimizer-unknown", hp + ["optimizer"], "lbfgs")
    variant("hyperparameters-array", hp, [1, 2])
    variant("vocabulary-duplicate-symbol", voc + ["symbols"], ["a", "b", "a"])
    variant("vocabulary-two-characters-in-one-symbol", voc + ["symbols"], ["ab", "c"])
    variant("vocabulary-empty-symbol", voc + ["symbols"], ["a", ""])
    variant("vocabulary-symbol-a-number", voc + ["symbols"], ["a", 7])
    variant("vocabulary-no-symbols", voc + ["symbols"], [])
    variant("vocabulary-unsorted", voc + ["symbols"], ["z", "a", "\u00e9"])
    variant("vocabulary-nul-symbol", voc + ["symbols"], ["\u0000", "a"])
    variant("vocabulary-fingerprint-wrong", voc + ["fingerprint"], "0000000000000000")
    variant("vocabulary-fingerprint-a-number", voc + ["fingerprint"], 12345)
    variant("vocabulary-format-wrong", voc + ["format"], "numpy")
    variant("vocabulary-version-2", voc + ["version"], 2)
    variant("vocabulary-level-word-without-unk", voc + ["level"], "word")
    variant("vocabulary-symbols-an-object", voc + ["symbols"], {"a": 0})
    m = json.loads(json.dumps(small))
    m["vocabulary"] = {"level": "word", "symbols": ["<unk>", "the", "king", "don't", "\u00bfqu\u00e9"]}
    write(t, "vocabulary-word-level.json", json.dumps(m))
    variant("data-bytes-negative", ["data", "bytes"], -1)
    variant("data-path-a-number", ["data", "path"], 0)
    variant("progress-step-max", ["progress", "step"], 2 ** 64 - 1)
    variant("progress-seconds-negative", ["progress", "train_seconds"], -1.5)
    variant("progress-seconds-integer", ["progress", "train_seconds"], 1)
    variant("progress-max-seconds-string", ["progress", "max_seconds"], "10")
    variant("history-loss-not-a-number", ["history", "train_loss"], ["a", 1])
    variant("history-loss-beyond-float", ["history", "train_loss"], [1e39, -1e39])
    variant("history-validation-triple", ["history", "validation"], [[1, 2.0, 3]])
    variant("history-validation-negative-step", ["history", "validation"], [[-1, 2.0]])
    variant("history-length-differs", ["history", "grad_norm"], [0.5])
    variant("task-position-missing", ["task", "position"], KeyError)
    variant("task-offset-float", ["task", "position", "offset"], 1.5)
    variant("task-norms-null", ["task", "last_time_step_grad_norms"], [None])
    write(t, "empty-object.json", "{}")
    write(t, "array.json", "[{\"vocabulary\": {}}]")
    write(t, "not-json.json", "hyperparameters: {hidden: 8}")
    write(t, "truncated.json", json.dumps(small)[:200])
    write(t, "deeply-nested.json", "{\"task\": " + "[" * 500 + "]" * 500 + "}")
    write(t, "duplicate-keys.json", "{\"vocabulary\": 1, \"vocabulary\": {\"level\": \"character\", "
          "\"symbols\": [\"a\"]}}")
    write(t, "surrogate-escapes.json",
          "{\"vocabulary\": {\"level\": \"character\", \"symbols\": [\"\\ud83d\\ude00\", \"\\ud800\"]}}")
    write(t, "huge-numbers.json", "{\"progress\": {\"step\": 1e400, \"train_seconds\": -1e400, "
          "\"train_items\": 123456789012345678901234567890}}")


def make_texts():
    t = "text"
    write(t, "word-level-sentences.txt",
          "The king sits on the throne. The queen -- well-known, don't you think? -- waits.\n"
          "\u00bfQu\u00e9? \u00abGuillemets\u00bb \u201ccurly\u201d \u2026 \u3002\u3001 end.\n")
    write(t, "sample-text.txt", SAMPLE_TEXT)
    write(t, "bom-only.txt", b"\xef\xbb\xbf")
    write(t, "bom-then-two-chars.txt", b"\xef\xbb\xbfab")
    write(t, "two-boms.txt", b"\xef\xbb\xbf\xef\xbb\xbfab")
    write(t, "empty.txt", b"")
    write(t, "one-char.txt", b"a")
    write(t, "two-chars.txt", b"ab")
    write(t, "one-multibyte-char.txt", "\u00e9")
    write(t, "overlong-slash.txt", b"a/b\xc0\xafc")
    write(t, "overlong-nul.txt", b"ab\xc0\x80cd")
    write(t, "overlong-three-byte.txt", b"ab\xe0\x80\xafcd")
    write(t, "overlong-four-byte.txt", b"ab\xf0\x80\x80\xafcd")
    write(t, "surrogate-high.txt", b"ab\xed\xa0\x80cd")
    write(t, "surrogate-pair-cesu8.txt", b"ab\xed\xa0\xbd\xed\xb8\x80cd")
    write(t, "beyond-u10ffff.txt", b"ab\xf4\x90\x80\x80cd")
    write(t, "five-byte-lead.txt", b"ab\xf8\x88\x80\x80\x80cd")
    write(t, "four-byte-chars.txt", "\U0001F600\U0001F601 \U00010348 \U0010FFFF end\n")
    write(t, "truncated-four-byte-at-end.txt", b"abc\xf0\x9f\x98")
    write(t, "lone-continuation-bytes.txt", b"ab\x80\xbfcd")
    write(t, "latin1-not-utf8.txt", b"caf\xe9 na\xefve\n")
    write(t, "nul-byte.txt", b"abc\x00def\n")
    write(t, "control-heavy.txt", bytes(range(1, 32)) * 4 + b"text")
    write(t, "control-just-below-limit.txt", b"\x01\x02" + b"a" * 8)
    write(t, "whitespace-only.txt", b" \t\n\r\x0b\x0c  \n")
    write(t, "crlf-lines.txt", b"one two\r\nthree four\r\n")
    write(t, "punctuation-only.txt", "...!!?? -- \u2014\u2013 \u00ab\u00bb \u201c\u201d")
    write(t, "apostrophes-and-hyphens.txt", "don't 'quoted' -dash- well-known rock'n'roll a--b x-\n")
    write(t, "mixed-scripts.txt", "\u65e5\u672c\u8a9e \u0627\u0644\u0639\u0631\u0628\u064a\u0629 "
          "\u0440\u0443\u0441\u0441\u043a\u0438\u0439 e\u0301 \ufeffmid-bom \u200b zero-width\n")
    write(t, "del-and-c1-controls.txt", "ab\x7f\u0080\u009fcd\n")


def make_npzs():
    # What numpy itself writes for nn::read_npz: a state dict of fuzz_npz's model (fc: Linear
    # 3 -> 2; rnn: 2-layer GRU 2 -> 2) under PyTorch's names and under tapegrad's, then what
    # read_npz must refuse. ZIP timestamps are pinned so that reruns write the same bytes.
    import time
    import unittest.mock
    t = "npz"
    rng = np.random.default_rng(15)
    torch_names = {"fc.weight": (2, 3), "fc.bias": (2,)}
    for l in range(2):
        for kind, shape in (("weight_ih", (6, 2)), ("weight_hh", (6, 2)), ("bias_ih", (6,)),
                            ("bias_hh", (6,))):
            torch_names["rnn.%s_l%d" % (kind, l)] = shape
    arrays = {k: rng.uniform(-1, 1, s).astype(np.float32) for k, s in torch_names.items()}
    ours = {k.replace("rnn.", "rnn.layer%s." % k[-1])[:-3] if k.startswith("rnn.") else k: v
            for k, v in arrays.items()}

    def savez(name, save=np.savez, **named):
        buf = io.BytesIO()
        fixed = time.struct_time((2026, 1, 1, 0, 0, 0, 3, 1, 0))
        with unittest.mock.patch("zipfile.time.localtime", return_value=fixed):
            save(buf, **named)
        write(t, name, buf.getvalue())
        return buf.getvalue()

    whole = savez("numpy-savez-pytorch-names.npz", **arrays)
    savez("numpy-savez-tapegrad-names.npz", **ours)
    savez("numpy-savez-float64.npz", **{k: v.astype(np.float64) for k, v in arrays.items()})
    savez("numpy-savez-both-names.npz", **dict(arrays, **{"rnn.layer0.weight_ih": arrays["rnn.weight_ih_l0"]}))
    savez("numpy-savez-wrong-shape.npz", **dict(arrays, **{"fc.weight": np.zeros((3, 3), np.float32)}))
    savez("numpy-savez-int64.npz", **dict(arrays, num_batches_tracked=np.array(3, np.int64)))
    savez("numpy-savez-fortran.npz", **dict(arrays, **{"fc.weight": np.asfortranarray(arrays["fc.weight"])}))
    savez("numpy-savez-compressed.npz", save=np.savez_compressed, **arrays)
    savez("numpy-savez-empty.npz")
    write(t, "truncated-half.npz", whole[: len(whole) // 2])


def make_csvs():
    t = "csv"
    rows = "".join("%d,%s\n" % (i, v) for i, v in enumerate(
        [10, 12, "", "NA", 15, 14, 13, 16, "nan", 18, 17, 19, 21, 20, 22, 24, 23, 25]))
    write(t, "with-gaps.csv", "t,value\n" + rows)
    write(t, "seasonal.csv", "t,value\n" + "".join(
        "%d,%.3f\n" % (i, 5 + 0.1 * i + (i % 12 if i % 12 < 6 else 12 - i % 12))
        for i in range(120)))
    write(t, "quoted-header-bom-crlf.csv",
          b"\xef\xbb\xbf\"YEAR\",\"value, units\"\r\n1700,5\r\n\"1701\",\"11\"\r\n\r\n1702,16\r\n")
    write(t, "escaped-quotes.csv", 'label,value\n"say ""hi""",1\n"a,b",2\n')
    write(t, "unclosed-quote.csv", 't,value\n1,"2\n3,4\n')
    write(t, "header-only.csv", "t,value\n")
    write(t, "empty.csv", b"")
    write(t, "all-missing.csv", "t,value\n1,\n2,NA\n3,.\n")
    write(t, "constant.csv", "t,value\n" + "".join("%d,7\n" % i for i in range(40)))
    write(t, "short-row.csv", "t,value\n1,2\n3\n")
    write(t, "not-a-number.csv", "t,value\n1,2\n2,abc\n3,inf\n4,0x10\n")
    write(t, "huge-and-tiny.csv", "t,value\n1,1e308\n2,-1e308\n3,1e-308\n4,1e308\n")
    write(t, "no-newline-at-end.csv", "t,value\n1,2\n2,3")
    write(t, "one-column.csv", "value\n1\n2\n3\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tapegrad-lm", help="tapegrad-lm program: regenerate the real checkpoints")
    args = parser.parse_args()
    if args.tapegrad_lm:
        os.makedirs(os.path.join(CORPUS, "model_dir"), exist_ok=True)
        make_real(args.tapegrad_lm)
    real = load_real()
    make_checkpoints(real)
    make_npys()
    make_npzs()
    make_model_dirs(real)
    make_metadata(real)
    make_texts()
    make_csvs()


if __name__ == "__main__":
    main()
