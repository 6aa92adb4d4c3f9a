"""Response scanning reads adjacent text parts of one message as one text (JSON and SSE), never two choices;
a stream that ends normally keeps text that merely looks like the start of a placeholder."""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
from tests.privacy import echo_responses
from tests.privacy import pii_corpus as corpus

from vaultgate.detect.pii import PiiDetector
from vaultgate.detect.pii_rules import Entity
from vaultgate.privacy.placeholders import RedactionMap
from vaultgate.privacy.redact import mask
from vaultgate.privacy.response_scan import ResponseScanner
from vaultgate.privacy.restore import ResponseRestorer

RNG = random.Random(11)
CLIENT, FOREIGN = corpus.email(RNG), corpus.email(RNG)
BEFORE, AFTER = "Our records list ", " as the billing contact for this account."
TEXT = BEFORE + FOREIGN + AFTER
MASKED = BEFORE + mask(Entity.EMAIL, FOREIGN) + AFTER


def _map() -> RedactionMap:
    rmap = RedactionMap()
    rmap.token_for("EMAIL", CLIENT)
    return rmap


def _restorer(scan: bool = True) -> ResponseRestorer:
    rmap = _map()
    return ResponseRestorer(rmap, ResponseScanner(PiiDetector(), rmap.values()) if scan else None)


def _cuts() -> range:
    return range(len(BEFORE), len(BEFORE) + len(FOREIGN) + 1)


def _assert_no_half_shown(parts: list[str]) -> None:
    for part in parts:
        for size in range(3, len(FOREIGN)):
            assert not part.endswith(FOREIGN[:size]) and not part.startswith(FOREIGN[-size:]), parts


def test_chat_json_content_parts_are_one_text() -> None:
    for cut in _cuts():
        body = {
            "choices": [
                {"index": 0, "message": {"content": [{"type": "text", "text": t} for t in (TEXT[:cut], TEXT[cut:])]}}
            ]
        }
        got = orjson.loads(_restorer().body(orjson.dumps(body), is_json=True))
        parts = [p["text"] for p in got["choices"][0]["message"]["content"]]
        assert "".join(parts) == MASKED, cut
        _assert_no_half_shown(parts)


def test_responses_json_output_text_parts_are_one_text_and_other_fields_kept() -> None:
    for cut in _cuts():
        body = echo_responses.response("gpt-4o", [TEXT[:cut], TEXT[cut:]])
        got = orjson.loads(_restorer().body(orjson.dumps(body), is_json=True))
        content = got["output"][0]["content"]
        assert "".join(p["text"] for p in content) == MASKED, cut
        assert [p["type"] for p in content] == ["output_text", "output_text"] and got["usage"] == body["usage"]
        _assert_no_half_shown([p["text"] for p in content])


def test_a_non_text_part_between_two_text_parts_still_keeps_them_apart() -> None:
    content = [{"type": "text", "text": "write to jane.do"}, {"type": "image_url"}, {"type": "text", "text": "e@x.org"}]
    got = orjson.loads(_restorer().body(orjson.dumps({"choices": [{"message": {"content": content}}]}), is_json=True))
    assert got["choices"][0]["message"]["content"][0]["text"] == "write to jane.do"


def test_two_choices_are_separate_answers_and_never_joined() -> None:
    first, second = TEXT[: len(BEFORE) + 6], TEXT[len(BEFORE) + 6 :]
    body = {"choices": [{"index": i, "message": {"content": t}} for i, t in enumerate((first, second))]}
    got = orjson.loads(_restorer().body(orjson.dumps(body), is_json=True))
    assert got["choices"][0]["message"]["content"] == first
    assert FOREIGN[6:] not in got["choices"][1]["message"]["content"]  # a whole email on its own: masked
    # The same holds for streamed choices.
    restorer = _restorer()
    out = b""
    for index, text in ((0, first), (1, second)):
        doc = {"object": "chat.completion.chunk", "choices": [{"index": index, "delta": {"content": text}}]}
        out += restorer.event(b"data: " + orjson.dumps(doc) + b"\n\n")
    out += restorer.event(b"data: [DONE]\n\n")
    texts = {0: "", 1: ""}
    for event in out.split(b"\n\n"):
        if event.startswith(b"data: {"):
            for choice in json.loads(event[6:])["choices"]:
                texts[choice["index"]] += choice["delta"].get("content") or ""
    assert texts[0] == first and FOREIGN[6:] not in texts[1]


def _sse(document: dict[str, Any]) -> bytes:
    return b"event: " + document["type"].encode() + b"\ndata: " + orjson.dumps(document) + b"\n\n"


