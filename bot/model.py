"""Training a project into a model, and the versioned model artifacts in `models/`.

A model file is `models/<timestamp>-<fingerprint>.zhike` (`-2`, … for another one of the
same second): a small JSON header line followed by the pickled `TrainedModel`. The
fingerprint hashes every project file the model learned from, so `zhike train` can skip
work when nothing changed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bot
from bot.dialogue.policies import PolicyEnsemble
from bot.errors import ModelNotFound, ZhikeError
from bot.nlu.pipeline import Interpreter
from bot.nlu.types import NLUData
from bot.project.config import ProjectConfig
from bot.project.domain import Domain
from bot.project.loader import Project, data_files, domain_files

MODEL_SUFFIX = ".zhike"
_COPY = re.compile(r"^\d{8}-\d{6}-[0-9a-f]+-(\d+)\.zhike$")
FORMAT_VERSION = 1


@dataclass
class TrainedModel:
    domain: Domain
    config: ProjectConfig
    interpreter: Interpreter
    policies: PolicyEnsemble
    intent_labels: dict[str, str]
    fingerprint: str = ""
    trained_at: float = field(default_factory=time.time)
    timings: dict[str, float] = field(default_factory=dict)
    zhike_version: str = bot.__version__

    @property
    def language(self) -> str:
        return self.config.language


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of Zhike's own source: a model pickled by other code is retrained, not loaded."""
    digest = hashlib.sha256()
    package = Path(bot.__file__).parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def fingerprint(root: Path) -> str:
    """Hash of the files a model is trained from (domain, config, data) and of the code."""
    digest = hashlib.sha256()
    files = [*domain_files(root), *data_files(root), root / "config.yml"]
    for path in sorted(p for p in files if p.exists()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    digest.update(bot.__version__.encode())
    digest.update(code_fingerprint().encode())
    return digest.hexdigest()[:12]


def intent_labels(nlu: NLUData) -> dict[str, str]:
    """A short, typical example per intent, used to label clarification buttons."""
    by_intent: dict[str, list[str]] = {}
    for ex in nlu.examples:
        by_intent.setdefault(ex.intent.split("/", 1)[0], []).append(ex.text)
    labels = {}
    for intent, texts in by_intent.items():
        head = texts[:8]
        labels[intent] = min(head, key=lambda t: (abs(len(t) - 6), len(t)))
    return labels


def train(project: Project, progress: Callable[[str], None] | None = None) -> TrainedModel:
    started = time.perf_counter()
    domain = project.domain
    known = set(domain.intents)
    nlu = NLUData(
        examples=[e for e in project.nlu.examples if e.intent.split("/", 1)[0] in known],
        synonyms=project.nlu.synonyms,
        regexes=project.nlu.regexes,
        lookups=project.nlu.lookups,
        language=project.config.language,
    )
    interpreter = Interpreter(project.config.pipeline, project.config.language)
    timings = interpreter.train(nlu, progress) if nlu.examples else {}
    if progress:
        progress("policies")
    t0 = time.perf_counter()
    policies = PolicyEnsemble(domain, {p.name: p.options for p in project.config.policies})
    policies.train(project.stories, project.rules)
    timings["policies"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - started
    return TrainedModel(
        domain=domain,
        config=project.config,
        interpreter=interpreter,
        policies=policies,
        intent_labels=intent_labels(nlu),
        fingerprint=fingerprint(project.root),
        timings=timings,
    )


def save(model: TrainedModel, models_dir: Path) -> Path:
    models_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(model.trained_at))
    path = _unused(models_dir, f"{stamp}-{model.fingerprint}")
    header = {
        "format": FORMAT_VERSION,
        "zhike_version": model.zhike_version,
        "fingerprint": model.fingerprint,
        "trained_at": model.trained_at,
        "language": model.language,
        "intents": len(model.intent_labels),
        "timings": {k: round(v, 3) for k, v in model.timings.items()},
    }
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(json.dumps(header, ensure_ascii=False).encode() + b"\n")
        pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)  # atomic: a running server never sees half a model
    return path


def _unused(models_dir: Path, name: str) -> Path:
    """A model file name not taken yet: written models are never replaced (a second training
    of the same project within one second gets `-2`, …; `latest` orders them by mtime)."""
    path, n = models_dir / f"{name}{MODEL_SUFFIX}", 1
    while path.exists():
        n += 1
        path = models_dir / f"{name}-{n}{MODEL_SUFFIX}"
    return path


def _copy_number(path: Path) -> int:
    """`n` of a `…-<fingerprint>-<n>.zhike` name (see `_unused`), else 1."""
    found = _COPY.search(path.name)
    return int(found.group(1)) if found else 1


def read_header(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        header: dict[str, Any] = json.loads(fh.readline())
    return header


def load(path: Path) -> TrainedModel:
    if path.is_dir():
        path = latest(path)
    try:
        with path.open("rb") as fh:
            header = json.loads(fh.readline())
            if header.get("format") != FORMAT_VERSION:
                raise ZhikeError(
                    f"模型格式版本 {header.get('format')} 不受支持，请重新训练 / "
                    f"model format {header.get('format')} is not supported, please retrain"
                )
            model = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, json.JSONDecodeError, EOFError, AttributeError) as exc:
        raise ZhikeError(
            f"模型文件无法读取：{path} / cannot read model file {path}: {exc}"
        ) from exc
    if not isinstance(model, TrainedModel):
        raise ZhikeError(f"不是知客模型文件 / not a Zhike model: {path}")
    return model


def latest(models_dir: Path) -> Path:
    files = list(models_dir.glob(f"*{MODEL_SUFFIX}")) if models_dir.is_dir() else []
    # by the training time in the name; models of the same second by when they were written
    files.sort(key=lambda p: (p.name[:15], p.stat().st_mtime_ns, _copy_number(p)))
    if not files:
        raise ModelNotFound(
            f"在 {models_dir} 中没有找到模型，请先运行 `zhike train` / "
            f"no model found in {models_dir}; run `zhike train` first"
        )
    return files[-1]
