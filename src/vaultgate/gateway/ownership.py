"""Stage 5b, ownership: a request may name only objects its member may see; answers record new ones.

Before forwarding (:meth:`Ownership.check`): every object id the request names (typed path
parameters of the endpoint catalogue, the body ids of :mod:`vaultgate.gateway.owned_ids`, the
``after``/``before`` cursors of list routes)
is looked up; an id nobody recorded, or recorded for a member the caller may not see
(:func:`vaultgate.policy.ownership.may_see`), is one 404 ``object_not_found`` with OpenAI's
message, whichever it was (no oracle), and nothing reaches the upstream. A request naming an
object is pinned to the provider that holds it (:func:`pin`).

On the way back (:meth:`Ownership.watch`, a wrapper around ``send``): a 2xx answer that
creates an object is recorded for its member *before* the client sees it (so the next request,
on any replica, finds it); a stream's id is recorded before the event that carries it is
relayed; list answers are filtered to what the caller may see; a successful DELETE forgets.
Requests that name no object and create nothing (most chat completions) pass untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

import orjson

from vaultgate.gateway import owned_ids, routing
from vaultgate.gateway.asgi import Message, Send
from vaultgate.gateway.errors import GatewayError
from vaultgate.gateway.exchange import Exchange
from vaultgate.gateway.object_directory import DirectoryUnavailable, ObjectDirectory
from vaultgate.gateway.snapshot import Snapshot
from vaultgate.gateway.templates import IDENTIFIER, Endpoint
from vaultgate.policy.grants import KeyGrant
from vaultgate.policy.ownership import ObjectOwner, may_see
from vaultgate.sse import EventSplitter, data_of
from vaultgate.upstream.config import Deployment, ProviderKind

log = logging.getLogger("vaultgate.gateway")

# How OpenAI names each kind in "No such File object: file-..." (its own 404 message).
_LABELS = {
    "file": "File",
    "upload": "Upload",
    "batch": "Batch",
    "response": "Response",
    "chat_completion": "ChatCompletion",
    "conversation": "Conversation",
    "vector_store": "VectorStore",
    "vector_store_file_batch": "VectorStoreFileBatch",
    "fine_tuning_job": "FineTuningJob",
    "container": "Container",
    "container_file": "ContainerFile",
}


# Cursor parameters of list routes: ids of objects of the listed kind.
_CURSORS = frozenset({"after", "before"})


def object_not_found(kind: str, object_id: str, param: str | None) -> GatewayError:
    """The one answer for an id that is unknown or not the caller's: the same words either way."""
    shown = object_id if IDENTIFIER.fullmatch(object_id) else "(this id)"
    return GatewayError(404, "object_not_found", f"No such {_LABELS.get(kind, kind)} object: {shown}", param=param)


def unavailable() -> GatewayError:
    """The ownership store did not answer: fail closed."""
    return GatewayError(
        503,
        "ownership_unavailable",
        "vaultgate could not check who owns the objects this request names; try again shortly.",
    )


def not_recorded(object_id: str) -> GatewayError:
    """The upstream created an object whose owner could not be stored: nobody may use it until claimed."""
    return GatewayError(
        503,
        "ownership_unavailable",
        f"The upstream created {object_id}, but vaultgate could not record its owner; "
        f"an admin can assign it with 'vaultgate object claim {object_id}'.",
    )


def _stored(endpoint: Endpoint, payload: dict[str, Any] | None) -> bool:
    """Whether a successful answer leaves an object at the provider: chat completions only with
    ``store: true`` (after hygiene), responses unless ``store: false``, everything else always."""
    if endpoint.name == "chat.completions":
        return payload is not None and payload.get("store") is True
    if endpoint.name == "responses":
        return payload is None or payload.get("store") is not False
    return True


