"""A labelled corpus of realistic files with true and false secret cases, generated at run time.

Nothing secret-shaped is stored in the repository: every value comes from a template
expanded with a seeded generator (see ``vaultgate.detect.examples``). ``build()`` returns
the files and, for each true case, the path, 1-based line and rule the scanner must report;
every other finding is a false positive. The false cases are near misses that real
repositories are full of: documentation placeholders, checksums, ids, environment lookups,
wrong checksums, public keys.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from vaultgate.detect.examples import expand

SEED = 6

# (kind of name, value template, rule). Names are picked per file format below.
POSITIVES: list[tuple[str, str, str]] = [
    ("openai", "sk-proj-{b64url:74}T3BlbkFJ{b64url:74}", "openai-api-key"),
    ("openai", "sk-svcacct-{b64url:74}T3BlbkFJ{b64url:74}", "openai-api-key"),
    ("openai", "sk-admin-{b64url:74}T3BlbkFJ{b64url:74}", "openai-api-key"),
    ("openai", "sk-{b62:20}T3BlbkFJ{b62:20}", "openai-api-key"),
    ("openai", "sk-None-{b64url:40}T3BlbkFJ{b64url:40}", "openai-api-key"),
    ("openai", "sk-proj-{b64url:156}", "openai-api-key"),
    ("vaultgate", "{vgk}", "vaultgate-token"),
    ("vaultgate", "{vga}", "vaultgate-token"),
    ("vaultgate", "{vgt}", "vaultgate-token"),
    ("vaultgate", "{vgs}", "vaultgate-token"),
    ("azure", "{hex:32}", "azure-api-key"),
    ("anthropic", "sk-ant-api03-{b64url:93}AA", "anthropic-api-key"),
    ("aws", "AKIA{B32:16}", "aws-access-key-id"),
    ("github", "ghp_{b62:36}", "github-token"),
    ("github", "github_pat_{b62:22}_{b62:59}", "github-fine-grained-token"),
    ("slack", "xoxb-{digits:12}-{digits:13}-{b62:24}", "slack-token"),
    ("stripe", "sk_live_{b62:24}", "stripe-live-key"),
    ("stripe", "rk_test_{b62:24}", "stripe-test-key"),
    ("google", "AIza{b64url:35}", "google-api-key"),
    ("password", "{b62:24}", "generic-secret"),
    ("secret", "{b64:40}", "generic-secret"),
    ("secret", "{hex:64}", "generic-secret"),
    ("token", "{b64url:48}", "generic-secret"),
]

NEGATIVES: list[tuple[str, str]] = [
    ("openai", "your-api-key-here"),
    ("openai", "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    ("openai", "sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    ("openai", "sk-..."),
    ("openai", "sk-proj-XXXXXXXXXXXXXXXXXXXXT3BlbkFJXXXXXXXXXXXXXXXXXXXX"),
    ("openai", "${OPENAI_API_KEY}"),
    ("openai", "<your OpenAI key>"),
    ("vaultgate", "{vgk_bad}"),
    ("vaultgate", "vgk_..."),
    ("password", "changeme"),
    ("password", "password123"),
    ("password", "${DB_PASSWORD}"),
    ("password", "your-password-here-please"),
    ("secret", "replace-me-with-a-long-random-string"),
    ("token", "test-token-for-unit-tests"),
    ("checksum", "{hex:64}"),
    ("checksum", "{hex:32}"),
    ("commit", "{hex:40}"),
    ("id", "{hex:8}-{hex:4}-{hex:4}-{hex:4}-{hex:12}"),
    ("public", "{b64:44}"),
    ("url", "https://auth.example.com/oauth2/token"),
    ("path", "/run/secrets/database_password"),
    ("name", "prod/payments/stripe_secret_key"),
    ("words", "created_at_timestamp_desc"),
    ("words", "SomeVeryLongClassNameForTokens"),
    ("aws", "AKIA" + "IOSFODNN7EXAMPLE"),
    ("slack", "xoxb-your-bot-token"),
    ("stripe", "pk_live_{b62:24}"),
    ("google", "AIzaSy-your-key"),
    ("github", "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
]

NAMES: dict[str, list[str]] = {
    "openai": ["OPENAI_API_KEY", "openai_api_key", "OPENAI_KEY", "apiKey", "openai_admin_key"],
    "vaultgate": ["OPENAI_API_KEY", "VAULTGATE_TOKEN", "api_key", "vaultgateKey"],
    "azure": ["AZURE_OPENAI_API_KEY", "azure_openai_key", "AZURE_OPENAI_KEY", "api_key"],
    "anthropic": ["ANTHROPIC_API_KEY", "anthropic_key", "claudeKey"],
    "aws": ["AWS_ACCESS_KEY_ID", "aws_access_key_id", "accessKeyId"],
    "github": ["GITHUB_TOKEN", "gh_token", "githubToken"],
    "slack": ["SLACK_BOT_TOKEN", "slack_token", "slackToken"],
    "stripe": ["STRIPE_SECRET_KEY", "stripe_key", "stripeSecret"],
    "google": ["GOOGLE_API_KEY", "maps_api_key", "firebaseApiKey"],
    "password": ["DB_PASSWORD", "db_password", "POSTGRES_PASSWORD", "adminPassword"],
    "secret": ["CLIENT_SECRET", "client_secret", "JWT_SECRET", "SECRET_KEY", "signingSecret"],
    "token": ["API_TOKEN", "auth_token", "ACCESS_TOKEN", "refreshToken"],
    "checksum": ["sha256", "checksum", "etag", "content_md5", "digest"],
    "commit": ["commit", "revision", "GIT_SHA", "build_ref"],
    "id": ["request_id", "trace_id", "tenant_id", "uuid"],
    "public": ["public_key", "PUBLIC_KEY", "verifyKeyPub"],
    "url": ["token_url", "TOKEN_ENDPOINT", "authUrl"],
    "path": ["password_file", "SECRET_PATH", "keyFile"],
    "name": ["secret_name", "SECRET_ID", "keyName"],
    "words": ["sort_key", "cache_key", "tokenizer_class"],
}


@dataclass(frozen=True, slots=True)
class Label:
    """A true case: the scanner must report ``rule`` at ``path``:``line``."""

    path: str
    line: int
    rule: str


@dataclass
class Corpus:
    """Generated files (path to text), their true cases, and the number of false cases."""

    files: dict[str, str] = field(default_factory=dict)
    labels: list[Label] = field(default_factory=list)
    false_cases: int = 0


class _File:
    def __init__(self, corpus: Corpus, path: str) -> None:
        self.corpus, self.path = corpus, path
        self.lines: list[str] = []

    def add(self, text: str, rule: str | None = None, false_case: bool = False) -> None:
        self.lines.append(text)
        if rule is not None:
            self.corpus.labels.append(Label(self.path, len(self.lines), rule))
        if false_case:
            self.corpus.false_cases += 1

    def close(self) -> None:
        self.corpus.files[self.path] = "\n".join(self.lines) + "\n"


def _cases(rng: random.Random, count: int) -> list[tuple[str, str, str | None]]:
    """``count`` (name, value, rule-or-None) cases, about half of them true."""
    cases: list[tuple[str, str, str | None]] = []
    for _ in range(count):
        if rng.random() < 0.5:
            kind, template, rule = rng.choice(POSITIVES)
            cases.append((rng.choice(NAMES[kind]), expand(template, rng), rule))
        else:
            kind, template = rng.choice(NEGATIVES)
            cases.append((rng.choice(NAMES[kind]), expand(template, rng), None))
    return cases


def _env(corpus: Corpus, rng: random.Random, index: int) -> None:
    f = _File(corpus, f"services/svc{index}/.env")
    f.add("# local settings, do not commit")
    f.add(f"PORT={rng.randint(3000, 9000)}")
    for name, value, rule in _cases(rng, 8):
        f.add(f"{name.upper()}={value}", rule, rule is None)
        if rng.random() < 0.3:
            f.add("")
    f.close()


def _yaml(corpus: Corpus, rng: random.Random, index: int) -> None:
    f = _File(corpus, f"deploy/env{index}/values.yaml")
    f.add("service:")
    f.add(f"  replicas: {rng.randint(1, 5)}")
    f.add("  image: registry.example.com/api@sha256:" + expand("{hex:64}", rng), None, True)
    f.add("  env:")
    for name, value, rule in _cases(rng, 7):
        quote = rng.choice(["", '"', "'"])
        f.add(f"    {name}: {quote}{value}{quote}", rule, rule is None)
    f.close()


def _json(corpus: Corpus, rng: random.Random, index: int) -> None:
    f = _File(corpus, f"config/app{index}.json")
    f.add("{")
    f.add(f'  "name": "app{index}",')
    f.add('  "integrity": "sha512-' + expand("{b64:86}", rng) + '==",', None, True)
    for name, value, rule in _cases(rng, 7):
        f.add(f"  {json.dumps(name)}: {json.dumps(value)},", rule, rule is None)
    f.add('  "debug": false')
    f.add("}")
    f.close()


def _python(corpus: Corpus, rng: random.Random, index: int) -> None:
    f = _File(corpus, f"src/pkg/module{index}.py")
    f.add("import os")
    f.add("from openai import OpenAI")
    f.add("")
    f.add('api_key = os.environ["OPENAI_API_KEY"]', None, True)
    f.add("key = lambda item: item.created_at", None, True)
    for name, value, rule in _cases(rng, 6):
        f.add(f"{name} = {json.dumps(value)}", rule, rule is None)
    if rng.random() < 0.5:
        f.add("client = AzureOpenAI(")
        f.add('    azure_endpoint="https://acme-prod.openai.azure.com/",')
        f.add(f'    api_key="{expand("{hex:32}", rng)}",', "azure-api-key")
        f.add(")")
    else:
        key = expand("sk-proj-{b64url:74}T3BlbkFJ{b64url:74}", rng)
        f.add(f'client = OpenAI(api_key="{key}")', "openai-api-key")
    f.close()


def _fixture(corpus: Corpus, rng: random.Random, index: int) -> None:
    f = _File(corpus, f"tests/test_client{index}.py")
    f.add("import pytest")
    f.add("")
    f.add("FAKE_KEY = " + json.dumps("sk-test-" + "x" * 40), None, True)
    f.add('DOC_KEY = "sk-proj-abc123"', None, True)
    f.add('EXPECTED_SHA = "' + expand("{hex:40}", rng) + '"', None, True)
    f.add(f'BAD_TOKEN = "{expand("{vgk_bad}", rng)}"', None, True)
    f.add('password = "hunter2"', None, True)
    f.add("def test_rejects_unknown_key(client):")
    value = expand(rng.choice(["{vgk}", "sk-proj-{b64url:74}T3BlbkFJ{b64url:74}"]), rng)
    rule = "vaultgate-token" if value.startswith("vg") else "openai-api-key"
    f.add(
        f'    response = client.get("/v1/models", headers={{"Authorization": "Bearer {value}"}})',
        rule,
    )
    f.add("    assert response.status_code == 401")
    f.close()


def _notebook(corpus: Corpus, rng: random.Random, index: int) -> None:
    f = _File(corpus, f"notebooks/explore{index}.ipynb")
    f.add('{"cells": [')
    f.add(' {"cell_type": "code", "metadata": {}, "outputs": [], "source": [')
    f.add('   "import os\\n",')
    for name, value, rule in _cases(rng, 5):
        line = json.dumps(f"os.environ[{json.dumps(name)}] = {json.dumps(value)}\n")
        f.add(f"   {line},", rule, rule is None)
    f.add('   "print(1)"')
    f.add(" ]}")
    f.add('], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    f.close()


def _minified(corpus: Corpus, rng: random.Random, index: int) -> None:
    parts = ['!function(){"use strict";var e={}']
    rules = []
    for name, value, rule in _cases(rng, 6):
        parts.append(f"{name}:{json.dumps(value)}")
        if rule is None:
            corpus.false_cases += 1
        else:
            rules.append(rule)
    parts.append('logo:"data:image/png;base64,' + expand("{b64:400}", rng) + '"')
    parts.append('hash:"' + expand("{hex:64}", rng) + '"}()')
    path = f"static/js/app{index}.min.js"
    corpus.files[path] = ",".join(parts) + "\n"
    corpus.labels.extend(Label(path, 1, rule) for rule in rules)


def _pem(corpus: Corpus, rng: random.Random, index: int) -> None:
    kind = rng.choice(["RSA", "EC", "OPENSSH", "-"])
    path = f"deploy/keys/server{index}.key"
    corpus.files[path] = expand("{pem:" + kind + "}", rng) + "\n"
    corpus.labels.append(Label(path, 1, "private-key"))
    # The same key inside a service-account JSON, newlines escaped.
    account = {"type": "service_account", "private_key": expand("{pem:-}", rng) + "\n"}
    path = f"deploy/keys/account{index}.json"
    corpus.files[path] = json.dumps(account, indent=2) + "\n"
    corpus.labels.append(Label(path, 3, "private-key"))


def _readme(corpus: Corpus, rng: random.Random, index: int) -> None:
    f = _File(corpus, f"docs/guide{index}.md")
    f.add("# Getting started")
    f.add("Set your key: `export OPENAI_API_KEY=sk-...`", None, True)
    f.add("```bash")
    f.add(
        'curl -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.com/v1/models',
        None,
        True,
    )
    f.add("export OPENAI_API_KEY=your-api-key-here", None, True)
    f.add("```")
    f.add("The member key looks like `vgk_AbCd…wxyz` in listings.", None, True)
    f.add("Endpoint: https://YOUR-RESOURCE.openai.azure.com/")
    f.add("Example deployment id: " + expand("{hex:32}", rng), None, True)
    f.close()


GENERATORS = (_env, _yaml, _json, _python, _fixture, _notebook, _minified, _pem, _readme)


def build(seed: int = SEED, per_kind: int = 15) -> Corpus:
    """The corpus: ``per_kind`` files of each kind, deterministic for a given ``seed``."""
    rng = random.Random(seed)
    corpus = Corpus()
    for generator in GENERATORS:
        for index in range(per_kind):
            generator(corpus, rng, index)
    return corpus
