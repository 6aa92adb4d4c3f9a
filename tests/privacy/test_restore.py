"""Answer-side privacy: placeholders restored in JSON and in SSE, split anywhere; cut streams; scanning."""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
from tests.privacy import pii_corpus as corpus

from vaultgate.detect.pii import PiiDetector
from vaultgate.privacy.placeholders import RedactionMap
from vaultgate.privacy.response_scan import ResponseScanner
from vaultgate.privacy.restore import ResponseRestorer

RNG = random.Random(7)
EMAIL, CARD = corpus.email(RNG), corpus.card(RNG)


def _map() -> RedactionMap:
    rmap = RedactionMap()
    assert rmap.token_for("EMAIL", EMAIL) == "[EMAIL_1]"
    assert rmap.token_for("CARD", CARD) == "[CARD_1]"
    return rmap


def _chunk(content: str, index: int = 0) -> bytes:
    doc = {"object": "chat.completion.chunk", "choices": [{"index": index, "delta": {"content": content}}]}
    return b"data: " + orjson.dumps(doc) + b"\n\n"


def _text_of(events: list[bytes]) -> str:
    out = []
    for event in b"".join(events).split(b"\n\n"):
        if event.startswith(b"data: {"):
            for choice in json.loads(event[6:])["choices"]:
                out.append(choice.get("delta", {}).get("content") or "")
    return "".join(out)


def test_json_body_restored_everywhere_including_keys_and_unknown_fields() -> None:
    restorer = ResponseRestorer(_map())
    body = orjson.dumps({"choices": [{"message": {"content": "Hi [EMAIL_1]"}}], "odd": {"[CARD_1]": ["[EMAIL_1]"]}})
    assert orjson.loads(restorer.body(body, is_json=True)) == {
        "choices": [{"message": {"content": f"Hi {EMAIL}"}}],
        "odd": {CARD: [EMAIL]},
    }


def test_unknown_placeholders_and_plain_text_bodies() -> None:
    restorer = ResponseRestorer(_map())
    assert (
        restorer.body(b"[EMAIL_9] stays, [EMAIL_1] restored", is_json=False)
        == f"[EMAIL_9] stays, {EMAIL} restored".encode()
    )


def test_stream_restores_a_placeholder_split_at_every_offset_into_two_and_three_pieces() -> None:
    text = "Write to [EMAIL_1] and charge [CARD_1]."
    want = f"Write to {EMAIL} and charge {CARD}."
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1, 3):
            restorer = ResponseRestorer(_map())
            events = [restorer.event(_chunk(p)) for p in (text[:i], text[i:j], text[j:])]
            events.append(restorer.event(b"data: [DONE]\n\n"))
            assert _text_of(events) == want, (i, j)


def test_stream_one_character_per_chunk_holds_back_only_a_possible_placeholder_prefix() -> None:
    restorer = ResponseRestorer(_map())
    text = "a [b] [EMAIL_1]!"
    outputs = [_text_of([restorer.event(_chunk(ch))]) for ch in text]
    assert "".join(outputs) == f"a [b] {EMAIL}!"
    # "[" and "[b" are not held past "b]"; "[EMAIL_" is held until "]" completes it.
    assert outputs[2] == "" and outputs[3] == "[b" and outputs[4] == "]"
    assert outputs[text.index("]", 7)] == EMAIL


def test_choices_and_tool_call_arguments_are_followed_separately() -> None:
    restorer = ResponseRestorer(_map())

    def tool(args: str) -> bytes:
        doc = {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": args}}]}}]}
        return b"data: " + orjson.dumps(doc) + b"\n\n"

    out = [restorer.event(e) for e in (_chunk("[EMA", 0), _chunk("[CA", 1), tool('{"to": "[EM'), _chunk("IL_1]", 0))]
    out += [restorer.event(e) for e in (_chunk("RD_1]", 1), tool('AIL_1]"}'))]
    joined = b"".join(out).decode()
    assert EMAIL in joined and CARD in joined
    args = "".join(
        json.loads(e[6:])["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for e in out
        if b"tool_calls" in e
    )
    assert json.loads(args) == {"to": EMAIL}


def test_responses_api_deltas_keyed_by_item_and_event_lines_kept() -> None:
    restorer = ResponseRestorer(_map())

    def delta(d: str) -> bytes:
        doc = {
            "type": "response.output_text.delta",
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "delta": d,
        }
        return b"event: response.output_text.delta\ndata: " + orjson.dumps(doc) + b"\n\n"

    out = [restorer.event(delta(p)) for p in ("x [EMAI", "L_1", "] y")]
    assert all(e.startswith(b"event: response.output_text.delta\ndata: ") for e in out)
    assert "".join(json.loads(e.split(b"data: ", 1)[1])["delta"] for e in out) == f"x {EMAIL} y"


def test_stream_cut_mid_placeholder_never_shows_a_fragment() -> None:
    restorer = ResponseRestorer(_map())
    first = restorer.event(_chunk("Hello [EMAIL"))
    assert _text_of([first]) == "Hello "
    assert restorer.finish() == b""
    # An unterminated, cut event at the end is dropped rather than passed on raw.
    restorer = ResponseRestorer(_map())
    assert restorer.tail(b'data: {"choices": [{"index": 0, "delta": {"content": "[EMAIL_') == b""


def test_response_scanning_masks_values_only_the_answer_has_even_split_across_chunks() -> None:
    foreign = corpus.email(random.Random(99))
    rmap = _map()
    scanner = ResponseScanner(PiiDetector(), rmap.values())
    restorer = ResponseRestorer(rmap, scanner)
    text = f"Your address [EMAIL_1] is on file; the other one is {foreign}, and that is all we have for now."
    for cut in range(0, len(text), 7):
        restorer = ResponseRestorer(rmap, ResponseScanner(PiiDetector(), rmap.values()))
        events = [restorer.event(_chunk(text[:cut])), restorer.event(_chunk(text[cut:]))]
        events.append(restorer.event(b"data: [DONE]\n\n"))
        got = _text_of(events)
        assert EMAIL in got and foreign not in got and got.endswith("all we have for now."), cut
    whole: dict[str, Any] = {"choices": [{"message": {"content": f"mail {foreign} or [EMAIL_1]"}}]}
    restored = orjson.loads(restorer.body(orjson.dumps(whole), is_json=True))
    assert (
        restored["choices"][0]["message"]["content"]
        == f"mail {foreign[0]}***@***.{foreign.rsplit('.', 1)[1]} or {EMAIL}"
    )


def test_values_needing_escapes_stay_valid_inside_tool_call_arguments() -> None:
    # A placeholder that is a whole string value of the arguments document (the common case).
    rmap = RedactionMap()
    value = 'line one\nline "two" \\ end'
    token = rmap.token_for("SECRET", value)
    arguments = json.dumps({"key": token, "other": 1})
    body = orjson.dumps({"choices": [{"message": {"tool_calls": [{"function": {"arguments": arguments}}]}}]})
    restored = orjson.loads(ResponseRestorer(rmap).body(body, is_json=True))
    inner = restored["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(inner)["key"] == value
    restorer = ResponseRestorer(rmap)
    pieces = [arguments[:12], arguments[12:]]
    out = b""
    for piece in pieces:
        doc = {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}}]}
        out += restorer.event(b"data: " + orjson.dumps(doc) + b"\n\n")
    streamed = "".join(
        json.loads(e[6:])["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for e in out.split(b"\n\n")
        if e.startswith(b"data: ")
    )
    assert json.loads(streamed)["key"] == value