def _replay(restorer: ResponseRestorer, parts: list[str], delta: int) -> list[dict[str, Any]]:
    out = b"".join(restorer.event(_sse(e)) for e in echo_responses.events("gpt-4o", parts, delta))
    out += restorer.tail(b"")
    return [json.loads(e.split(b"data: ", 1)[1]) for e in out.split(b"\n\n") if b"data: " in e]


def _check_stream(seen: list[dict[str, Any]], want: str, cut: int) -> None:
    deltas: dict[int, str] = {}
    added: set[int] = set()
    done: dict[int, str] = {}
    for e in seen:
        kind, index = e["type"], e.get("content_index")
        if kind == "response.content_part.added":
            added.add(index)
        elif kind == "response.output_text.delta":
            assert index in added and index not in done, (cut, "delta outside its part", e)
            deltas[index] = deltas.get(index, "") + e["delta"]
        elif kind == "response.output_text.done":
            done[index] = e["text"]
    # The done events say what the deltas said (a part made only of the middle of a masked value has none).
    assert {i: deltas.get(i, "") for i in done} == done and set(deltas) <= set(done), cut
    assert "".join(done[i] for i in sorted(done)) == want, cut
    _assert_no_half_shown(list(done.values()))
    item = next(e for e in seen if e["type"] == "response.output_item.done")["item"]
    assert [p["text"] for p in item["content"]] == [done[i] for i in sorted(done)], cut
    final = seen[-1]
    assert final["type"] == "response.completed", cut
    assert "".join(p["text"] for p in final["response"]["output"][0]["content"]) == want, cut


def test_responses_stream_parts_are_one_text_split_at_every_offset_and_every_delta_size() -> None:
    for cut in _cuts():
        for delta in (1, 3, 7, 40, 500):
            _check_stream(_replay(_restorer(), [TEXT[:cut], TEXT[cut:]], delta), MASKED, cut)


def test_responses_stream_with_three_parts_and_a_client_value() -> None:
    text = f"Copy [EMAIL_1] and {FOREIGN}, then stop."
    want = f"Copy {CLIENT} and {mask(Entity.EMAIL, FOREIGN)}, then stop."
    start = text.index(FOREIGN)
    for a in range(start, start + len(FOREIGN)):
        for b in range(a, start + len(FOREIGN) + 1, 4):
            _check_stream(_replay(_restorer(), [text[:a], text[a:b], text[b:]], 5), want, a * 100 + b)


def test_responses_stream_without_scanning_is_unchanged_in_order() -> None:
    events = echo_responses.events("gpt-4o", ["Copy [EMAIL_1] a", "nd more"], 4)
    restorer = _restorer(scan=False)
    seen = [json.loads(restorer.event(_sse(e)).split(b"data: ", 1)[1]) for e in events]
    assert [e["type"] for e in seen] == [e["type"] for e in events]
    _check_stream(seen, f"Copy {CLIENT} and more", 0)


def _chat(content: str) -> bytes:
    doc = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content}}]}
    return b"data: " + orjson.dumps(doc) + b"\n\n"


def _chat_text(out: bytes) -> str:
    return "".join(
        c["delta"].get("content") or ""
        for e in out.split(b"\n\n")
        if e.startswith(b"data: {")
        for c in json.loads(e[6:])["choices"]
    )


def test_normal_end_keeps_text_that_only_looks_like_a_placeholder_start() -> None:
    for scan in (False, True):
        for tail in ("[", "[E", "[EMAIL_", "[EMAIL_1"):
            restorer = _restorer(scan)
            out = restorer.event(_chat("See [EMAIL_1] and ")) + restorer.event(_chat(tail))
            out += restorer.event(b"data: [DONE]\n\n")
            assert _chat_text(out) == f"See {CLIENT} and {tail}", (scan, tail)
            assert out.endswith(b"data: [DONE]\n\n")


def test_cut_end_still_drops_the_fragment() -> None:
    for scan in (False, True):
        restorer = _restorer(scan)
        out = restorer.event(_chat("See [EMAIL_1] and [EMAI"))
        out += restorer.finish()
        assert _chat_text(out) == f"See {CLIENT} and ", scan
        restorer = _restorer(scan)
        out = restorer.event(_chat("x [EMAI")) + restorer.tail(b"")  # closed without [DONE]: a cut
        assert "[EMAI" not in _chat_text(out)


def test_responses_part_that_ends_normally_keeps_its_placeholder_like_tail() -> None:
    for scan in (False, True):
        seen = _replay(_restorer(scan), ["See [EMAIL_1] or [EM", "next part"], 4)
        deltas = "".join(e["delta"] for e in seen if e["type"] == "response.output_text.delta")
        assert deltas == f"See {CLIENT} or [EMnext part", scan
        _check_stream(seen, f"See {CLIENT} or [EMnext part", 0)
