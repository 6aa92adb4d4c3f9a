"""Object ownership on a real ``vaultgate serve``: one member cannot name another's stored objects.

Found in peers, repeatedly: one member reading or cancelling another's batches, files and
responses through the shared provider key. The walker below is generated from the endpoint
catalogue: every template with an object-typed path parameter, every method. Alice creates the
objects through the gateway; Bob (her team, a plain member) and Carol (another team) get 404 and
the upstream receives nothing; an unknown id is the same 404; Alice and her team's admin get
through. The upstream (tests/support/fresh_ids.py) answers any path with fresh ids, and lists
everything anyone created (as a shared provider key would).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.attacks.conftest import RecordingUpstream, Served
from tests.support.fresh_ids import FreshIds
from vaultgate.gateway.endpoints import ENDPOINTS
from vaultgate.gateway.templates import Endpoint, Parameter

ROUTES = [(e, m) for e in ENDPOINTS if e.owned_parameters for m in sorted(e.methods)]
CREATORS = {e.creates: e for e in ENDPOINTS if e.creates is not None}
FRESH = FreshIds()  # one upstream memory for the module: lists show everyone's objects


class Org:
    """Alice and Bob (team red, plain members), Rita (red's admin), Carol (team blue)."""

    def __init__(self, served: Served) -> None:
        self.served = served
        red, blue = served.team(), served.team()
        self.alice_name, self.bob_name = served.member(team=red), served.member(team=red)
        self.rita_name = served.member(team=red, role="admin")
        self.alice = served.key(self.alice_name, allow_store=True)
        self.bob = served.key(self.bob_name, allow_store=True)
        self.rita = served.key(self.rita_name, allow_store=True)
        self.carol = served.key(served.member(team=blue), allow_store=True)

    def call(self, token: str, endpoint: Endpoint, method: str, params: dict[str, str]) -> httpx.Response:
        """One real HTTP request to the gateway for ``endpoint`` with ``params`` filled in."""
        path = "/".join(params[s.name] if isinstance(s, Parameter) else s for s in endpoint.segments)
        kw: dict[str, Any] = {}
        if endpoint.multipart and method == "POST":
            kw = {"files": {"file": ("a.jsonl", b"{}\n", "application/jsonl")}, "data": {"purpose": "batch"}}
        elif endpoint.json_body and method == "POST":
            kw = {"json": _body(endpoint)}
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.request(method, self.served.url + "/" + path, headers=headers, timeout=30, **kw)

    def create(self, token: str, kind: str) -> dict[str, str]:
        """A new object of ``kind`` (and the parents its path needs) through the gateway: the path
        parameters naming it and them."""
        creator = CREATORS.get(kind)
        assert creator is not None, f"the walker cannot create a {kind}: no endpoint 'creates' it"
        params = self.parents(token, creator)
        answer = self.call(token, creator, "POST", params)
        assert answer.status_code == 200, answer.text
        return {**params, kind: answer.json()["id"]}

    def parents(self, token: str, endpoint: Endpoint) -> dict[str, str]:
        """Path parameters for ``endpoint``: new objects of each owned kind, created with ``token``."""
        params: dict[str, str] = {}
        for segment in endpoint.segments:
            if isinstance(segment, Parameter) and segment.name not in params:
                if segment.owned:
                    params[segment.name] = self.create_under(token, segment.kind, params)
                else:
                    params[segment.name] = "item_1"
        return params

    def create_under(self, token: str, kind: str, params: dict[str, str]) -> str:
        """An object of ``kind``, under the parents already in ``params`` when its creator needs them."""
        creator = CREATORS[kind]
        own = {s.name: params[s.name] for s in creator.owned_parameters if s.name in params}
        if len(own) < len(creator.owned_parameters):
            own = self.parents(token, creator)
        answer = self.call(token, creator, "POST", own)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id"])


def _body(endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.name == "chat.completions":
        return {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "store": True}
    if endpoint.name == "responses":
        return {"model": "gpt-4o", "input": "hi"}
    return {"model": "gpt-4o"} if endpoint.takes_model else {}


@pytest.fixture(scope="module")
def org(served: Served) -> Org:
    return Org(served)


@pytest.fixture
def objects(upstream: RecordingUpstream) -> Iterator[RecordingUpstream]:
    upstream.respond = FRESH
    yield upstream


def _refused(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 404, answer.text
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "object_not_found"
    return dict(error)


@pytest.mark.parametrize(("endpoint", "method"), ROUTES, ids=[f"{m} {e.pattern}" for e, m in ROUTES])
def test_only_the_owner_and_their_team_admin_reach_an_object(
    org: Org, objects: RecordingUpstream, endpoint: Endpoint, method: str
) -> None:
    params = org.parents(org.alice, endpoint)
    for intruder in (org.bob, org.carol):
        before = len(objects.requests)
        error = _refused(org.call(intruder, endpoint, method, params))
        assert len(objects.requests) == before, "a request naming another member's object reached the upstream"
        assert error["message"].startswith("No such ")  # nothing about whose it is
    for parameter in endpoint.owned_parameters:
        unknown = {**params, parameter.name: "unknown-" + secrets.token_hex(4)}
        before = len(objects.requests)
        _refused(org.call(org.alice, endpoint, method, unknown))
        assert len(objects.requests) == before
    # Alice's team admin gets through (on this copy; a DELETE may remove it) ...
    answer = org.call(org.rita, endpoint, method, params)
    assert answer.status_code == 200, answer.text
    assert objects.last.path.startswith("/v1/")
    # ... and so does Alice, on objects of her own.
    own = org.parents(org.alice, endpoint)
    before = len(objects.requests)
    answer = org.call(org.alice, endpoint, method, own)
    assert answer.status_code == 200, answer.text
    assert len(objects.requests) == before + 1


def test_an_unknown_id_and_another_members_id_get_the_same_answer(org: Org, objects: RecordingUpstream) -> None:
    """No oracle: apart from the id itself, the refusals are the same words."""
    files = next(e for e in ENDPOINTS if e.name == "files.retrieve")
    theirs = org.create(org.alice, "file")["file"]
    unknown = "file-" + secrets.token_hex(6)
    a = _refused(org.call(org.bob, files, "GET", {"file_id": theirs}))
    b = _refused(org.call(org.bob, files, "GET", {"file_id": unknown}))
    assert a["message"].replace(theirs, "ID") == b["message"].replace(unknown, "ID")
    assert a["message"] == f"No such File object: {theirs}"


def _client(org: Org, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=org.served.base_url, api_key=token, max_retries=0)


def test_ids_inside_bodies_are_checked_like_path_ids(org: Org, objects: RecordingUpstream) -> None:
    """Bob names Alice's objects inside request bodies: every one is a 404 and reaches nothing."""
    alice, bob = _client(org, org.alice), _client(org, org.bob)
    file_id = alice.files.create(file=("data.jsonl", b"{}\n"), purpose="batch").id
    response_id = alice.responses.create(model="gpt-4o", input="hi").id
    store_id = alice.vector_stores.create(name="docs").id
    conversation_id = alice.conversations.create().id
    container_id = alice.containers.create(name="box").id
    attempts: list[tuple[str, Any]] = [
        (
            "batch input_file_id",
            lambda c: c.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h"),
        ),
        (
            "previous_response_id",
            lambda c: c.responses.create(model="gpt-4o", input="hi", previous_response_id=response_id),
        ),
        ("conversation id", lambda c: c.responses.create(model="gpt-4o", input="hi", conversation=conversation_id)),
        (
            "conversation object",
            lambda c: c.responses.create(model="gpt-4o", input="hi", conversation={"id": conversation_id}),
        ),
        (
            "input_file",
            lambda c: c.responses.create(
                model="gpt-4o",
                input=[{"role": "user", "content": [{"type": "input_file", "file_id": file_id}]}],
            ),
        ),
        (
            "file_search vector_store_ids",
            lambda c: c.responses.create(
                model="gpt-4o", input="hi", tools=[{"type": "file_search", "vector_store_ids": [store_id]}]
            ),
        ),
        (
            "code_interpreter container",
            lambda c: c.responses.create(
                model="gpt-4o", input="hi", tools=[{"type": "code_interpreter", "container": container_id}]
            ),
        ),
        (
            "code_interpreter auto container files",
            lambda c: c.responses.create(
                model="gpt-4o",
                input="hi",
                tools=[{"type": "code_interpreter", "container": {"type": "auto", "file_ids": [file_id]}}],
            ),
        ),
        (
            "chat file part",
            lambda c: c.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": file_id}}]}],
            ),
        ),
        ("fine-tuning training_file", lambda c: c.fine_tuning.jobs.create(model="gpt-4o", training_file=file_id)),
        ("vector store file_ids", lambda c: c.vector_stores.create(name="x", file_ids=[file_id])),
        ("container file_ids", lambda c: c.containers.create(name="x", file_ids=[file_id])),
    ]
    for what, attempt in attempts:
        before = len(objects.requests)
        with pytest.raises(openai.NotFoundError) as refused:
            attempt(bob)
        assert refused.value.code == "object_not_found", what
        assert len(objects.requests) == before, f"{what}: the upstream was reached"
    for _, attempt in attempts:  # the owner may
        attempt(alice)


def test_bob_cannot_put_alices_file_into_his_own_vector_store(org: Org, objects: RecordingUpstream) -> None:
    """A parent Bob owns does not make a child id of Alice's usable: both ids are checked."""
    alice, bob = _client(org, org.alice), _client(org, org.bob)
    file_id = alice.files.create(file=("data.jsonl", b"{}\n"), purpose="assistants").id
    store_id = bob.vector_stores.create(name="mine").id
    before = len(objects.requests)
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.files.create(vector_store_id=store_id, file_id=file_id)
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.file_batches.create(vector_store_id=store_id, file_ids=[file_id])
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.files.retrieve(file_id, vector_store_id=store_id)
    assert len(objects.requests) == before


def test_lists_show_only_what_the_caller_may_see(org: Org, objects: RecordingUpstream) -> None:
    alice, bob, rita, carol = (_client(org, t) for t in (org.alice, org.bob, org.rita, org.carol))
    mine = {alice.files.create(file=("a.jsonl", b"{}\n"), purpose="batch").id for _ in range(2)}
    bobs = bob.files.create(file=("b.jsonl", b"{}\n"), purpose="batch").id
    carols = carol.files.create(file=("c.jsonl", b"{}\n"), purpose="batch").id
    seen_by_alice = {f.id for f in alice.files.list()}
    assert mine <= seen_by_alice
    assert bobs not in seen_by_alice and carols not in seen_by_alice
    assert {bobs, *mine} <= {f.id for f in rita.files.list()}  # her team's
    assert carols not in {f.id for f in rita.files.list()}
    page = httpx.get(org.served.base_url + "/files", headers={"Authorization": f"Bearer {org.carol}"}).json()
    assert [f["id"] for f in page["data"]] == [carols]
    assert page["first_id"] == page["last_id"] == carols
    # A page cursor is an id too: Carol cannot page from Alice's file (nor learn whether it exists).
    before = len(objects.requests)
    with pytest.raises(openai.NotFoundError):
        carol.files.list(after=next(iter(mine)))
    with pytest.raises(openai.NotFoundError):
        carol.chat.completions.list(after=next(iter(mine)))  # nor with an id of another kind
    assert len(objects.requests) == before
    assert [f.id for f in carol.files.list(after=carols)] == [carols]  # her own cursor passes (the fake ignores it)
    assert objects.last.query == f"after={carols}".encode()


def test_a_streamed_response_is_recorded_before_its_id_reaches_the_client(org: Org, objects: RecordingUpstream) -> None:
    alice, bob = _client(org, org.alice), _client(org, org.bob)
    FRESH.stream_gate = threading.Event()  # the upstream holds the stream after response.created
    try:
        with alice.responses.create(model="gpt-4o", input="hi", stream=True) as stream:
            created = next(iter(stream))
            assert created.type == "response.created"
            response_id = created.response.id
            # While the stream is still open, the id already works for Alice and for nobody else.
            assert alice.responses.retrieve(response_id).id == response_id
            with pytest.raises(openai.NotFoundError):
                bob.responses.retrieve(response_id)
            FRESH.stream_gate.set()
            assert [event.type for event in stream] == ["response.completed"]
    finally:
        FRESH.stream_gate.set()
        FRESH.stream_gate = None


def test_unstored_chat_completions_are_not_recorded(org: Org, objects: RecordingUpstream) -> None:
    """Without ``store: true`` a chat completion leaves nothing at the provider: nothing to own."""
    alice = _client(org, org.alice)
    completion = alice.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.NotFoundError):
        alice.chat.completions.retrieve(completion.id)
    stored = alice.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}], store=True)
    assert alice.chat.completions.retrieve(stored.id).id == stored.id


