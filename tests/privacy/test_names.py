"""The optional person-name recogniser: the spaCy adapter, and names redacted like any other entity."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vaultgate.detect.names import SpacyNames, load_names
from vaultgate.privacy.guard import PrivacyGuard
from vaultgate.privacy.modes import DEFAULT_POLICY, PrivacyPolicy


@dataclass
class _Ent:
    text: str
    label_: str
    start_char: int
    end_char: int


class _FakeNlp:
    """Labels every capitalised two-word sequence "Xxx Yyy" as PERSON, like a (very) small model."""

    def __call__(self, text: str) -> Any:
        assert "\x00" not in text
        ents = []
        words = text.split(" ")
        position = 0
        for first, second in itertools.pairwise(words):
            if first[:1].isupper() and second[:1].isupper() and first.isalpha() and second.rstrip(".,").isalpha():
                name = f"{first} {second.rstrip('.,')}"
                ents.append(_Ent(name, "PERSON", position, position + len(name)))
            position += len(first) + 1
        ents.append(_Ent("42", "PERSON", 0, 2))  # digits are never a name
        return type("Doc", (), {"ents": ents})()


class _Names:
    name = "fake"

    def __init__(self) -> None:
        self._inner = SpacyNames(_FakeNlp(), "fake")

    def find(self, text: str) -> Iterable[tuple[int, int]]:
        return self._inner.find(text)


def test_names_are_redacted_and_restored_when_a_model_is_installed() -> None:
    guard = PrivacyGuard(_Names())
    payload: dict[str, Any] = {"input": "42 ask Maria Gonzalez and then Maria Gonzalez again"}
    rmap, changed, _, _ = guard.protect(payload, {}, b"", DEFAULT_POLICY)
    assert changed and payload["input"] == "42 ask [PERSON_1] and then [PERSON_1] again"
    assert rmap.restore_text(payload["input"]).endswith("Maria Gonzalez again")
    assert "person (fake)" in guard.describe()


def test_person_mode_allow_and_mask() -> None:
    guard = PrivacyGuard(_Names())
    payload: dict[str, Any] = {"input": "ask Maria Gonzalez"}
    guard.protect(payload, {}, b"", PrivacyPolicy.from_json({"pii": {"person": "allow"}}))
    assert payload["input"] == "ask Maria Gonzalez"
    guard.protect(payload, {}, b"", PrivacyPolicy.from_json({"pii": {"person": "mask"}}))
    assert payload["input"] == "ask M.G."


def test_without_the_extra_the_start_up_line_says_names_are_off() -> None:
    guard = PrivacyGuard.with_installed_recognisers()
    if load_names() is None:
        assert "person names: OFF" in guard.describe()
    else:
        assert "person names: on" in guard.describe()
