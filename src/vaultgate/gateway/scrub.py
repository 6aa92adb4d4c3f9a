"""Provider credentials removed from everything the upstream sends back (issue 9, class 4).

An upstream may echo the credential vaultgate authenticated with ("Incorrect API key
provided: Bearer sk-..."). Before any part of an answer is relayed, every credential the
gateway holds is cut out of it, in these forms:

- the key as it is, URL-encoded and JSON-escaped: any run of at least ``MIN_RUN`` (12)
  characters of the key's random part, widened to as much of the key as surrounds it (so a
  truncated echo is caught too). The well-known prefix (``sk-``, ``sk-proj-``) does not
  count towards the 12: otherwise a member could probe the key four characters at a time,
  sending guesses that an echoing model repeats and watching which ones get cut;
- base64 of anything that contains the whole key (``Bearer <key>``, ``<key>``,
  ``user:<key>``): the part of the encoding that depends on the key alone, at each of the
  three byte alignments, in the standard and URL-safe alphabets (and those URL-encoded or
  JSON-escaped).

Masked forms such as OpenAI's ``sk-proj-****abcd`` show the prefix and the last four
characters, which OpenAI itself displays to identify a key; they are not removed. An
authentication failure, where that form appears, is never relayed at all (see ``relay``).

Every spelling is made of a few characters (letters, digits, ``-_+/=%\\``), so one
``bytes.translate`` and one ``split``, in C, give the runs of those characters long enough to
hold a spelling (ids, long words, base64 blobs); only those are looked at, each by a
dictionary lookup of its 12-character windows (a run of ``MIN_RUN`` characters of a
spelling is one such window), and a run found clean is remembered, so the ids and model
names repeated in every event of a stream are checked once. Only when a credential is there
are positions worked out and hits widened byte by byte. Costs: ``bench/scrub_micro.py``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import orjson

from vaultgate.upstream.config import ProviderConfig

MIN_RUN = 12
REMOVED = b"[provider credential removed]"
_ANCHOR = 4
_STRIDE = MIN_RUN - _ANCHOR + 1  # any run of MIN_RUN characters holds one anchor whole
# Lower-case words ending in '-' or '_' at the start of a key are its public kind (sk-proj-, sk-svcacct-).
_PREFIX = re.compile(r"(?:[a-z][a-z0-9]{0,9}[-_]){1,3}")
_SHORTEST_BASE64 = 8
_LOOKUP_UP_TO = 256  # runs longer than this are searched with find() per anchor instead
_CLEAN_RUNS = 65536  # runs remembered as clean, per scrubber (all forgotten at once when full)
_WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")


@dataclass(frozen=True, slots=True)
class _Form:
    """One spelling of a credential: text from ``start`` on is secret; a hit must cover ``min_run`` of it."""

    text: bytes
    start: int
    min_run: int
    anchors: tuple[tuple[bytes, int], ...]


def _form(text: bytes, start: int) -> _Form:
    secret = len(text) - start
    if secret < MIN_RUN:  # too short to cut into runs: only the whole spelling counts
        return _Form(text, 0, len(text), ((text, 0),))
    offsets = range(start, len(text) - _ANCHOR + 1, _STRIDE)
    return _Form(text, start, MIN_RUN, tuple((text[i : i + _ANCHOR], i) for i in offsets))


def _escapings(text: str) -> set[str]:
    """``text`` as written, URL-encoded and JSON-escaped (with and without ``\\/``)."""
    json_escaped = orjson.dumps(text).decode()[1:-1]
    return {text, quote(text, safe=""), json_escaped, json_escaped.replace("/", "\\/")}


def _base64_cores(secret: bytes) -> set[str]:
    """The characters of base64(anything + secret + anything) that depend on ``secret`` alone."""
    cores = set()
    for offset in range(3):
        padded = b"\0" * offset + secret
        first, end = -(-8 * offset // 6), (8 * len(padded)) // 6
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(padded).decode()[first:end]
            if len(core) >= _SHORTEST_BASE64:
                cores.add(core)
    return cores


def forms_of(secret: str) -> list[_Form]:
    """Every spelling of ``secret`` the scrubber looks for."""
    match = _PREFIX.match(secret)
    prefix = match.group(0) if match and len(secret) - match.end() >= MIN_RUN else ""
    forms = {}
    for spelled in _escapings(secret):
        # The prefix is letters, digits, '-' and '_': every escaping leaves it as it is.
        forms[spelled.encode()] = _form(spelled.encode(), len(prefix))
    for core in _base64_cores(secret.encode()):
        for spelled in _escapings(core):
            forms.setdefault(spelled.encode(), _Form(spelled.encode(), 0, len(spelled), ((spelled.encode(), 0),)))
    return list(forms.values())


class CredentialScrubber:
    """Cuts a fixed set of credentials out of bytes and text; built once per set of secrets."""

    __slots__ = ("_clean", "_forms", "_grams", "_keep", "_run", "_table", "longest", "secrets")

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = frozenset(s for s in secrets if s)
        self._forms = tuple(form for secret in sorted(self.secrets) for form in forms_of(secret))
        # The longest spelling: a byte stream scrubbed in pieces holds back one less than this.
        self.longest = max((len(form.text) for form in self._forms), default=0)
        # translate() maps every byte a spelling may hold to "a", every other byte to " ".
        table = bytearray(b" " * 256)
        for form in self._forms:
            for byte in form.text:
                table[byte] = ord("a")
        self._table = bytes(table)
        # ...and this one keeps those bytes and blanks the rest, so split() yields the runs.
        keep = bytearray(b" " * 256)
        for byte in range(256):
            if table[byte] == ord("a"):
                keep[byte] = byte
        # A credential holding whitespace would be split apart: such a set always takes the exact path.
        self._keep = None if any(byte in _WHITESPACE for f in self._forms for byte in f.text) else bytes(keep)
        self._clean: set[bytes] = set()
        width = min((form.min_run for form in self._forms), default=1)
        self._run = b"a" * width
        # Every `width` characters a hit must contain, with where they sit in their spelling.
        self._grams: dict[bytes, list[tuple[_Form, int]]] = {}
        for form in self._forms:
            for i in range(form.start, len(form.text) - width + 1):
                self._grams.setdefault(form.text[i : i + width], []).append((form, i))

    def scrub(self, data: bytes) -> bytes:
        """``data`` with every credential form replaced by ``[provider credential removed]``."""
        if len(data) < len(self._run) or not self._forms or not self._may_hold_credential(data):
            return data
        spans = self._spans(data)
        if not spans:
            return data
        merged: list[list[int]] = []
        for begin, end in sorted(spans):
            if merged and begin <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([begin, end])
        out: list[bytes] = []
        at = 0
        for begin, end in merged:
            out += (data[at:begin], REMOVED)
            at = end
        out.append(data[at:])
        return b"".join(out)

    def scrub_prefix(self, data: bytes) -> tuple[bytes, bytes]:
        """For a byte stream scrubbed piece by piece: (the scrubbed part safe to send, the bytes to hold back).

        Held back: the last ``longest - 1`` bytes (a spelling that starts there may go on in the
        next piece), moved earlier to the start of any hit that reaches into them. Every spelling
        starting before that point ends inside ``data``, so it is found whole here.
        """
        keep = max(self.longest - 1, 0)
        cut = len(data) - keep
        if cut <= 0:
            return b"", data
        if len(data) < len(self._run) or not self._forms or not self._may_hold_credential(data):
            return data[:cut], data[cut:]
        spans = sorted(self._spans(data))
        moved = True
        while moved:  # overlapping hits: move back until no hit crosses the cut
            moved = False
            for begin, end in spans:
                if begin < cut < end:
                    cut, moved = begin, True
        out: list[bytes] = []
        at = 0
        for begin, end in spans:
            if end > cut:
                break
            if begin >= at:
                out += (data[at:begin], REMOVED)
                at = end
            elif end > at:
                at = end  # overlapping hits: one marker
        out.append(data[at:cut])
        return b"".join(out), data[cut:]

    def _may_hold_credential(self, data: bytes) -> bool:
        """False when no run of ``data`` holds a credential (the usual case, found without positions)."""
        if self._keep is None:
            return True
        unknown = set(data.translate(self._keep).split()) - self._clean
        if not unknown:
            return False
        width = len(self._run)
        if any(len(run) >= width and self._spans_in_run(run) for run in unknown):
            return True
        # Remembered, short words too: prose and the ids repeated in every event of a stream cost a set lookup.
        if len(self._clean) + len(unknown) > _CLEAN_RUNS:
            self._clean.clear()
        self._clean.update(run for run in unknown if len(run) <= _LOOKUP_UP_TO)
        return False

    def _spans(self, data: bytes) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        if not self._forms:
            return spans
        marked = data.translate(self._table)
        begin = marked.find(self._run)
        while begin != -1:
            end = marked.find(b" ", begin)
            end = len(data) if end == -1 else end
            spans += ((begin + a, begin + b) for a, b in self._spans_in_run(data[begin:end]))
            begin = marked.find(self._run, end)
        return spans

    def _spans_in_run(self, run: bytes) -> list[tuple[int, int]]:
        """Spans in one run of spelling characters (a spelling never crosses a run's ends)."""
        spans: list[tuple[int, int]] = []
        width = len(self._run)
        if len(run) <= _LOOKUP_UP_TO:  # ids and long words: a dictionary lookup per position
            grams, i, last = self._grams, 0, len(run) - width
            while i <= last:
                places = grams.get(run[i : i + width])
                if places is None:
                    i += 1
                    continue
                found = [s for s in (_widen(run, i, f, at, width) for f, at in places or ()) if s is not None]
                spans += found
                i = max([i + 1, *(end for _, end in found)])  # a found credential is not searched again
            return spans
        for form in self._forms:  # base64 blobs and the like: a find per anchor, in C
            for anchor, offset in form.anchors:
                hit = run.find(anchor)
                while hit != -1:
                    span = _widen(run, hit, form, offset, len(anchor))
                    if span is not None:
                        spans.append(span)
                    hit = run.find(anchor, hit + 1)
        return spans


def _widen(data: bytes, hit: int, form: _Form, offset: int, size: int) -> tuple[int, int] | None:
    """The span of ``data`` around ``hit`` that matches ``form``, if it covers enough of the secret."""
    text = form.text
    left, f_left = hit, offset
    while left > 0 and f_left > 0 and data[left - 1] == text[f_left - 1]:
        left -= 1
        f_left -= 1
    right, f_right = hit + size, offset + size
    while right < len(data) and f_right < len(text) and data[right] == text[f_right]:
        right += 1
        f_right += 1
    if f_right - max(f_left, form.start) < form.min_run:
        return None
    return left, right


class ScrubberCache:
    """The scrubber for the current providers, rebuilt only when their secrets change."""

    __slots__ = ("_live", "_providers", "_scrubber")

    def __init__(self) -> None:
        self._providers: Mapping[str, ProviderConfig] | None = None
        self._live: frozenset[str] = frozenset()
        self._scrubber = CredentialScrubber(())

    def for_providers(
        self, providers: Mapping[str, ProviderConfig], live: frozenset[str] = frozenset()
    ) -> CredentialScrubber:
        """The scrubber for every secret of ``providers`` (the snapshot's mapping, checked by identity first)
        and the ``live`` credentials adapters minted from them (Entra ID access tokens, renewed hourly)."""
        if providers is self._providers and live is self._live:
            return self._scrubber
        secrets = frozenset(s for p in providers.values() for s in (*p.secrets, p.api_key or "") if s) | live
        if secrets != self._scrubber.secrets:
            self._scrubber = CredentialScrubber(secrets)
        self._providers, self._live = providers, live
        return self._scrubber
