"""A stateful fake of OpenAI's object endpoints, served on loopback (``ThreadedServer(OpenAIObjects())``).

It keeps what clients create in memory and answers the way OpenAI does, closely enough for the
official SDK to parse every answer: ids with OpenAI's prefixes (``file-``, ``batch_``, ``resp_``,
``conv_``, ``vs_``, ``ftjob-``, ``cntr_``, ``upload_``...), cursor pages (``data``, ``has_more``,
``first_id``, ``last_id``; ``after``/``limit``/``order``), binary content (file and container
file content, speech audio), multipart uploads parsed with Starlette's form parser, SSE when a
media endpoint is asked to stream. Every request is recorded exactly as it arrived
(``requests``, :class:`tests.support.upstream.Captured`), before it is answered.

Groups: files, uploads, batches, responses (create, by id, input items, cancel, delete), chat
completions (stored), conversations (+ items), vector stores (+ files, file batches, search),
fine-tuning jobs (+ events, checkpoints, pause/resume), containers (+ files), audio
(transcriptions, translations, speech), images (generations, edits, variations) and models.
An unknown id is OpenAI's 404 ``{"error": {...}}``. Nothing here checks authentication: the
gateway's credential is recorded in each request's headers for tests to look at.

The ownership tests reuse it: ``objects[kind]`` holds every live object by id.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.support.upstream import Captured

Scope = dict[str, Any]
Handler = Callable[[Request], Awaitable[Response]]

# OpenAI's id prefix for each kind of object.
PREFIXES = {
    "file": "file-",
    "upload": "upload_",
    "upload.part": "part_",
    "batch": "batch_",
    "response": "resp_",
    "chat.completion": "chatcmpl-",
    "conversation": "conv_",
    "conversation.item": "msg_",
    "vector_store": "vs_",
    "vector_store.file_batch": "vsfb_",
    "fine_tuning.job": "ftjob-",
    "container": "cntr_",
    "container.file": "cfile_",
}
# Bytes a speech request answers with (the start of an MP3 frame, then filler).
SPEECH_AUDIO = b"\xff\xfb\x90\x00" + bytes(range(256)) * 4


def new_id(kind: str) -> str:
    """An id shaped like OpenAI's for ``kind``."""
    return PREFIXES[kind] + secrets.token_hex(12)


def not_found(what: str) -> JSONResponse:
    """OpenAI's 404 for an unknown object."""
    error = {"message": f"No such {what}", "type": "invalid_request_error", "param": None, "code": None}
    return JSONResponse({"error": error}, status_code=404)


def page(items: list[dict[str, Any]], request: Request) -> JSONResponse:
    """A cursor page of ``items`` (oldest first) as OpenAI lists answer: after/before, limit, order."""
    query = request.query_params
    ordered = items if query.get("order", "desc") == "asc" else list(reversed(items))
    if "after" in query:
        ids = [i["id"] for i in ordered]
        ordered = ordered[ids.index(query["after"]) + 1 :] if query["after"] in ids else []
    limit = int(query.get("limit", "20"))
    data = ordered[:limit]
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "has_more": len(ordered) > limit,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


def sse(events: list[dict[str, Any]]) -> StreamingResponse:
    """An event stream of ``events`` (each a JSON ``data:`` line)."""

    async def body() -> Any:
        for event in events:
            yield b"event: " + event["type"].encode() + b"\ndata: " + json.dumps(event).encode() + b"\n\n"

    return StreamingResponse(body(), media_type="text/event-stream")