class Ownership:
    """The ownership stage and its answer watcher, over one :class:`ObjectDirectory`."""

    def __init__(self, directory: ObjectDirectory) -> None:
        self._directory = directory

    async def check(self, ex: Exchange) -> None:
        """Stage 5b: every object the request names must be one the caller may see; 404 otherwise."""
        assert ex.target is not None and ex.grant is not None
        endpoint = ex.target.endpoint
        named: list[tuple[str, str, str]] = [
            (p.kind, ex.target.params[p.name], p.name) for p in endpoint.owned_parameters
        ]
        if ex.payload is not None and endpoint.name in owned_ids.BODY_IDS:
            named += [(f.kind, object_id, f.param) for f, object_id in owned_ids.body_ids(endpoint.name, ex.payload)]
        if ex.form is not None and endpoint.name in owned_ids.BODY_IDS:  # a form's text fields, each one
            for field_ in ex.form.fields:
                found = owned_ids.body_ids(endpoint.name, {field_.name: field_.value})
                named += [(f.kind, object_id, f.param) for f, object_id in found]
        if endpoint.lists is not None and ex.query:  # a page cursor is an id too (else: an existence oracle)
            cursors = parse_qsl(ex.query.decode("latin-1"), keep_blank_values=True)
            named += [(endpoint.lists, value, name) for name, value in cursors if name in _CURSORS]
        if not named:
            return
        owners = await self._owners([object_id for _, object_id, _ in named])
        for kind, object_id, param in named:
            owner = owners.get(object_id)
            if owner is None or owner.kind != kind or not may_see(ex.grant, owner):
                raise object_not_found(kind, object_id, param)
        if endpoint.owned_parameters:  # the object the path names: the parent of what the answer creates
            ex.object_owner = owners[named[0][1]]
        ex.pinned_provider = next((owners[i].provider for _, i, _ in named if owners[i].provider), None)

    def watch(self, ex: Exchange, send: Send) -> Send:
        """``send`` itself when the answer needs nothing of ownership, else a watcher around it."""
        assert ex.target is not None
        endpoint = ex.target.endpoint
        creates = endpoint.creates if endpoint.creates and _stored(endpoint, ex.payload) else None
        forgets = owned_ids.FORGETS.get(endpoint.name) if ex.method == "DELETE" else None
        derived = owned_ids.DERIVED_IDS.get(endpoint.name, ())
        if creates is None and forgets is None and not derived and endpoint.lists is None:
            return send
        return _AnswerWatch(self, ex, send, creates, forgets, derived, endpoint.lists)

    async def _owners(self, ids: Sequence[str]) -> dict[str, ObjectOwner]:
        try:
            return await self._directory.owners(ids)
        except DirectoryUnavailable:
            raise unavailable() from None

    async def record(self, owners: Sequence[ObjectOwner]) -> None:
        try:
            await self._directory.record(owners)
        except DirectoryUnavailable:
            raise not_recorded(owners[0].id) from None

    async def forget(self, object_id: str) -> None:
        """Forget a deleted object. If the store fails, the deletion (done upstream) is still answered:
        the stale record only lets the owner name an object the upstream no longer has (its 404)."""
        try:
            await self._directory.forget(object_id)
        except DirectoryUnavailable:
            log.warning("a deleted object could not be forgotten; its owner may still name it")

    async def visible(self, grant: KeyGrant, kind: str, items: list[Any]) -> list[Any]:
        """The items of a list answer the caller may see (recorded for a visible member, of ``kind``)."""
        ids = [item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]
        owners = await self._owners(ids)

        def shown(item: Any) -> bool:
            owner = owners.get(item["id"]) if isinstance(item, dict) and isinstance(item.get("id"), str) else None
            return owner is not None and owner.kind == kind and may_see(grant, owner)

        return [item for item in items if shown(item)]

    async def record_new(self, kind: str, ids: Sequence[str], ex: Exchange, *, created: bool = False) -> None:
        """Record ``ids`` for the owner of the object the request's path named (its parent), else for the
        caller. A ``created`` id is written at once; ids merely seen in an answer (a batch's output file)
        are looked up first, so an answer that reveals nothing new writes nothing."""
        if not ids:
            return
        new = list(dict.fromkeys(ids))
        if not created:
            known = await self._owners(new)
            new = [i for i in new if i not in known]
        if new:
            await self.record([_owner_for(ex, kind, i) for i in new])


def _owner_for(ex: Exchange, kind: str, object_id: str) -> ObjectOwner:
    assert ex.grant is not None
    parent = ex.object_owner
    member_id, team_id = (parent.member_id, parent.team_id) if parent else (ex.grant.member_id, ex.grant.team_id)
    provider = ex.provider.name if ex.provider is not None else None
    return ObjectOwner(object_id, kind, member_id, team_id, ex.grant.key_id, provider)


