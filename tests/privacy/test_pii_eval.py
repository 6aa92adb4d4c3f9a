"""Precision and recall of the validated-format recognisers on the labelled set (targets from issue 5)."""

from __future__ import annotations

import pytest
from tests.privacy.pii_corpus import VALIDATED, build, precision_recall, score

from vaultgate.detect.pii import PiiDetector
from vaultgate.detect.pii_rules import Entity

CASES = build()
DETECTOR = PiiDetector([e for e in Entity if e is not Entity.PERSON])


def _predict(text: str) -> list[tuple[str, int, int]]:
    return [(m.entity.value, m.start, m.end) for m in DETECTOR.find(text)]


RESULTS = score(CASES, _predict)


def test_the_set_is_large_and_has_hard_negatives() -> None:
    assert len(CASES) >= 500
    assert sum(1 for c in CASES if not c.labels) >= 300


@pytest.mark.parametrize("entity", VALIDATED)
def test_recall_and_precision_meet_the_targets(entity: str) -> None:
    tp, fp, fn = RESULTS[entity]
    precision, recall = precision_recall(tp, fp, fn)
    assert tp >= 50
    assert recall >= 0.99, (entity, tp, fp, fn)
    assert precision >= 0.98, (entity, tp, fp, fn)
