"""Responses API shapes for the echo upstream: a message whose text is cut into two ``output_text``
content parts at a chosen offset, as a JSON body or as the full SSE event sequence."""

from __future__ import annotations

from typing import Any

USAGE = {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}


def _part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def _item(parts: list[str], status: str = "completed") -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": status,
        "content": [_part(p) for p in parts],
    }


def response(model: Any, parts: list[str], status: str = "completed") -> dict[str, Any]:
    """A whole Responses API answer: one message item holding ``parts`` as output_text parts."""
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": model,
        "status": status,
        "output": [_item(parts)] if status == "completed" else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": USAGE if status == "completed" else None,
    }


def events(model: Any, parts: list[str], delta: int = 7) -> list[dict[str, Any]]:
    """The event sequence of a streamed answer: each part's text in deltas of ``delta`` characters."""
    out: list[dict[str, Any]] = [
        {"type": "response.created", "response": response(model, [], "in_progress")},
        {"type": "response.output_item.added", "output_index": 0, "item": _item([], "in_progress")},
    ]
    where = {"item_id": "msg_1", "output_index": 0}
    for index, text in enumerate(parts):
        at = {**where, "content_index": index}
        out.append({"type": "response.content_part.added", **at, "part": _part("")})
        for i in range(0, len(text), delta):
            out.append({"type": "response.output_text.delta", **at, "delta": text[i : i + delta]})
        out.append({"type": "response.output_text.done", **at, "text": text})
        out.append({"type": "response.content_part.done", **at, "part": _part(text)})
    out.append({"type": "response.output_item.done", "output_index": 0, "item": _item(parts)})
    out.append({"type": "response.completed", "response": response(model, parts)})
    for number, event in enumerate(out):
        event["sequence_number"] = number
    return out