class _AnswerWatch:
    """Holds a 2xx JSON answer until its ids are recorded (and its list filtered); watches a stream's
    events until the first one that carries the new object's id, recorded before it is relayed."""

    def __init__(
        self,
        ownership: Ownership,
        ex: Exchange,
        send: Send,
        creates: str | None,
        forgets: str | None,
        derived: tuple[owned_ids.IdField, ...],
        lists: str | None,
    ) -> None:
        self._ownership, self._ex, self._send = ownership, ex, send
        self._creates, self._forgets, self._derived, self._lists = creates, forgets, derived, lists
        self._start: Message | None = None
        self._body: list[bytes] = []
        self._passing = False  # an error answer, or a stream whose id is recorded: relay as is
        self._stream: EventSplitter | None = None

    async def __call__(self, message: Message) -> None:
        if self._passing:
            await self._send(message)
        elif message["type"] == "http.response.start":
            if not 200 <= message["status"] < 300:
                self._passing = True
                await self._send(message)
                return
            headers = dict(message.get("headers", []))
            if headers.get(b"content-type", b"").startswith(b"text/event-stream"):
                self._stream = EventSplitter()
            self._start = message
        elif message["type"] == "http.response.body":
            if self._stream is not None:
                await self._stream_body(message)
            else:
                await self._whole_body(message)
        else:
            await self._send(message)

    async def _stream_body(self, message: Message) -> None:
        """Stream: the first event carrying an id is recorded before this chunk (and the held start) go out."""
        assert self._stream is not None
        if self._creates is not None:
            for event in self._stream.feed(message.get("body", b"")):
                object_id = _stream_id(event)
                if object_id is not None:
                    await self._ownership.record_new(self._creates, [object_id], self._ex, created=True)
                    self._passing = True
                    break
        else:
            self._passing = True
        if self._start is not None:
            await self._send(self._start)
            self._start = None
        await self._send(message)

    async def _whole_body(self, message: Message) -> None:
        self._body.append(message.get("body", b""))
        if message.get("more_body"):
            return
        body = b"".join(self._body)
        changed = await self._settle(body)
        start = self._start
        assert start is not None
        if changed is not None:
            body = changed
            start = {
                **start,
                "headers": [(k, str(len(body)).encode() if k == b"content-length" else v) for k, v in start["headers"]],
            }
        self._passing = True
        await self._send(start)
        await self._send({"type": "http.response.body", "body": body})

    async def _settle(self, body: bytes) -> bytes | None:
        """Record, forget and filter for one whole 2xx answer; the new body when a list was filtered."""
        ex = self._ex
        assert ex.target is not None and ex.grant is not None
        if self._forgets is not None:
            await self._ownership.forget(ex.target.params[self._forgets])
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(document, dict):
            return None
        if self._creates is not None and isinstance(document.get("id"), str):
            await self._ownership.record_new(self._creates, [document["id"]], ex, created=True)
        for id_field in self._derived:
            await self._ownership.record_new(id_field.kind, list(id_field.ids(document)), ex)
        if self._lists is None or not isinstance(document.get("data"), list):
            return None
        shown = await self._ownership.visible(ex.grant, self._lists, document["data"])
        document["data"] = shown
        if "first_id" in document:
            document["first_id"] = shown[0]["id"] if shown else None
        if "last_id" in document:
            document["last_id"] = shown[-1]["id"] if shown else None
        return orjson.dumps(document)


def _stream_id(event: bytes) -> str | None:
    """The new object's id in a stream event: ``response.created``'s ``response.id``, a chunk's ``id``."""
    try:
        document = orjson.loads(data_of(event))
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    response = document.get("response")
    if isinstance(response, dict) and isinstance(response.get("id"), str):
        return str(response["id"])
    return str(document["id"]) if isinstance(document.get("id"), str) else None


def pin(snapshot: Snapshot, ex: Exchange, deployments: list[Deployment]) -> list[Deployment]:
    """The deployments to try, narrowed to the provider that holds the objects the request names:
    an object lives at one provider, so there is no failover to another for it."""
    name = ex.pinned_provider
    if name is None:
        return deployments
    kept = [d for d in deployments if d.provider.name == name]
    if kept:
        return kept
    provider = snapshot.providers.get(name)
    if provider is None:
        raise GatewayError(
            503,
            "object_provider_unavailable",
            "The provider that holds the objects this request names is no longer configured.",
        )
    model = provider.deployments.get(ex.model) if provider.kind is ProviderKind.AZURE and ex.model else None
    deployment = Deployment(provider, model)
    # Residency still holds: an object kept outside the caller's allowed geographies is not reached.
    policy = ex.grant.policy if ex.grant is not None else None
    if policy is not None and not policy.allows_zone(routing.processing_zone(deployment)):
        raise routing.outside_residency(ex.model, policy.residency or frozenset())
    return [deployment]