@dataclass
class OpenAIObjects:
    """The ASGI app: ``objects[kind][id]`` holds live objects, ``contents[id]`` their bytes."""

    requests: list[Captured] = field(default_factory=list)
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    contents: dict[str, bytes] = field(default_factory=dict)
    # Sub-objects by parent id: conversation items, vector store files, container files, job events.
    children: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # File ids whose content download breaks off halfway (the connection is dropped after the headers).
    broken_downloads: set[str] = field(default_factory=set)
    # Realtime sessions: the handshake headers and query of each, and the client events received.
    realtime_sessions: list[dict[str, Any]] = field(default_factory=list)
    app: Starlette = field(init=False)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=self._routes())

    @property
    def last(self) -> Captured:
        """The last request received."""
        return self.requests[-1]

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope["headers"]}
        with self.lock:
            self.requests.append(
                Captured(scope["method"], scope["path"], scope.get("query_string", b""), headers, body)
            )
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    # -- storage -------------------------------------------------------------------------------

    def put(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Keep ``obj`` (it has its ``id``) under ``kind``."""
        with self.lock:
            self.objects.setdefault(kind, {})[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        """The live object, or None."""
        return self.objects.get(kind, {}).get(object_id)

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Every live object of ``kind``, oldest first."""
        return list(self.objects.get(kind, {}).values())

    def remove(self, kind: str, object_id: str) -> bool:
        """Delete; False when there was none."""
        with self.lock:
            return self.objects.get(kind, {}).pop(object_id, None) is not None

    def child(self, parent: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Keep a sub-object of ``parent``."""
        with self.lock:
            self.children.setdefault(parent, {})[obj["id"]] = obj
        return obj

    # -- routes --------------------------------------------------------------------------------

    def _routes(self) -> list[Route]:  # (and one WebSocketRoute)
        r = Route
        return [
            r("/v1/models", self.models, methods=["GET"]),
            r("/v1/files", self.files_create, methods=["POST"]),
            r("/v1/files", self.lister("file", "purpose"), methods=["GET"]),
            r("/v1/files/{file_id}", self.getter("file", "file_id"), methods=["GET"]),
            r("/v1/files/{file_id}", self.deleter("file", "file_id", "file"), methods=["DELETE"]),
            r("/v1/files/{file_id}/content", self.files_content, methods=["GET"]),
            r("/v1/uploads", self.uploads_create, methods=["POST"]),
            r("/v1/uploads/{upload_id}/parts", self.uploads_part, methods=["POST"]),
            r("/v1/uploads/{upload_id}/complete", self.uploads_complete, methods=["POST"]),
            r(
                "/v1/uploads/{upload_id}/cancel",
                self.status_setter("upload", "upload_id", "cancelled"),
                methods=["POST"],
            ),
            r("/v1/batches", self.batches_create, methods=["POST"]),
            r("/v1/batches", self.lister("batch"), methods=["GET"]),
            r("/v1/batches/{batch_id}", self.getter("batch", "batch_id"), methods=["GET"]),
            r("/v1/batches/{batch_id}/cancel", self.status_setter("batch", "batch_id", "cancelling"), methods=["POST"]),
            r("/v1/responses", self.responses_create, methods=["POST"]),
            r("/v1/responses/input_tokens", self.input_tokens, methods=["POST"]),
            r("/v1/responses/{response_id}", self.getter("response", "response_id"), methods=["GET"]),
            r("/v1/responses/{response_id}", self.deleter("response", "response_id", "response"), methods=["DELETE"]),
            r(
                "/v1/responses/{response_id}/cancel",
                self.status_setter("response", "response_id", "cancelled"),
                methods=["POST"],
            ),
            r("/v1/responses/{response_id}/input_items", self.children_lister("response_id"), methods=["GET"]),
            r("/v1/chat/completions", self.chat_create, methods=["POST"]),
            r("/v1/chat/completions", self.lister("chat.completion", "model"), methods=["GET"]),
            r("/v1/chat/completions/{completion_id}", self.getter("chat.completion", "completion_id"), methods=["GET"]),
            r(
                "/v1/chat/completions/{completion_id}",
                self.updater("chat.completion", "completion_id"),
                methods=["POST"],
            ),
            r(
                "/v1/chat/completions/{completion_id}",
                self.deleter("chat.completion", "completion_id", "chat.completion.deleted"),
                methods=["DELETE"],
            ),
            r("/v1/chat/completions/{completion_id}/messages", self.children_lister("completion_id"), methods=["GET"]),
            r("/v1/conversations", self.conversations_create, methods=["POST"]),
            r("/v1/conversations/{conversation_id}", self.getter("conversation", "conversation_id"), methods=["GET"]),
            r("/v1/conversations/{conversation_id}", self.updater("conversation", "conversation_id"), methods=["POST"]),
            r(
                "/v1/conversations/{conversation_id}",
                self.deleter("conversation", "conversation_id", "conversation.deleted"),
                methods=["DELETE"],
            ),
            r("/v1/conversations/{conversation_id}/items", self.children_lister("conversation_id"), methods=["GET"]),
            r("/v1/conversations/{conversation_id}/items", self.conversation_items_create, methods=["POST"]),
            r("/v1/conversations/{conversation_id}/items/{item_id}", self.child_getter("conversation_id", "item_id")),
            r(
                "/v1/conversations/{conversation_id}/items/{item_id}",
                self.conversation_item_delete,
                methods=["DELETE"],
            ),
            r("/v1/vector_stores", self.vector_stores_create, methods=["POST"]),
            r("/v1/vector_stores", self.lister("vector_store"), methods=["GET"]),
            r("/v1/vector_stores/{vs_id}", self.getter("vector_store", "vs_id"), methods=["GET"]),
            r("/v1/vector_stores/{vs_id}", self.updater("vector_store", "vs_id"), methods=["POST"]),
            r(
                "/v1/vector_stores/{vs_id}",
                self.deleter("vector_store", "vs_id", "vector_store.deleted"),
                methods=["DELETE"],
            ),
            r("/v1/vector_stores/{vs_id}/search", self.vector_stores_search, methods=["POST"]),
            r("/v1/vector_stores/{vs_id}/files", self.vector_store_files_create, methods=["POST"]),
            r("/v1/vector_stores/{vs_id}/files", self.children_lister("vs_id"), methods=["GET"]),
            r("/v1/vector_stores/{vs_id}/files/{file_id}", self.child_getter("vs_id", "file_id"), methods=["GET"]),
            r("/v1/vector_stores/{vs_id}/files/{file_id}", self.vector_store_file_update, methods=["POST"]),
            r("/v1/vector_stores/{vs_id}/files/{file_id}", self.vector_store_file_delete, methods=["DELETE"]),
            r("/v1/vector_stores/{vs_id}/files/{file_id}/content", self.vector_store_file_content, methods=["GET"]),
            r("/v1/vector_stores/{vs_id}/file_batches", self.file_batches_create, methods=["POST"]),
            r(
                "/v1/vector_stores/{vs_id}/file_batches/{batch_id}",
                self.getter("vector_store.file_batch", "batch_id"),
                methods=["GET"],
            ),
            r(
                "/v1/vector_stores/{vs_id}/file_batches/{batch_id}/cancel",
                self.status_setter("vector_store.file_batch", "batch_id", "cancelled"),
                methods=["POST"],
            ),
            r("/v1/vector_stores/{vs_id}/file_batches/{batch_id}/files", self.children_lister("batch_id")),
            r("/v1/fine_tuning/jobs", self.jobs_create, methods=["POST"]),
            r("/v1/fine_tuning/jobs", self.lister("fine_tuning.job"), methods=["GET"]),
            r("/v1/fine_tuning/jobs/{job_id}", self.getter("fine_tuning.job", "job_id"), methods=["GET"]),
            r(
                "/v1/fine_tuning/jobs/{job_id}/cancel",
                self.status_setter("fine_tuning.job", "job_id", "cancelled"),
                methods=["POST"],
            ),
            r(
                "/v1/fine_tuning/jobs/{job_id}/pause",
                self.status_setter("fine_tuning.job", "job_id", "paused"),
                methods=["POST"],
            ),
            r(
                "/v1/fine_tuning/jobs/{job_id}/resume",
                self.status_setter("fine_tuning.job", "job_id", "running"),
                methods=["POST"],
            ),
            r("/v1/fine_tuning/jobs/{job_id}/events", self.children_lister("job_id")),
            r("/v1/fine_tuning/jobs/{job_id}/checkpoints", self.job_checkpoints),
            r("/v1/containers", self.containers_create, methods=["POST"]),
            r("/v1/containers", self.lister("container"), methods=["GET"]),
            r("/v1/containers/{container_id}", self.getter("container", "container_id"), methods=["GET"]),
            r("/v1/containers/{container_id}", self.container_delete, methods=["DELETE"]),
            r("/v1/containers/{container_id}/files", self.container_files_create, methods=["POST"]),
            r("/v1/containers/{container_id}/files", self.children_lister("container_id"), methods=["GET"]),
            r("/v1/containers/{container_id}/files/{file_id}", self.child_getter("container_id", "file_id")),
            r(
                "/v1/containers/{container_id}/files/{file_id}",
                self.container_file_delete,
                methods=["DELETE"],
            ),
            r("/v1/containers/{container_id}/files/{file_id}/content", self.container_file_content),
            r("/v1/audio/transcriptions", self.transcriptions, methods=["POST"]),
            r("/v1/audio/translations", self.translations, methods=["POST"]),
            r("/v1/audio/speech", self.speech, methods=["POST"]),
            r("/v1/images/generations", self.images, methods=["POST"]),
            r("/v1/images/edits", self.images, methods=["POST"]),
            r("/v1/images/variations", self.images, methods=["POST"]),
            WebSocketRoute("/v1/realtime", self.realtime),  # type: ignore[list-item]
        ]

    # -- generic handlers ----------------------------------------------------------------------

    def lister(self, kind: str, *filters: str) -> Handler:
        async def handler(request: Request) -> Response:
            items = self.all(kind)
            for name in filters:
                if name in request.query_params:
                    items = [i for i in items if i.get(name) == request.query_params[name]]
            return page(items, request)

        return handler

    def getter(self, kind: str, param: str) -> Handler:
        async def handler(request: Request) -> Response:
            obj = self.get(kind, request.path_params[param])
            return JSONResponse(obj) if obj is not None else not_found(kind)

        return handler

    def deleter(self, kind: str, param: str, object_name: str) -> Handler:
        async def handler(request: Request) -> Response:
            object_id = request.path_params[param]
            if not self.remove(kind, object_id):
                return not_found(kind)
            return JSONResponse({"id": object_id, "object": object_name, "deleted": True})

        return handler

    def updater(self, kind: str, param: str) -> Handler:
        async def handler(request: Request) -> Response:
            obj = self.get(kind, request.path_params[param])
            if obj is None:
                return not_found(kind)
            changes = await request.json()
            obj.update({k: v for k, v in changes.items() if k in ("metadata", "name", "expires_after")})
            return JSONResponse(obj)

        return handler

    def status_setter(self, kind: str, param: str, status: str) -> Handler:
        async def handler(request: Request) -> Response:
            obj = self.get(kind, request.path_params[param])
            if obj is None:
                return not_found(kind)
            obj["status"] = status
            return JSONResponse(obj)

        return handler

    def children_lister(self, param: str) -> Handler:
        async def handler(request: Request) -> Response:
            parent = request.path_params[param]
            return page(list(self.children.get(parent, {}).values()), request)

        return handler

    def child_getter(self, param: str, child: str) -> Handler:
        async def handler(request: Request) -> Response:
            found = self.children.get(request.path_params[param], {}).get(request.path_params[child])
            return JSONResponse(found) if found is not None else not_found(child)

        return handler

    def _delete_child(self, request: Request, param: str, child: str) -> dict[str, Any] | None:
        with self.lock:
            return self.children.get(request.path_params[param], {}).pop(request.path_params[child], None)

    # -- models, files, uploads ----------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        data = [{"id": m, "object": "model", "created": 1, "owned_by": "openai"} for m in ("gpt-4o", "gpt-4o-mini")]
        return JSONResponse({"object": "list", "data": data})

    def _file(self, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        obj = {
            "id": new_id("file"),
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        self.contents[obj["id"]] = content
        return self.put("file", obj)

    async def files_create(self, request: Request) -> Response:
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return JSONResponse({"error": {"message": "file is required", "type": "invalid_request_error"}}, 400)
        content = await upload.read()
        return JSONResponse(self._file(upload.filename or "file", str(form.get("purpose", "")), content))

    async def files_content(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        if self.get("file", file_id) is None:
            return not_found("file")
        content = self.contents[file_id]
        if file_id not in self.broken_downloads:
            return Response(content, media_type="application/octet-stream")

        async def half_then_break() -> Any:
            yield content[: len(content) // 2]
            raise ConnectionResetError("the fake drops the download")  # uvicorn aborts the connection

        headers = {"content-length": str(len(content))}
        return StreamingResponse(half_then_break(), media_type="application/octet-stream", headers=headers)

    async def uploads_create(self, request: Request) -> Response:
        body = await request.json()
        obj = {
            "id": new_id("upload"),
            "object": "upload",
            "bytes": body["bytes"],
            "created_at": int(time.time()),
            "expires_at": int(time.time()) + 3600,
            "filename": body["filename"],
            "purpose": body["purpose"],
            "status": "pending",
            "file": None,
        }
        return JSONResponse(self.put("upload", obj))

    async def uploads_part(self, request: Request) -> Response:
        upload_id = request.path_params["upload_id"]
        if self.get("upload", upload_id) is None:
            return not_found("upload")
        form = await request.form()
        data = form.get("data")
        if not isinstance(data, UploadFile):
            return JSONResponse({"error": {"message": "data is required", "type": "invalid_request_error"}}, 400)
        part = {"id": new_id("upload.part"), "object": "upload.part", "created_at": 1, "upload_id": upload_id}
        self.contents[part["id"]] = await data.read()
        return JSONResponse(self.child(upload_id, part))

    async def uploads_complete(self, request: Request) -> Response:
        upload = self.get("upload", request.path_params["upload_id"])
        if upload is None:
            return not_found("upload")
        body = await request.json()
        content = b"".join(self.contents[part_id] for part_id in body["part_ids"])
        upload["status"] = "completed"
        upload["file"] = self._file(upload["filename"], upload["purpose"], content)
        return JSONResponse(upload)

    # -- batches, responses, chat completions, conversations -----------------------------------

    async def batches_create(self, request: Request) -> Response:
        body = await request.json()
        obj = {
            "id": new_id("batch"),
            "object": "batch",
            "endpoint": body["endpoint"],
            "input_file_id": body["input_file_id"],
            "completion_window": body["completion_window"],
            "status": "validating",
            "created_at": int(time.time()),
            "output_file_id": None,
        }
        return JSONResponse(self.put("batch", obj))

    async def responses_create(self, request: Request) -> Response:
        body = await request.json()
        text = body.get("input") if isinstance(body.get("input"), str) else "…"
        obj = {
            "id": new_id("response"),
            "object": "response",
            "created_at": int(time.time()),
            "status": "completed",
            "model": body.get("model"),
            "output": [
                {
                    "type": "message",
                    "id": new_id("conversation.item"),
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": f"echo: {text}", "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "store": body.get("store", True),
            "usage": {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8},
        }
        if body.get("store", True):
            self.put("response", obj)
            item = {"id": new_id("conversation.item"), "type": "message", "role": "user", "status": "completed"}
            self.child(obj["id"], {**item, "content": [{"type": "input_text", "text": text}]})
        return JSONResponse(obj)

    async def input_tokens(self, request: Request) -> Response:
        return JSONResponse({"object": "response.input_tokens", "input_tokens": 7})

    async def chat_create(self, request: Request) -> Response:
        body = await request.json()
        obj = {
            "id": new_id("chat.completion"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "stored answer"}, "finish_reason": "stop"}
            ],
            "metadata": body.get("metadata"),
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
        if body.get("store"):
            self.put("chat.completion", obj)
            for index, message in enumerate(body.get("messages", [])):
                self.child(obj["id"], {"id": f"{obj['id']}-{index}", **message})
        return JSONResponse(obj)

    async def conversations_create(self, request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        obj = {
            "id": new_id("conversation"),
            "object": "conversation",
            "created_at": int(time.time()),
            "metadata": body.get("metadata"),
        }
        self.put("conversation", obj)
        for item in body.get("items") or []:
            self.child(obj["id"], {"id": new_id("conversation.item"), "status": "completed", **item})
        return JSONResponse(obj)

    async def conversation_items_create(self, request: Request) -> Response:
        parent = request.path_params["conversation_id"]
        if self.get("conversation", parent) is None:
            return not_found("conversation")
        body = await request.json()
        added = [
            self.child(parent, {"id": new_id("conversation.item"), "status": "completed", **i}) for i in body["items"]
        ]
        return JSONResponse(
            {"object": "list", "data": added, "has_more": False, "first_id": added[0]["id"], "last_id": added[-1]["id"]}
        )

    async def conversation_item_delete(self, request: Request) -> Response:
        if self._delete_child(request, "conversation_id", "item_id") is None:
            return not_found("item")
        return JSONResponse(self.get("conversation", request.path_params["conversation_id"]))

    # -- vector stores -------------------------------------------------------------------------

    async def vector_stores_create(self, request: Request) -> Response:
        body = await request.json()
        obj = {
            "id": new_id("vector_store"),
            "object": "vector_store",
            "created_at": int(time.time()),
            "name": body.get("name", ""),
            "usage_bytes": 0,
            "file_counts": {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0},
            "status": "completed",
            "last_active_at": None,
            "metadata": body.get("metadata"),
        }
        return JSONResponse(self.put("vector_store", obj))

    def _vector_store_file(self, vs_id: str, file_id: str, attributes: Any = None) -> dict[str, Any]:
        obj = {
            "id": file_id,
            "object": "vector_store.file",
            "created_at": int(time.time()),
            "vector_store_id": vs_id,
            "status": "completed",
            "usage_bytes": len(self.contents.get(file_id, b"")),
            "last_error": None,
            "attributes": attributes,
        }
        return self.child(vs_id, obj)

    async def vector_store_files_create(self, request: Request) -> Response:
        vs_id = request.path_params["vs_id"]
        if self.get("vector_store", vs_id) is None:
            return not_found("vector_store")
        body = await request.json()
        return JSONResponse(self._vector_store_file(vs_id, body["file_id"], body.get("attributes")))

    async def vector_store_file_update(self, request: Request) -> Response:
        found = self.children.get(request.path_params["vs_id"], {}).get(request.path_params["file_id"])
        if found is None:
            return not_found("vector_store.file")
        found["attributes"] = (await request.json()).get("attributes")
        return JSONResponse(found)

    async def vector_store_file_delete(self, request: Request) -> Response:
        if self._delete_child(request, "vs_id", "file_id") is None:
            return not_found("vector_store.file")
        return JSONResponse(
            {"id": request.path_params["file_id"], "object": "vector_store.file.deleted", "deleted": True}
        )

    async def vector_store_file_content(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        text = self.contents.get(file_id, b"").decode("utf-8", "replace")
        return JSONResponse(
            {"object": "vector_store.file_content.page", "data": [{"type": "text", "text": text}], "has_more": False}
        )

    async def vector_stores_search(self, request: Request) -> Response:
        vs_id = request.path_params["vs_id"]
        if self.get("vector_store", vs_id) is None:
            return not_found("vector_store")
        body = await request.json()
        data = [
            {
                "file_id": file_id,
                "filename": "f",
                "score": 0.5,
                "attributes": None,
                "content": [{"type": "text", "text": f"match for {body.get('query')}"}],
            }
            for file_id in self.children.get(vs_id, {})
        ]
        return JSONResponse(
            {"object": "vector_store.search_results.page", "search_query": [body.get("query")], "data": data,
             "has_more": False, "next_page": None}
        )  # fmt: skip

    async def file_batches_create(self, request: Request) -> Response:
        vs_id = request.path_params["vs_id"]
        if self.get("vector_store", vs_id) is None:
            return not_found("vector_store")
        body = await request.json()
        file_ids = body.get("file_ids", [])
        obj = {
            "id": new_id("vector_store.file_batch"),
            "object": "vector_store.files_batch",
            "created_at": int(time.time()),
            "vector_store_id": vs_id,
            "status": "completed",
            "file_counts": {"in_progress": 0, "completed": len(file_ids), "failed": 0, "cancelled": 0,
                            "total": len(file_ids)},
        }  # fmt: skip
        for file_id in file_ids:
            vs_file = self._vector_store_file(vs_id, file_id)
            self.child(obj["id"], vs_file)
        return JSONResponse(self.put("vector_store.file_batch", obj))

    # -- fine-tuning ---------------------------------------------------------------------------

    async def jobs_create(self, request: Request) -> Response:
        body = await request.json()
        obj = {
            "id": new_id("fine_tuning.job"),
            "object": "fine_tuning.job",
            "created_at": int(time.time()),
            "model": body["model"],
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "status": "queued",
            "fine_tuned_model": None,
            "finished_at": None,
            "error": None,
            "hyperparameters": {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"},
            "organization_id": "org-fake",
            "result_files": [],
            "seed": 1,
            "trained_tokens": None,
            "metadata": body.get("metadata"),
        }
        event = {
            "id": "ftevent-" + secrets.token_hex(8),
            "object": "fine_tuning.job.event",
            "created_at": 1,
            "level": "info",
            "message": "Job queued",
        }
        self.child(obj["id"], event)
        return JSONResponse(self.put("fine_tuning.job", obj))

    async def job_checkpoints(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        if self.get("fine_tuning.job", job_id) is None:
            return not_found("fine_tuning.job")
        checkpoint = {
            "id": "ftckpt_" + job_id[-8:],
            "object": "fine_tuning.job.checkpoint",
            "created_at": 1,
            "fine_tuned_model_checkpoint": "ft:gpt-4o-mini:org::ckpt",
            "fine_tuning_job_id": job_id,
            "metrics": {},
            "step_number": 10,
        }
        return page([checkpoint], request)

    # -- containers ----------------------------------------------------------------------------

    async def containers_create(self, request: Request) -> Response:
        body = await request.json()
        obj = {
            "id": new_id("container"),
            "object": "container",
            "created_at": int(time.time()),
            "name": body["name"],
            "status": "running",
        }
        return JSONResponse(self.put("container", obj))

    async def container_delete(self, request: Request) -> Response:
        container_id = request.path_params["container_id"]
        if not self.remove("container", container_id):
            return not_found("container")
        return Response(status_code=200)  # OpenAI answers an empty 200 here; the SDK expects none

    async def container_files_create(self, request: Request) -> Response:
        container_id = request.path_params["container_id"]
        if self.get("container", container_id) is None:
            return not_found("container")
        form = await request.form()
        upload = form.get("file")
        content = await upload.read() if isinstance(upload, UploadFile) else b""
        name = upload.filename if isinstance(upload, UploadFile) and upload.filename else "file"
        obj = {
            "id": new_id("container.file"),
            "object": "container.file",
            "created_at": int(time.time()),
            "container_id": container_id,
            "bytes": len(content),
            "path": f"/mnt/data/{name}",
            "source": "user",
        }
        self.contents[obj["id"]] = content
        return JSONResponse(self.child(container_id, obj))

    async def container_file_delete(self, request: Request) -> Response:
        if self._delete_child(request, "container_id", "file_id") is None:
            return not_found("container.file")
        return Response(status_code=200)

    async def container_file_content(self, request: Request) -> Response:
        found = self.children.get(request.path_params["container_id"], {}).get(request.path_params["file_id"])
        if found is None:
            return not_found("container.file")
        return Response(self.contents[found["id"]], media_type="application/octet-stream")

    # -- realtime ------------------------------------------------------------------------------

    async def realtime(self, ws: WebSocket) -> None:
        """A Realtime session: ``session.created``, then ``response.create`` answered with ``response.done``
        (usage included; its text echoes the credential the session was opened with, so tests see it cut)."""
        session: dict[str, Any] = {"headers": dict(ws.headers), "query": str(ws.query_params), "events": []}
        with self.lock:
            self.realtime_sessions.append(session)
        await ws.accept()
        model = ws.query_params.get("model")
        await ws.send_json(
            {"type": "session.created", "event_id": "evt_0", "session": {"id": "sess_1", "model": model}}
        )
        try:
            while True:
                event = await ws.receive_json()
                session["events"].append(event)
                if event.get("type") == "response.create":
                    heard = ws.headers.get("authorization", "")
                    output = [
                        {
                            "type": "message",
                            "role": "assistant",
                            "content": [{"type": "output_text", "text": f"answer for {model}; you sent {heard}"}],
                        }
                    ]
                    response = {
                        "id": "resp_rt",
                        "object": "realtime.response",
                        "status": "completed",
                        "output": output,
                        "usage": {"input_tokens": 4, "output_tokens": 6, "total_tokens": 10},
                    }
                    await ws.send_json({"type": "response.done", "event_id": "evt_1", "response": response})  # fmt: skip
        except WebSocketDisconnect:
            return

    # -- audio and images ----------------------------------------------------------------------

    async def transcriptions(self, request: Request) -> Response:
        form = await request.form()
        audio = form.get("file")
        size = len(await audio.read()) if isinstance(audio, UploadFile) else 0
        text = f"heard {size} bytes with {form.get('model')}"
        if form.get("stream") == "true":
            words = text.split(" ")
            events: list[dict[str, Any]] = [{"type": "transcript.text.delta", "delta": w + " "} for w in words]
            events.append({"type": "transcript.text.done", "text": text})
            return sse(events)
        return JSONResponse({"text": text})

    async def translations(self, request: Request) -> Response:
        form = await request.form()
        return JSONResponse({"text": f"translated with {form.get('model')}"})

    async def speech(self, request: Request) -> Response:
        body = await request.json()
        if body.get("stream_format") == "sse":
            return sse([{"type": "speech.audio.delta", "audio": "AAAA"}, {"type": "speech.audio.done", "usage": {}}])

        async def audio() -> Any:
            for start in range(0, len(SPEECH_AUDIO), 100):  # in pieces, as a real stream would come
                yield SPEECH_AUDIO[start : start + 100]

        return StreamingResponse(audio(), media_type="audio/mpeg")

    async def images(self, request: Request) -> Response:
        content_type = request.headers.get("content-type", "")
        fields: Any = await request.form() if content_type.startswith("multipart/") else await request.json()
        prompt = str(fields.get("prompt", ""))
        if str(fields.get("stream", "")).lower() == "true":
            return sse(
                [
                    {"type": "image_generation.partial_image", "b64_json": "AAAA", "partial_image_index": 0},
                    {"type": "image_generation.completed", "b64_json": "AAAA", "usage": {}},
                ]
            )
        return JSONResponse({"created": 1, "data": [{"b64_json": "AAAA", "revised_prompt": prompt}]})
