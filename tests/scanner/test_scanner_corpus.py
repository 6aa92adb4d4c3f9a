"""Precision and recall on the generated, labelled corpus (targets from issue 6)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from secret_corpus import Corpus, build

from vaultgate.scanner import ScanOptions, ScanResult, scan_paths

MUST_BE_COMPLETE = ("openai-api-key", "vaultgate-token")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Corpus, ScanResult, Path]:
    corpus = build()
    root = tmp_path_factory.mktemp("corpus")
    for relative, text in corpus.files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    result = scan_paths([str(root)], ScanOptions(use_gitignore=False))
    return corpus, result, root


def _relative(path: str, root: Path) -> str:
    return Path(path).relative_to(root).as_posix()


def score(corpus: Corpus, result: ScanResult, root: Path) -> dict[str, object]:
    """True/false positives, misses, and per-rule recall."""
    expected = Counter((label.path, label.line, label.rule) for label in corpus.labels)
    found = Counter((_relative(f.path, root), f.line, f.rule_id) for f in result.findings)
    true_pos = expected & found
    false_pos = found - expected
    missed = expected - found
    totals: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    for (_, _, rule), n in expected.items():
        totals[rule] += n
    for (_, _, rule), n in true_pos.items():
        hits[rule] += n
    per_rule = {rule: (hits[rule], totals[rule]) for rule in totals}
    tp, fp = sum(true_pos.values()), sum(false_pos.values())
    return {
        "true_cases": sum(expected.values()),
        "false_cases": corpus.false_cases,
        "tp": tp,
        "fp": fp,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / sum(expected.values()),
        "per_rule": per_rule,
        "false_positives": sorted(false_pos),
        "missed": sorted(missed),
    }


def test_corpus_is_large_and_realistic() -> None:
    corpus = build()
    assert len(corpus.labels) >= 300
    assert corpus.false_cases >= 300
    kinds = {Path(p).suffix or Path(p).name for p in corpus.files}
    assert {".env", ".yaml", ".json", ".py", ".ipynb", ".js", ".md", ".key"} <= kinds


def test_precision_and_recall_meet_targets(
    scanned: tuple[Corpus, ScanResult, Path],
) -> None:
    corpus, result, root = scanned
    figures = score(corpus, result, root)
    print(figures)  # shown with -s; copied into docs/SCANNER.md
    per_rule = figures["per_rule"]
    assert isinstance(per_rule, dict)
    for rule in MUST_BE_COMPLETE:
        hit, total = per_rule[rule]
        assert total > 0 and hit == total, (rule, figures["missed"])
    assert float(str(figures["precision"])) >= 0.99, figures["false_positives"]
    assert float(str(figures["recall"])) >= 0.99, figures["missed"]


def test_no_finding_leaks_a_plaintext_secret(scanned: tuple[Corpus, ScanResult, Path]) -> None:
    _, result, _ = scanned
    for finding in result.findings:
        assert "…" in finding.masked or finding.masked.startswith("[")
        assert finding.plaintext is None
