"""EventSplitter yields the same whole events however the byte stream is chunked."""

from __future__ import annotations

import itertools

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from vaultgate.sse import EventSplitter, data_of

EVENTS = [
    b'data: {"id":"chatcmpl-1","choices":[{"delta":{"role":"assistant","content":""}}]}\n\n',
    b'data: {"id":"chatcmpl-1","choices":[{"delta":{"content":"Hello, w\xc3\xb6rld"}}]}\n\n',
    b'event: response.output_text.delta\r\ndata: {"delta":"line one\\n"}\r\n\r\n',
    b": keep-alive comment\n\n",
    b'event: response.completed\ndata: {"usage":{"input_tokens":3,"output_tokens":5}}\n\n',
    b"id: 7\r\nretry: 1000\r\ndata: first line\r\ndata: second line\r\n\r\n",
    b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}\n\n',
    b"data: [DONE]\n\n",
]
STREAM = b"".join(EVENTS)


def split(chunks: list[bytes]) -> tuple[list[bytes], bytes]:
    splitter = EventSplitter()
    events: list[bytes] = []
    for chunk in chunks:
        events.extend(splitter.feed(chunk))
    return events, splitter.close()


def test_whole_stream_in_one_chunk() -> None:
    assert split([STREAM]) == (EVENTS, b"")


def test_split_at_every_offset() -> None:
    for offset in range(len(STREAM) + 1):
        assert split([STREAM[:offset], STREAM[offset:]]) == (EVENTS, b""), offset


def test_split_at_every_pair_of_offsets_around_separators() -> None:
    # Cut inside and around each blank-line terminator, in three pieces.
    cuts = sorted({i + d for i in range(len(STREAM)) if STREAM[i : i + 1] in b"\r\n" for d in (0, 1)})
    for a in cuts:
        for b in cuts:
            if a <= b:
                assert split([STREAM[:a], STREAM[a:b], STREAM[b:]]) == (EVENTS, b""), (a, b)


def test_byte_at_a_time() -> None:
    assert split([STREAM[i : i + 1] for i in range(len(STREAM))]) == (EVENTS, b"")


@given(cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=25))
@settings(max_examples=200)
def test_random_chunkings_yield_the_original_events(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(bounds)]
    assert split(chunks) == (EVENTS, b"")


@given(
    bodies=st.lists(
        st.binary(min_size=1, max_size=30).filter(lambda b: b"\n" not in b and b"\r" not in b),
        min_size=1,
        max_size=6,
    ),
    crlf=st.lists(st.booleans(), min_size=6, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=10),
)
@settings(max_examples=200)
def test_random_streams_and_chunkings(bodies: list[bytes], crlf: list[bool], cuts: list[int]) -> None:
    events = [b"data: " + body + (b"\r\n\r\n" if crlf[i] else b"\n\n") for i, body in enumerate(bodies)]
    stream = b"".join(events)
    bounds = [0, *sorted(c for c in cuts if c <= len(stream)), len(stream)]
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    assert split(chunks) == (events, b"")


def test_close_returns_the_unterminated_tail_once() -> None:
    splitter = EventSplitter()
    assert splitter.feed(EVENTS[0] + b'data: {"partial"') == [EVENTS[0]]
    assert splitter.feed(b":true}\n") == []
    assert splitter.close() == b'data: {"partial":true}\n'
    assert splitter.close() == b""
    # The splitter is reusable after close.
    assert splitter.feed(EVENTS[1]) == [EVENTS[1]]


def test_close_of_a_stream_ending_mid_terminator() -> None:
    events, tail = split([STREAM + b"data: x\r\n\r"])
    assert events == EVENTS
    assert tail == b"data: x\r\n\r"


def test_empty_chunks_are_harmless() -> None:
    assert split([b"", EVENTS[0][:5], b"", EVENTS[0][5:], b""]) == ([EVENTS[0]], b"")


def test_data_of_joins_data_lines() -> None:
    assert orjson.loads(data_of(EVENTS[0]))["id"] == "chatcmpl-1"
    assert data_of(EVENTS[2]) == b'{"delta":"line one\\n"}'
    assert data_of(EVENTS[5]) == b"first line\nsecond line"
    assert data_of(EVENTS[4]) == b'{"usage":{"input_tokens":3,"output_tokens":5}}'
    assert data_of(EVENTS[3]) == b""
    assert data_of(EVENTS[7]) == b"[DONE]"


def test_data_of_without_space_and_with_extra_spaces() -> None:
    assert data_of(b"data:{}\n\n") == b"{}"
    # Only the one space after the colon belongs to the syntax (WHATWG SSE); the rest is data.
    assert data_of(b"data:   indented\n\n") == b"  indented"
    assert data_of(b"data: \n\n") == b""
    # A field that merely starts with "data" is not a data line.
    assert data_of(b"datapoint: 1\ndata: real\n\n") == b"real"


def _reference_split(stream: bytes) -> tuple[list[bytes], bytes]:
    """The definition: repeatedly cut at the earliest blank line (CRLF CRLF or LF LF)."""
    events, start = [], 0
    while True:
        found = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := stream.find(sep, start)) != -1]
        if not found:
            return events, stream[start:]
        cut, width = min(found)
        events.append(stream[start : cut + width])
        start = cut + width


@given(
    stream=st.lists(st.sampled_from([b"a", b"\n", b"\r", b"data: x"]), max_size=40).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
@settings(max_examples=400)
def test_any_run_of_line_ends_is_split_as_the_definition_says(stream: bytes, cuts: list[int]) -> None:
    # Runs of three or more line ends, lone CRs and LF-only streams (split in one pass) alike.
    bounds = [0, *sorted(c for c in cuts if c <= len(stream)), len(stream)]
    assert split([stream[a:b] for a, b in itertools.pairwise(bounds)]) == _reference_split(stream)