def test_derived_objects_belong_to_the_owner_of_what_produced_them(org: Org, objects: RecordingUpstream) -> None:
    """A batch's output file (seen when the batch is retrieved) and a completed upload's file are the owner's."""
    alice, bob, rita = (_client(org, t) for t in (org.alice, org.bob, org.rita))
    file_id = alice.files.create(file=("a.jsonl", b"{}\n"), purpose="batch").id
    batch = alice.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    output = rita.batches.retrieve(batch.id).output_file_id  # her team admin looks first: still Alice's
    assert output is not None
    assert alice.files.retrieve(output).id == output
    with pytest.raises(openai.NotFoundError):
        bob.files.retrieve(output)
    upload = alice.uploads.create(bytes=3, filename="a.jsonl", mime_type="text/jsonl", purpose="batch")
    completed = alice.uploads.complete(upload.id, part_ids=[])
    assert completed.file is not None
    assert alice.files.retrieve(completed.file.id).id == completed.file.id
    with pytest.raises(openai.NotFoundError):
        bob.uploads.complete(upload.id, part_ids=[])


def test_a_container_code_interpreter_made_is_the_callers(org: Org, objects: RecordingUpstream) -> None:
    """``container: {"type": "auto"}``: the provider makes a container; its id comes back in the output."""
    alice, bob = _client(org, org.alice), _client(org, org.bob)
    response = alice.responses.create(
        model="gpt-4o", input="plot it", tools=[{"type": "code_interpreter", "container": {"type": "auto"}}]
    )
    call = response.output[0]
    assert call.type == "code_interpreter_call"
    assert alice.containers.retrieve(call.container_id).id == call.container_id
    with pytest.raises(openai.NotFoundError):
        bob.containers.retrieve(call.container_id)


