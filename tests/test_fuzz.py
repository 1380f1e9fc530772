"""Bounded mutation fuzzing of the readers and the MSPC-Net recipe on the real sample files.

Each iteration takes one file from ``../shared/data/real`` (skipped cleanly when
absent), applies 1-3 seeded mutations (bit flips, random bytes, header values
replaced by absurd numbers, truncation, zeroed or duplicated blocks; on the
decompressed bytes of ``.gz`` files most of the time), then runs
``spectool.read`` and ``spectool.preprocess.mspcnet``. The only acceptable outcomes
are success or a :class:`~spectool.errors.SpectoolError`; a hang (per-case timer) or
any other exception fails. The loop is bounded by a count and a wall-clock budget
and prints its tally (iterations, seconds, outcomes); ``$SPECTOOL_FUZZ_ITER`` and
``$SPECTOOL_FUZZ_SECONDS`` lengthen a campaign.
"""
from __future__ import annotations

import gzip
import os
import re
import signal
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_path

import spectool
from spectool.errors import SpectoolError
from spectool.preprocess import mspcnet

MAX_ITER = int(os.environ.get("SPECTOOL_FUZZ_ITER", 600))  # raise it for a longer campaign
BUDGET_S = float(os.environ.get("SPECTOOL_FUZZ_SECONDS", 40.0))
CASE_TIMEOUT_S = 10.0
SEED = 20240611


class CaseTimeout(BaseException):
    """Raised by the per-case timer (a BaseException so ``except Exception`` cannot swallow it)."""


def _alarm(signum, frame):
    raise CaseTimeout()


def _header_end(raw: bytes) -> int:
    i = raw.find(b"END" + b" " * 77)
    return i if i > 0 else min(len(raw), 2880)


def mutate(raw: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """One random mutation of ``raw`` and its name."""
    b = bytearray(raw)
    kind = rng.choice(["bitflip", "bytes", "card", "truncate", "zero", "duplicate"])
    if kind == "bitflip":
        for pos in rng.integers(0, len(b), rng.integers(1, 17)):
            b[pos] ^= 1 << int(rng.integers(0, 8))
    elif kind == "bytes":
        pos = int(rng.integers(0, len(b)))
        n = int(rng.integers(1, 64))
        b[pos: pos + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    elif kind == "card":  # a header value replaced by an absurd number
        cards = [m.start() for m in re.finditer(rb"= ", bytes(b[: _header_end(bytes(b)) + 80 * 300]))]
        if cards:
            pos = cards[int(rng.integers(0, len(cards)))] + 2
            value = rng.choice([b"-1", b"0", b"999999999999", b"1E308", b"NaN", b"'garbage'", b"T", b"-2147483649"])
            b[pos: pos + 20] = value.rjust(20)
    elif kind == "truncate":
        del b[int(rng.integers(0, len(b))):]
    elif kind == "zero":
        pos, n = int(rng.integers(0, len(b))), int(rng.integers(1, 4096))
        b[pos: pos + n] = bytes(len(b[pos: pos + n]))
    else:
        pos = int(rng.integers(0, len(b)))
        n = int(rng.integers(1, 2880))
        b[pos:pos] = b[pos: pos + n]
    return bytes(b), str(kind)


def fuzz_once(path: Path, raw: bytes, gz: bool, rng: np.random.Generator, out: Path) -> str:
    """Mutate, write, read and preprocess one case; return the outcome label (raises on a raw error)."""
    inner = rng.random() < 0.75 if gz else True
    data = gzip.decompress(raw) if gz and inner else raw
    names = []
    for _ in range(int(rng.integers(1, 4))):
        data, name = mutate(data, rng)
        names.append(name)
    if gz and inner:
        data = gzip.compress(data, compresslevel=1)
    out.write_bytes(data)
    signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = spectool.read(out)
            spec = spec[0] if isinstance(spec, list) else spec
            mspcnet(spec)
        return "ok"
    except SpectoolError as exc:
        return type(exc).__name__
    except CaseTimeout:
        raise AssertionError(f"hang (> {CASE_TIMEOUT_S} s) on {path.name} mutated by {names}") from None
    except Exception as exc:  # noqa: BLE001 - the test is about exactly this
        raise AssertionError(f"untyped {type(exc).__name__} on {path.name} mutated by {names}: {exc}") from exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def test_fuzz_real_files(tmp_path, capsys):
    real = shared_path("data", "real")
    files = sorted(p for p in real.rglob("*") if p.is_file() and ".fits" in p.name)
    if not files:
        pytest.skip(f"no FITS files under {real}")
    rng = np.random.default_rng(SEED)
    blobs = [(p, p.read_bytes(), p.name.endswith(".gz")) for p in files]
    old = signal.signal(signal.SIGALRM, _alarm)
    tally: Counter[str] = Counter()
    t0 = time.monotonic()
    slowest = 0.0
    try:
        for i in range(MAX_ITER):
            if time.monotonic() - t0 > BUDGET_S:
                break
            path, raw, gz = blobs[i % len(blobs)]
            t = time.monotonic()
            tally[fuzz_once(path, raw, gz, rng, tmp_path / f"case{i % 4}{''.join(path.suffixes)}")] += 1
            slowest = max(slowest, time.monotonic() - t)
    finally:
        signal.signal(signal.SIGALRM, old)
    n, secs = sum(tally.values()), time.monotonic() - t0
    with capsys.disabled():
        print(f"\nfuzz: {n} iterations over {len(files)} real files in {secs:.1f} s "
              f"(slowest case {slowest:.2f} s); outcomes {dict(tally)}")
    assert n >= min(MAX_ITER, 50), "the fuzz loop ran too few iterations to mean anything"
    assert tally["ok"] + sum(v for k, v in tally.items() if k != "ok") == n
