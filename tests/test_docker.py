"""docker/: the compose file and the Dockerfiles are valid, without a container engine.

The compose file is checked by `docker-compose config` (Debian's docker-compose validates the file
against the Compose schema offline). The Dockerfiles are read here: known instructions, FROM first,
every COPY source inside the build context and not excluded by .dockerignore, the pip extras
defined in pyproject.toml, and the entry point a console script the package installs.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker" / "compose.yml"
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
                "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}


def _compose_config(path: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    assert exe, "docker-compose is needed to validate docker/compose.yml: apt-get install docker-compose"
    return subprocess.run([exe, "-f", str(path), "config", "-q"], capture_output=True, text=True)


def test_the_compose_file_is_valid_and_a_broken_one_is_not(tmp_path):
    res = _compose_config(COMPOSE)
    assert res.returncode == 0, res.stderr
    broken = tmp_path / "compose.yml"  # the same check on a typo: it can fail
    broken.write_text(COMPOSE.read_text().replace("image: mariadb:10.11", "imagee: mariadb:10.11"))
    (tmp_path / "mariadb-initdb").mkdir()
    res = _compose_config(broken)
    assert res.returncode != 0 and "imagee" in res.stderr


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, f"{dockerfile}: a continuation line ends the file"
    return out


def _ignored(rel: str, patterns: list[str]) -> bool:
    rel = rel.rstrip("/")
    for p in patterns:
        p = p.strip().rstrip("/").lstrip("/")
        if p.startswith("**/"):
            if any(fnmatch.fnmatch(part, p[3:]) for part in rel.split("/")):
                return True
        elif fnmatch.fnmatch(rel, p) or rel.startswith(p + "/"):
            return True
    return False


def _builds() -> list[tuple[str, Path, Path]]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    out = []
    for name, service in services.items():
        if "build" in service:
            context = (COMPOSE.parent / service["build"]["context"]).resolve()
            out.append((name, context, context / service["build"].get("dockerfile", "Dockerfile")))
    return out


def test_every_service_is_built_or_pulled_and_the_walkthrough_services_exist():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"postgres", "mariadb", "dbsynth"} <= set(services)
    assert all("build" in s or "image" in s for s in services.values())
    assert {name for name, *_ in _builds()} >= {"postgres", "dbsynth"}


@pytest.mark.parametrize("service", ["postgres", "dbsynth"])
def test_the_dockerfiles_are_valid_for_their_build_context(service):
    name, context, dockerfile = next(b for b in _builds() if b[0] == service)
    assert dockerfile.exists(), dockerfile
    steps = _instructions(dockerfile)
    assert steps[0][0] in {"FROM", "ARG"} and any(w == "FROM" for w, _ in steps)
    assert {w for w, _ in steps} <= INSTRUCTIONS, {w for w, _ in steps} - INSTRUCTIONS
    ignore = [p for p in (context / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    assert _ignored(".venv", ignore) and _ignored(".git", ignore)  # a local environment never goes in
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(pyproject["project"]["optional-dependencies"])
    scripts = set(pyproject["project"]["scripts"])
    for word, args in steps:
        if word in {"COPY", "ADD"}:
            parts = json.loads(args) if args.startswith("[") else shlex.split(args)
            parts = [p for p in parts if not p.startswith("--")]
            for src in parts[:-1]:
                assert (context / src).exists(), f"{dockerfile.name}: COPY {src}: not in the build context"
                assert not _ignored(src, ignore), f"{dockerfile.name}: COPY {src}: excluded by .dockerignore"
        if word == "RUN":
            for spec in (t for t in shlex.split(args) if "[" in t and t.endswith("]")):
                wanted = set(spec[spec.index("[") + 1:-1].split(","))
                assert wanted <= extras, f"{dockerfile.name}: unknown extras {wanted - extras}"
        if word == "ENTRYPOINT":
            assert json.loads(args)[0] in scripts
    if service == "postgres":
        runs = " ".join(a for w, a in steps if w == "RUN")
        assert "postgresql-plpython3-15" in runs and "install-extension" in runs
