"""Folding disguises away keeps a map back to the original text."""

from __future__ import annotations

import pytest

from vaultgate.detect.normalise import fold


def test_ascii_text_is_not_folded() -> None:
    assert fold("plain ascii, sk-abc@example.com") is None


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("sk-ab\u200bcd", "sk-abcd"),  # zero-width space
        ("a\u2060b\u00adc\ufe0fd", "abcd"),  # word joiner, soft hyphen, variation selector
        ("jane\uff20example.com", "jane@example.com"),  # fullwidth at-sign
        ("\uff53\uff4b\uff0d\uff50\uff52\uff4f\uff4a", "sk-proj"),  # fullwidth letters
        ("ѕk-рrој", "sk-proj"),  # Cyrillic look-alikes
        ("ΑΒΕΗ", "ABEH"),  # Greek capitals
        ("٤١١١ ۴۱۱۱", "4111 4111"),  # Arabic-Indic and Persian digits
        ("\u2460\u00b2", "12"),  # circled and superscript digits (NFKC)
        ("x\ufb01y", "xfiy"),  # a ligature grows
    ],
)
def test_disguises_fold_to_what_they_read_as(written: str, read: str) -> None:
    folded = fold(written)
    assert folded is not None and folded.text == read


def test_a_folded_span_maps_back_to_the_written_span_with_removed_characters_inside() -> None:
    written = "key: sk-\u200bpr\uff4fj-x and more"
    folded = fold(written)
    assert folded is not None
    start = folded.text.index("sk-")
    end = folded.text.index(" and")
    first, last = folded.original_span(start, end)
    assert written[first:last] == "sk-\u200bpr\uff4fj-x"


def test_a_span_after_a_growing_character_maps_back() -> None:
    written = "\ufb01 a@b.co"
    folded = fold(written)
    assert folded is not None and folded.text == "fi a@b.co"
    first, last = folded.original_span(3, 9)
    assert written[first:last] == "a@b.co"
