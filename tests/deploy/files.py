"""The deployment files read as their tools read them: compose YAML, Dockerfile instructions, a systemd unit, nginx."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
NGINX = ROOT / "deploy" / "nginx.conf"
UNIT = ROOT / "deploy" / "vaultgate.service"
DEPLOYMENT_DOC = ROOT / "docs" / "DEPLOYMENT.md"
# The image docker-compose.yml builds from the Dockerfile (every vaultgate service runs it).
IMAGE = "vaultgate:local"


def compose() -> dict[str, Any]:
    """docker-compose.yml as compose reads it (YAML merge keys resolved)."""
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def vaultgate_services() -> dict[str, dict[str, Any]]:
    """The compose services that run the vaultgate image."""
    return {name: svc for name, svc in compose()["services"].items() if svc.get("image") == IMAGE}


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its keyword (upper case) and its arguments, continuations joined."""

    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form ENTRYPOINT/CMD/HEALTHCHECK CMD."""
        text = self.arguments
        if self.keyword == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[1]
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
        return value


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, one list per stage (a stage starts at FROM)."""
    stages: list[list[Instruction]] = []
    logical = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, arguments = logical.partition(" ")
        logical = ""
        instruction = Instruction(keyword.upper(), " ".join(arguments.split()))
        if instruction.keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def runtime_stage() -> list[Instruction]:
    """The last stage: what the image runs."""
    return dockerfile_stages()[-1]


def last(stage: list[Instruction], keyword: str) -> Instruction:
    """The stage's last instruction with this keyword (the one in force)."""
    found = [i for i in stage if i.keyword == keyword]
    assert found, f"the Dockerfile's runtime stage has no {keyword}"
    return found[-1]


def image_environment(stage: list[Instruction]) -> dict[str, str]:
    """Every ENV of the stage, as the image's processes see it (``$PATH`` left as written)."""
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.arguments):
                name, sep, value = pair.partition("=")
                assert sep, f"ENV {pair!r}: use the NAME=value form"
                env[name] = value
    return env


def unit_entries() -> dict[str, list[tuple[str, str]]]:
    """The unit file: section -> (key, value) entries in order (keys may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
            continue
        key, _, value = line.partition("=")
        sections[current].append((key.strip(), value.strip()))
    return sections


def unit_value(section: str, key: str) -> str:
    """The last value of ``key`` in ``section`` (systemd's rule for single-valued settings)."""
    values = [v for k, v in unit_entries()[section] if k == key]
    assert values, f"deploy/vaultgate.service has no {key}= in [{section}]"
    return values[-1]


def unit_environment() -> dict[str, str]:
    """The unit's ``Environment=`` assignments."""
    env: dict[str, str] = {}
    for key, value in unit_entries()["Service"]:
        if key == "Environment":
            for pair in shlex.split(value) if value else []:
                name, _, setting = pair.partition("=")
                env[name] = setting  # NAME= sets NAME to the empty string
    return env


def secrets_script() -> str:
    """The shell block docs/DEPLOYMENT.md gives for creating ./secrets (the one after its marker)."""
    text = DEPLOYMENT_DOC.read_text()
    marker = "<!-- secrets: tests/deploy runs the next block -->"
    assert marker in text, "docs/DEPLOYMENT.md lost the marked block that creates ./secrets"
    block = re.search(r"```sh\n(.*?)```", text.split(marker, 1)[1], re.S)
    assert block is not None
    return block.group(1)


def nginx_values(directive: str) -> list[str]:
    """The arguments of every ``directive`` in deploy/nginx.conf (comments removed)."""
    text = "\n".join(line.split("#", 1)[0] for line in NGINX.read_text().splitlines())
    return [m.group(1).strip() for m in re.finditer(rf"(?m)^\s*{re.escape(directive)}\s+([^;{{}}]*);", text)]


def nginx_bytes(size: str) -> int:
    """An nginx size (``20m``, ``512k``, ``1024``) in bytes."""
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    size = size.strip().lower()
    if size[-1] in units:
        return int(size[:-1]) * units[size[-1]]
    return int(size)


def seconds(duration: str) -> float:
    """A compose or systemd duration (``35s``, ``1m30s``, ``35``) in seconds."""
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|min|h|m|s)?", duration.strip())
    assert parts, duration
    for number, unit in parts:
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "": 1}[unit]
    return total
