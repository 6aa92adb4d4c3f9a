"""Every OpenAI endpoint group through a running gateway, driven by the official SDK, against a stateful fake.

One gateway per module (in-process uvicorn on SQLite) in front of ``OpenAIObjects``. Each group
is walked the way a user would (create, list, retrieve, content, delete...), then checked for
what reached the upstream. Scopes, zero retention, multipart bad input and privacy on forms
follow.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest
from tests.support.openai_objects import SPEECH_AUDIO, OpenAIObjects
from tests.support.servers import ThreadedServer

from vaultgate.config import Settings
from vaultgate.server import build
from vaultgate.services import bootstrap, keys, members, providers, teams
from vaultgate.services.context import LOCAL_OPERATOR, ControlPlane

MAX_BODY = 2 * 1024 * 1024


@dataclass
class Gateway:
    """A gateway in front of the fake; ``key()`` mints a member key that is live when it returns."""

    url: str
    cp: ControlPlane
    fake: OpenAIObjects
    provider_key: str

    def sync(self) -> None:
        target = self.cp.store.revision()
        deadline = time.monotonic() + 10
        while int(httpx.get(self.url + "/healthz").json()["revision"]) < target:
            assert time.monotonic() < deadline, "the gateway did not pick up the change"
            time.sleep(0.02)

    def key(self, team: str | None = None, member: str | None = None, **policy: Any) -> str:
        """A key of ``member``, or of a new member (in ``team``)."""
        name = member
        if name is None:
            name = "m-" + secrets.token_hex(4)
            members.add(self.cp, LOCAL_OPERATOR, name, team=team)
        token = keys.create(self.cp, LOCAL_OPERATOR, name, policy=policy).token
        self.sync()
        return token

    def team(self, **policy: Any) -> str:
        name = "team-" + secrets.token_hex(3)
        teams.create(self.cp, LOCAL_OPERATOR, name)
        teams.set_policy(self.cp, LOCAL_OPERATOR, name, policy=policy)
        return name

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("groups")
    fake = OpenAIObjects()
    upstream = ThreadedServer(fake).start()
    settings = Settings(data_dir=tmp / "data", usage_flush_interval=0.2, max_body_bytes=MAX_BODY)
    bootstrap.init(settings)
    cp = bootstrap.open_control_plane(settings)
    provider_key = "sk-proj-" + secrets.token_urlsafe(36)
    providers.add(
        cp,
        LOCAL_OPERATOR,
        "fake",
        kind="compatible",
        base_url=upstream.url + "/v1",
        api_key=provider_key,
        allow_insecure_http=True,
    )
    server = ThreadedServer(build(settings)).start()
    yield Gateway(server.url, cp, fake, provider_key)
    server.stop()
    upstream.stop()
    cp.store.dispose()


def sent(gw: Gateway, method: str, path: str) -> list[Any]:
    """The requests the fake received for ``method path`` (path without the query)."""
    return [r for r in gw.fake.requests if r.method == method and r.path == path]


def test_files_upload_list_retrieve_content_delete(gw: Gateway) -> None:
    client = gw.client(gw.key())
    content = b'{"custom_id": "1"}\n' + bytes(range(256))
    created = client.files.create(file=("input.jsonl", content), purpose="batch")
    assert created.id.startswith("file-") and created.bytes == len(content)
    upload = sent(gw, "POST", "/v1/files")[-1]
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert upload.headers["authorization"] == f"Bearer {gw.provider_key}"
    assert content in upload.body  # the form went as the SDK wrote it

    assert created.id in [f.id for f in client.files.list(purpose="batch")]
    assert sent(gw, "GET", "/v1/files")[-1].query == b"purpose=batch"
    assert client.files.retrieve(created.id).filename == "input.jsonl"
    assert client.files.content(created.id).content == content  # bytes through, not parsed
    assert client.files.delete(created.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)


def test_uploads_in_parts_become_a_file(gw: Gateway) -> None:
    client = gw.client(gw.key())
    parts = [b"a" * 1000, b"\x00\xff" * 500]
    upload = client.uploads.create(
        bytes=sum(map(len, parts)), filename="big.jsonl", mime_type="application/jsonl", purpose="batch"
    )
    assert upload.id.startswith("upload_")
    part_ids = [client.uploads.parts.create(upload.id, data=p).id for p in parts]
    done = client.uploads.complete(upload.id, part_ids=part_ids)
    assert done.status == "completed" and done.file is not None
    assert client.files.content(done.file.id).content == b"".join(parts)
    other = client.uploads.create(bytes=1, filename="x", mime_type="text/plain", purpose="batch")
    assert client.uploads.cancel(other.id).status == "cancelled"


def test_batches(gw: Gateway) -> None:
    client = gw.client(gw.key())
    file = client.files.create(file=("b.jsonl", b"{}\n"), purpose="batch")
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.id.startswith("batch_")
    assert client.batches.retrieve(batch.id).input_file_id == file.id
    listed = client.batches.list(limit=100)
    assert batch.id in [b.id for b in listed]
    assert sent(gw, "GET", "/v1/batches")[-1].query == b"limit=100"
    assert client.batches.cancel(batch.id).status == "cancelling"


def test_responses_by_id(gw: Gateway) -> None:
    client = gw.client(gw.key(allow_store=True))
    response = client.responses.create(model="gpt-4o", input="hello", store=True)
    assert response.id.startswith("resp_")
    assert client.responses.retrieve(response.id).id == response.id
    items = client.responses.input_items.list(response.id, include=["message.input_image.image_url"])
    assert [i.type for i in items] == ["message"]
    assert sent(gw, "GET", f"/v1/responses/{response.id}/input_items")[-1].query == (
        b"include%5B%5D=message.input_image.image_url"
    )
    assert client.responses.input_tokens.count(model="gpt-4o", input="hello").input_tokens == 7
    assert client.responses.cancel(response.id).status == "cancelled"
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_stored_chat_completions(gw: Gateway) -> None:
    client = gw.client(gw.key(allow_store=True))
    done = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], store=True, metadata={"topic": "t"}
    )
    assert client.chat.completions.retrieve(done.id).id == done.id
    assert done.id in [c.id for c in client.chat.completions.list(metadata={"topic": "t"}, model="gpt-4o")]
    query = sent(gw, "GET", "/v1/chat/completions")[-1].query
    assert set(query.split(b"&")) == {b"metadata%5Btopic%5D=t", b"model=gpt-4o"}
    assert client.chat.completions.update(done.id, metadata={"topic": "u"}).metadata == {"topic": "u"}
    assert [m.content for m in client.chat.completions.messages.list(done.id)] == ["hi"]
    assert client.chat.completions.delete(done.id).deleted is True


def test_conversations_and_items(gw: Gateway) -> None:
    client = gw.client(gw.key())
    conversation = client.conversations.create(items=[{"type": "message", "role": "user", "content": "hi"}])
    assert conversation.id.startswith("conv_")
    assert client.conversations.retrieve(conversation.id).id == conversation.id
    assert client.conversations.update(conversation.id, metadata={"a": "b"}).metadata == {"a": "b"}
    added = client.conversations.items.create(
        conversation.id, items=[{"type": "message", "role": "user", "content": "more"}]
    )
    item_id = added.data[0].id
    assert len(list(client.conversations.items.list(conversation.id))) == 2
    include: Any = ["message.output_text.logprobs"]
    assert client.conversations.items.retrieve(item_id, conversation_id=conversation.id, include=include).id == item_id
    path = f"/v1/conversations/{conversation.id}/items/{item_id}"
    assert sent(gw, "GET", path)[-1].query == b"include%5B%5D=message.output_text.logprobs"
    client.conversations.items.delete(item_id, conversation_id=conversation.id)
    assert client.conversations.delete(conversation.id).deleted is True


def test_vector_stores_files_batches_search(gw: Gateway) -> None:
    client = gw.client(gw.key())
    file = client.files.create(file=("doc.txt", b"the manual"), purpose="assistants")
    store = client.vector_stores.create(name="docs")
    assert store.id.startswith("vs_")
    assert client.vector_stores.update(store.id, name="docs2").name == "docs2"
    assert store.id in [s.id for s in client.vector_stores.list()]
    attached = client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id)
    assert attached.vector_store_id == store.id
    assert [f.id for f in client.vector_stores.files.list(vector_store_id=store.id, filter="completed")] == [file.id]
    assert client.vector_stores.files.retrieve(file.id, vector_store_id=store.id).id == file.id
    client.vector_stores.files.update(file.id, vector_store_id=store.id, attributes={"k": "v"})
    assert [c.text for c in client.vector_stores.files.content(file.id, vector_store_id=store.id)] == ["the manual"]
    hits = client.vector_stores.search(store.id, query="manual")
    assert [h.file_id for h in hits] == [file.id]
    batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[file.id])
    assert client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id).id == batch.id
    assert [f.id for f in client.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)] == [file.id]
    client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert client.vector_stores.files.delete(file.id, vector_store_id=store.id).deleted is True
    assert client.vector_stores.delete(store.id).deleted is True


def test_fine_tuning_jobs(gw: Gateway) -> None:
    client = gw.client(gw.key())
    training = client.files.create(file=("t.jsonl", b"{}\n"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training.id)
    assert job.id.startswith("ftjob-")
    assert job.id in [j.id for j in client.fine_tuning.jobs.list()]
    assert client.fine_tuning.jobs.retrieve(job.id).training_file == training.id
    assert [e.message for e in client.fine_tuning.jobs.list_events(job.id)] == ["Job queued"]
    assert len(list(client.fine_tuning.jobs.checkpoints.list(job.id))) == 1
    assert client.fine_tuning.jobs.pause(job.id).status == "paused"
    assert client.fine_tuning.jobs.resume(job.id).status == "running"
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"


def test_containers_and_their_files(gw: Gateway) -> None:
    client = gw.client(gw.key())
    container = client.containers.create(name="sandbox")
    assert container.id.startswith("cntr_")
    assert container.id in [c.id for c in client.containers.list(name="sandbox")]
    assert sent(gw, "GET", "/v1/containers")[-1].query == b"name=sandbox"
    content = b"\x89PNG" + bytes(range(256)) * 3
    file = client.containers.files.create(container.id, file=("plot.png", content))
    assert file.container_id == container.id and file.bytes == len(content)
    assert [f.id for f in client.containers.files.list(container.id)] == [file.id]
    assert client.containers.files.retrieve(file.id, container_id=container.id).id == file.id
    assert client.containers.files.content.retrieve(file.id, container_id=container.id).content == content
    client.containers.files.delete(file.id, container_id=container.id)
    client.containers.delete(container.id)
    with pytest.raises(openai.NotFoundError):
        client.containers.retrieve(container.id)


def test_audio_transcription_translation_and_speech(gw: Gateway) -> None:
    client = gw.client(gw.key())
    audio = b"RIFF" + bytes(range(256)) * 10
    text = client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", audio))
    assert text.text == f"heard {len(audio)} bytes with gpt-4o-transcribe"
    stream = client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", audio), stream=True)
    events = list(stream)
    assert events[-1].type == "transcript.text.done" and events[-1].text == text.text
    translated = client.audio.translations.create(model="whisper-1", file=("a.wav", audio))
    assert translated.text == "translated with whisper-1"
    speech = client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="say this")
    assert speech.content == SPEECH_AUDIO
    assert speech.response.headers["content-type"] == "audio/mpeg"
    events = client.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="x", stream_format="sse")
    assert events.response.headers["content-type"].startswith("text/event-stream")
    assert b"event: speech.audio.done" in events.content


def test_images_generate_stream_and_edit(gw: Gateway) -> None:
    client = gw.client(gw.key())
    image = client.images.generate(model="gpt-image-1", prompt="a cat")
    assert image.data is not None and image.data[0].revised_prompt == "a cat"
    events = list(client.images.generate(model="gpt-image-1", prompt="a cat", stream=True))
    assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    edited = client.images.edit(model="gpt-image-1", image=("in.png", b"\x89PNG\r\n"), prompt="add a hat")
    assert edited.data is not None and edited.data[0].revised_prompt == "add a hat"


# -- scopes ------------------------------------------------------------------------------------

READS = {
    "files": lambda c: c.files.list(),
    "batches": lambda c: c.batches.list(),
    "vector_stores": lambda c: c.vector_stores.list(),
    "fine_tuning": lambda c: c.fine_tuning.jobs.list(),
    "containers": lambda c: c.containers.list(),
    "chat": lambda c: c.chat.completions.list(),
}
WRITES = {
    "files": lambda c: c.files.create(file=("x.jsonl", b"{}"), purpose="batch"),
    "batches": lambda c: c.batches.create(
        input_file_id="file-x", endpoint="/v1/chat/completions", completion_window="24h"
    ),
    "vector_stores": lambda c: c.vector_stores.create(name="x"),
    "fine_tuning": lambda c: c.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-x"),
    "containers": lambda c: c.containers.create(name="x"),
    "chat": lambda c: c.conversations.create(),
    "audio": lambda c: c.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF")),
    "images": lambda c: c.images.generate(model="gpt-image-1", prompt="x"),
}


def test_every_group_needs_its_scope_read_only_cannot_write_and_write_can(gw: Gateway) -> None:
    for group, write in WRITES.items():
        before = len(gw.fake.requests)
        none = gw.client(gw.key(scopes={group: "none"}))
        with pytest.raises(openai.PermissionDeniedError) as refused:
            write(none)
        assert refused.value.code == "permission_denied", (group, refused.value.body)
        if group in READS:
            with pytest.raises(openai.PermissionDeniedError):
                READS[group](none)
        read_only = gw.client(gw.key(scopes={group: "read"}))
        with pytest.raises(openai.PermissionDeniedError):
            write(read_only)
        assert len(gw.fake.requests) == before, f"{group}: a refused request reached the upstream"
        if group in READS:
            READS[group](read_only)
            assert len(gw.fake.requests) == before + 1, group
        try:
            write(gw.client(gw.key(scopes={group: "write"})))  # the group's write scope is enough
        except openai.NotFoundError as err:  # past the scope check: ownership (stage 5b) knows no file-x
            assert err.code == "object_not_found", (group, err.body)


def test_a_read_only_key_cannot_delete(gw: Gateway) -> None:
    owner = "m-" + secrets.token_hex(4)
    members.add(gw.cp, LOCAL_OPERATOR, owner)
    file = gw.client(gw.key(member=owner)).files.create(file=("x.jsonl", b"{}"), purpose="batch")
    read_only = gw.client(gw.key(member=owner, scopes={"files": "read"}))  # the same member's other key
    assert read_only.files.retrieve(file.id).id == file.id
    with pytest.raises(openai.PermissionDeniedError):
        read_only.files.delete(file.id)
    assert gw.fake.get("file", file.id) is not None


def test_ephemeral_realtime_keys_are_refused(gw: Gateway) -> None:
    client = gw.client(gw.key())
    before = len(gw.fake.requests)
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.realtime.client_secrets.create(session={"type": "realtime", "model": "gpt-realtime"})
    assert refused.value.code == "ephemeral_keys_refused"
    assert len(gw.fake.requests) == before


# -- zero retention ----------------------------------------------------------------------------


def test_zero_retention_refuses_stored_objects_and_state(gw: Gateway) -> None:
    team = gw.team(zero_retention=True)
    client = gw.client(gw.key(team=team, allow_store=True))
    before = len(gw.fake.requests)
    creators = [
        lambda: client.files.create(file=("x.jsonl", b"{}"), purpose="batch"),
        lambda: client.uploads.create(bytes=1, filename="x", mime_type="text/plain", purpose="batch"),
        lambda: client.batches.create(input_file_id="file-x", endpoint="/v1/responses", completion_window="24h"),
        lambda: client.vector_stores.create(name="x"),
        lambda: client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-x"),
        lambda: client.containers.create(name="x"),
        lambda: client.conversations.create(),
        lambda: client.responses.create(model="gpt-4o", input="x", background=True),
        lambda: client.responses.create(model="gpt-4o", input="x", previous_response_id="resp_abc"),
        lambda: client.responses.create(model="gpt-4o", input="x", conversation="conv_abc"),
        lambda: client.responses.create(model="gpt-4o", input="x", prompt_cache_retention="24h"),
    ]
    for create in creators:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            create()
        assert refused.value.code == "zero_retention", refused.value.body
    assert len(gw.fake.requests) == before, "a refused request reached the upstream"

    # store is forced off even though the key allows storing; plain requests pass.
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], store=True)
    assert json.loads(gw.fake.last.body)["store"] is False
    client.responses.create(model="gpt-4o", input="x", background=False)
    assert json.loads(gw.fake.last.body)["store"] is False
    assert client.files.list() is not None  # reading what exists is allowed


def test_zero_retention_on_a_key_alone_and_without_it_storing_works(gw: Gateway) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        gw.client(gw.key(zero_retention=True)).vector_stores.create(name="x")
    assert gw.client(gw.key()).vector_stores.create(name="x").id.startswith("vs_")


# -- multipart bad input and privacy -----------------------------------------------------------


def post(gw: Gateway, path: str, key: str, body: bytes, content_type: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
    return httpx.post(gw.url + "/v1" + path, content=body, headers=headers)


def form(fields: dict[str, str], boundary: str = "b0undary", closed: bool = True) -> bytes:
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n')
    return ("".join(parts) + (f"--{boundary}--\r\n" if closed else "")).encode()


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == code


def test_multipart_bad_input_is_a_clear_4xx(gw: Gateway) -> None:
    key = gw.key()
    before = len(gw.fake.requests)
    good = form({"model": "whisper-1"})
    assert_error(post(gw, "/audio/transcriptions", key, b'{"model": "whisper-1"}', "application/json"), 415,
                 "unsupported_media_type")  # fmt: skip
    assert_error(post(gw, "/audio/transcriptions", key, good, "multipart/form-data"), 400, "invalid_multipart")
    assert_error(post(gw, "/audio/transcriptions", key, good, "multipart/mixed; boundary=b0undary"), 415,
                 "unsupported_media_type")  # fmt: skip
    cut = form({"model": "whisper-1"}, closed=False)
    assert_error(post(gw, "/audio/transcriptions", key, cut, "multipart/form-data; boundary=b0undary"), 400,
                 "invalid_multipart")  # fmt: skip
    wrong = form({"model": "whisper-1"}, boundary="other")
    assert_error(post(gw, "/audio/transcriptions", key, wrong, "multipart/form-data; boundary=b0undary"), 400,
                 "invalid_multipart")  # fmt: skip
    streaming = form({"model": "whisper-1", "stream": "maybe"})
    assert_error(post(gw, "/audio/transcriptions", key, streaming, "multipart/form-data; boundary=b0undary"), 400,
                 "invalid_request")  # fmt: skip
    huge = form({"model": "whisper-1", "prompt": "x" * (MAX_BODY + 1)})
    assert_error(post(gw, "/audio/transcriptions", key, huge, "multipart/form-data; boundary=b0undary"), 413,
                 "request_too_large")  # fmt: skip
    assert_error(post(gw, "/files", key, b"{}", "application/json"), 415, "unsupported_media_type")
    assert_error(post(gw, "/embeddings", key, good, "multipart/form-data; boundary=b0undary"), 415,
                 "unsupported_media_type")  # fmt: skip
    assert len(gw.fake.requests) == before, "bad input reached the upstream"


def test_the_model_in_a_form_is_held_to_the_model_allowlist(gw: Gateway) -> None:
    client = gw.client(gw.key(models=["whisper-1"]))
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", b"RIFF"))
    assert refused.value.code == "model_not_allowed"
    assert client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF")).text.endswith("whisper-1")


def test_text_fields_of_a_form_are_scanned_and_file_parts_are_not(gw: Gateway) -> None:
    secret = "sk-proj-" + "Zq8RkV3mW1xT6nB9" * 3
    client = gw.client(gw.key())
    before = len(gw.fake.requests)
    with pytest.raises(openai.BadRequestError) as blocked:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF"), prompt=f"key {secret}")
    assert blocked.value.code == "secret_detected"
    masking = gw.client(gw.key(privacy={"pii": {"email": "mask"}}))
    with pytest.raises(openai.BadRequestError) as refused:
        masking.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF"), prompt="ask ann@example.com")
    assert refused.value.code == "form_redaction_unsupported"
    assert len(gw.fake.requests) == before
    # A file part is not content-scanned (docs/PRIVACY.md, Known limits): it goes as sent.
    client.files.create(file=("notes.txt", b"mail ann@example.com"), purpose="assistants")
    assert b"ann@example.com" in gw.fake.last.body


def test_a_body_sent_with_a_bodiless_request_is_not_forwarded(gw: Gateway) -> None:
    key = gw.key()
    file = gw.client(key).files.create(file=("x.jsonl", b"{}"), purpose="batch")
    response = httpx.request(
        "GET", f"{gw.url}/v1/files/{file.id}", content=b'{"x": 1}', headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200
    assert gw.fake.last.body == b"" and gw.fake.last.path == f"/v1/files/{file.id}"


def test_a_binary_answer_holding_the_provider_key_is_scrubbed(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    key = gw.key()
    file = gw.client(key).files.create(file=("echo.bin", b"placeholder"), purpose="batch")
    leak = b"\x00" * 70000 + b"token=" + gw.provider_key.encode() + b"\xff" * 100
    gw.fake.contents[file.id] = leak
    content = gw.client(key).files.content(file.id).content
    assert gw.provider_key.encode() not in content
    assert content.startswith(b"\x00" * 70000 + b"token=[provider credential removed]")
    assert content.endswith(b"\xff" * 100)


# -- realtime over WebSocket -------------------------------------------------------------------


def test_realtime_session_through_the_gateway_with_the_vault_key_and_scrubbed_answers(gw: Gateway) -> None:
    key = gw.key()
    before = len(gw.fake.realtime_sessions)
    with gw.client(key).realtime.connect(model="gpt-realtime") as connection:
        assert connection.recv().type == "session.created"
        connection.send({"type": "response.create"})
        done = connection.recv()
        assert done.type == "response.done"
        text = done.response.output[0].content[0].text  # type: ignore[union-attr,index]
    assert text.startswith("answer for gpt-realtime; you sent Bearer [provider credential removed]")
    session = gw.fake.realtime_sessions[before]
    assert session["headers"]["authorization"] == f"Bearer {gw.provider_key}"  # the vault's, never the member's
    assert key not in json.dumps(session) and session["query"] == "model=gpt-realtime"
    assert [e["type"] for e in session["events"]] == ["response.create"]


def test_realtime_needs_the_realtime_write_scope_a_good_key_and_an_allowed_model(gw: Gateway) -> None:
    from websockets.exceptions import InvalidStatus

    before = len(gw.fake.realtime_sessions)
    refusals = [
        (gw.key(scopes={"realtime": "read"}), "gpt-realtime", 403),
        (gw.key(scopes={"realtime": "none"}), "gpt-realtime", 403),
        (gw.key(models=["gpt-4o"]), "gpt-realtime", 403),
        ("vg_live_not-a-key", "gpt-realtime", 401),
    ]
    for key, model, status in refusals:
        with pytest.raises(InvalidStatus) as refused, gw.client(key).realtime.connect(model=model) as connection:
            connection.recv()
        assert refused.value.response.status_code == status
    assert len(gw.fake.realtime_sessions) == before, "a refused session reached the upstream"
    plain = httpx.get(gw.url + "/v1/realtime?model=gpt-realtime", headers={"Authorization": f"Bearer {gw.key()}"})
    assert_error(plain, 426, "websocket_required")


def test_a_browser_key_subprotocol_authenticates_and_is_never_echoed(gw: Gateway) -> None:
    from websockets.sync.client import connect

    key = gw.key()
    url = gw.url.replace("http://", "ws://") + "/v1/realtime?model=gpt-realtime"
    with connect(url, subprotocols=["realtime", f"openai-insecure-api-key.{key}"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "realtime"
        assert json.loads(ws.recv())["type"] == "session.created"
    assert gw.fake.realtime_sessions[-1]["headers"]["authorization"] == f"Bearer {gw.provider_key}"


def test_a_kill_switch_ends_a_running_realtime_session(gw: Gateway) -> None:
    name = "m-" + secrets.token_hex(4)
    members.add(gw.cp, LOCAL_OPERATOR, name)
    key = keys.create(gw.cp, LOCAL_OPERATOR, name, policy={}).token
    gw.sync()
    with gw.client(key).realtime.connect(model="gpt-realtime") as connection:
        assert connection.recv().type == "session.created"
        members.suspend(gw.cp, LOCAL_OPERATOR, name)
        event = connection.recv()
        assert event.type == "error" and event.error.code == "session_revoked"  # type: ignore[union-attr]
        assert "suspended" in event.error.message  # type: ignore[union-attr]


def test_a_realtime_session_holds_one_concurrency_slot_until_it_ends(gw: Gateway) -> None:
    from websockets.exceptions import InvalidStatus

    name = "m-" + secrets.token_hex(4)
    members.add(gw.cp, LOCAL_OPERATOR, name)
    key = keys.create(gw.cp, LOCAL_OPERATOR, name, limits={"concurrency": 1}).token
    gw.sync()
    client = gw.client(key)
    with client.realtime.connect(model="gpt-realtime") as first:
        assert first.recv().type == "session.created"
        with pytest.raises(InvalidStatus) as refused, client.realtime.connect(model="gpt-realtime") as second:
            second.recv()
        assert refused.value.response.status_code == 429
    deadline = time.monotonic() + 10
    while True:  # the slot is freed when the gateway sees the close (asynchronously)
        try:
            with client.realtime.connect(model="gpt-realtime") as again:
                assert again.recv().type == "session.created"
            break
        except InvalidStatus:
            assert time.monotonic() < deadline, "the slot was never freed"
            time.sleep(0.05)


def test_a_download_that_breaks_off_is_a_broken_transfer_never_a_short_file(gw: Gateway) -> None:
    client = gw.client(gw.key())
    file = client.files.create(file=("big.bin", bytes(range(256)) * 400), purpose="batch")
    gw.fake.broken_downloads.add(file.id)
    with pytest.raises(openai.APIConnectionError):
        client.files.content(file.id).read()
    gw.fake.broken_downloads.discard(file.id)
    assert client.files.content(file.id).content == bytes(range(256)) * 400


# -- Azure-shaped clients ----------------------------------------------------------------------


def test_the_azure_sdk_client_reaches_every_group_through_the_gateway(gw: Gateway) -> None:
    """``AzureOpenAI`` pointed at vaultgate (``/openai/...?api-version=``, the deployment in the path for the
    deployment-scoped endpoints) reaches every group as plain OpenAI requests to the provider."""
    azure = openai.AzureOpenAI(
        azure_endpoint=gw.url, api_key=gw.key(allow_store=True), api_version="2024-10-21", max_retries=0
    )
    reply = azure.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    file = azure.files.create(file=("input.jsonl", b'{"custom_id": "1"}\n'), purpose="batch")
    assert file.id in [f.id for f in azure.files.list()]
    assert azure.files.content(file.id).content == b'{"custom_id": "1"}\n'
    batch = azure.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert azure.batches.retrieve(batch.id).id == batch.id
    store = azure.vector_stores.create(name="docs")
    assert azure.vector_stores.files.create(vector_store_id=store.id, file_id=file.id).id == file.id
    job = azure.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=file.id)
    assert azure.fine_tuning.jobs.retrieve(job.id).id == job.id
    response = azure.responses.create(model="gpt-4o", input="hi")
    assert azure.responses.retrieve(response.id).id == response.id
    conversation = azure.conversations.create()
    assert azure.conversations.retrieve(conversation.id).id == conversation.id
    container = azure.containers.create(name="sandbox")
    assert azure.containers.retrieve(container.id).id == container.id
    text = azure.audio.transcriptions.create(model="gpt-4o-transcribe", file=("a.wav", b"RIFF" + bytes(64)))
    assert text.text
    assert azure.images.generate(model="gpt-image-1", prompt="a cat").data
    azure.files.delete(file.id)
    upstream_paths = {r.path for r in gw.fake.requests[-40:]}
    assert not any(path.startswith("/openai") for path in upstream_paths), "the provider gets plain OpenAI paths"
    assert not any(b"api-version" in r.query for r in gw.fake.requests[-40:])