def test_a_deleted_object_is_forgotten(org: Org, objects: RecordingUpstream) -> None:
    alice = _client(org, org.alice)
    file_id = alice.files.create(file=("a.jsonl", b"{}\n"), purpose="batch").id
    alice.files.delete(file_id)
    before = len(objects.requests)
    with pytest.raises(openai.NotFoundError):
        alice.files.retrieve(file_id)
    assert len(objects.requests) == before


def test_an_unknown_object_is_refused_until_an_organisation_manager_claims_it(
    org: Org, objects: RecordingUpstream
) -> None:
    """Objects made before vaultgate (or at the provider directly) fail closed; ``POST /admin/objects`` assigns one."""
    alice, bob = _client(org, org.alice), _client(org, org.bob)
    legacy = "file-legacy" + secrets.token_hex(4)
    before = len(objects.requests)
    with pytest.raises(openai.NotFoundError):
        alice.files.retrieve(legacy)
    assert len(objects.requests) == before
    claim = {"id": legacy, "kind": "file", "member": org.alice_name}
    team_admin = org.served.admin_token(org.rita_name)
    refused = httpx.post(
        org.served.url + "/admin/objects", json=claim, headers={"Authorization": f"Bearer {team_admin}"}
    )
    assert refused.status_code == 403
    owner = org.served.admin_token("admin")
    claimed = httpx.post(org.served.url + "/admin/objects", json=claim, headers={"Authorization": f"Bearer {owner}"})
    assert claimed.status_code == 201, claimed.text
    assert alice.files.retrieve(legacy).id == legacy
    with pytest.raises(openai.NotFoundError):
        bob.files.retrieve(legacy)
    again = httpx.post(
        org.served.url + "/admin/objects",
        json={**claim, "member": org.bob_name},
        headers={"Authorization": f"Bearer {owner}"},
    )
    assert again.status_code == 409


