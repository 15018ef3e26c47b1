#!/usr/bin/env python3
"""tapegrad-melody end to end: trains on the built-in melodies, continues the prime "C D E" into
a melody written as MIDI, and reads the file back with mido (Debian's python3-mido), a reader
that shares no code with the writer: one track of format 0, 480 ticks per quarter note, the
tempo asked for, and exactly the notes the program printed, with their pitches and lengths.

    check_midi.py PROGRAM WORK_DIR
"""
import os
import shutil
import subprocess
import sys

import mido

program, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
model, midi = os.path.join(work, "model"), os.path.join(work, "tune.mid")


def run(*args):
    done = subprocess.run([program, *args], capture_output=True, text=True, timeout=300)
    print(f"$ tapegrad-melody {' '.join(args)}\n{done.stdout}{done.stderr}")
    return done


train = run("train", "--out", model, "--steps", "150")
assert train.returncode == 0, "train failed"
assert "trained 150 steps on 16 melodies" in train.stdout
again = run("train", "--out", model, "--steps", "10")
assert again.returncode == 1 and "already holds a model" in again.stderr, "a model was replaced"

sample = run("sample", "--model", model, "--prime", "C D E", "--min-notes", "12", "--bpm", "90",
             "--midi", midi)
assert sample.returncode == 0, "sample failed"
printed = sample.stdout.split()
assert printed[:3] == ["C4q", "D4q", "E4q"], "the melody does not start with the prime"
assert len(printed) >= 12, "fewer notes than --min-notes"

NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
BEATS = {"w": 4, "h": 2, "q": 1, "e": 0.5, "x": 0.25}


def expected(token):  # (pitch or None for a rest, ticks), read independently of the C++
    dotted = token.endswith("d")
    core = token[:-1] if dotted else token
    ticks = round(BEATS[core[-1]] * (1.5 if dotted else 1) * 480)
    if core[0] == "R":
        return None, ticks
    accidental = {"s": 1, "b": -1}.get(core[1], 0)
    octave = int(core[-2])
    return 12 * (octave + 1) + NAMES[core[0]] + accidental, ticks


unknown = run("sample", "--model", model, "--prime", "C8q")
assert unknown.returncode == 1 and "'C8q' never occurs in the melodies" in unknown.stderr

f = mido.MidiFile(midi)
assert f.type == 0 and len(f.tracks) == 1, (f.type, len(f.tracks))
assert f.ticks_per_beat == 480, f.ticks_per_beat
tempo = [m.tempo for m in f.tracks[0] if m.type == "set_tempo"]
assert tempo == [round(60e6 / 90)], tempo

# Every note: an on at the note's start, an off its length later; rests are the gaps.
notes, now, started = [], 0, {}
for m in f.tracks[0]:
    now += m.time
    if m.type == "note_on" and m.velocity > 0:
        started[m.note] = now
    elif m.type == "note_off" or (m.type == "note_on" and m.velocity == 0):
        notes.append((m.note, started.pop(m.note), now))
want, t = [], 0
for token in printed:
    pitch, ticks = expected(token)
    if pitch is not None:
        want.append((pitch, t, t + ticks))
    t += ticks
assert notes == want, f"the file holds {notes[:5]}..., the program printed {want[:5]}..."
print(f"ok: {len(notes)} notes, {f.length:.1f} s")
