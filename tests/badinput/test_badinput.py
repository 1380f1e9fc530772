"""Every bad input of the generated corpus ends in a typed, informative error or a documented repair."""
from __future__ import annotations

from collections import Counter

import pytest

from .corpus import CASES, run_case


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_typed_or_repaired(case, tmp_path):
    outcome = run_case(case, tmp_path)
    if outcome.status == "skip":
        pytest.skip(outcome.detail)
    assert outcome.status in ("typed", "repair"), f"{case.name}: {outcome.status}: {outcome.detail}"


def test_corpus_summary(tmp_path_factory, capsys):
    """The corpus is large and diverse, and (nearly) all of it is exercised; prints the tally."""
    assert len(CASES) >= 35 and len({c.name for c in CASES}) == len(CASES)
    kinds = Counter(c.kind for c in CASES)
    assert set(kinds) == {"spectrum", "image", "labels", "config", "store"}
    tally: Counter[str] = Counter()
    for case in CASES:
        tally[run_case(case, tmp_path_factory.mktemp(case.name)).status] += 1
    with capsys.disabled():
        print(f"\nbad-input corpus: {len(CASES)} cases ({dict(kinds)}); outcomes: {dict(tally)}")
    assert tally["typed"] + tally["repair"] + tally["skip"] == len(CASES), dict(tally)