def test_a_file_id_in_a_form_is_checked_too(org: Org, objects: RecordingUpstream) -> None:
    """Copying a file into a container takes ``file_id`` as a multipart form field: each copy of the field
    is checked (a second ``file_id`` naming Alice's file must not ride along behind Bob's own)."""
    alice, bob = _client(org, org.alice), _client(org, org.bob)
    alices = alice.files.create(file=("data.jsonl", b"{}\n"), purpose="assistants").id
    bobs = bob.files.create(file=("mine.jsonl", b"{}\n"), purpose="assistants").id
    container = bob.containers.create(name="mine").id
    before = len(objects.requests)
    url = f"{org.served.base_url}/containers/{container}/files"
    for fields in ([("file_id", alices)], [("file_id", bobs), ("file_id", alices)]):
        answer = httpx.post(url, headers={"authorization": f"Bearer {org.bob}"}, files=fields_as_parts(fields))
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "object_not_found", answer.text
    assert len(objects.requests) == before
    own = httpx.post(url, headers={"authorization": f"Bearer {org.bob}"}, files=fields_as_parts([("file_id", bobs)]))
    assert own.status_code == 200, own.text


def fields_as_parts(fields: list[tuple[str, str]]) -> list[tuple[str, tuple[None, str]]]:
    """Text fields as multipart parts (httpx sends ``files`` entries without a filename as plain fields)."""
    return [(name, (None, value)) for name, value in fields]
