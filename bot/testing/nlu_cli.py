"""`zhike test nlu` and `zhike data convert`: NLU data files in, reports and files out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.errors import ProjectErrors, ZhikeError
from bot.nlu.jsonl import read_jsonl, write_jsonl, write_rasa_yaml
from bot.nlu.pipeline import Interpreter
from bot.nlu.types import NLUData
from bot.project.config import parse_config
from bot.project.loader import load_project
from bot.project.training_loader import TrainingDocs, read_training_doc
from bot.project.yamlio import read_yaml
from bot.testing.nlu_eval import evaluate


def read_nlu_file(path: Path) -> NLUData:
    """JSONL lines or a Rasa YAML NLU file."""
    if not path.exists():
        raise ZhikeError(f"文件不存在：{path} / file not found: {path}")
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    docs = TrainingDocs()
    read_training_doc(docs, read_yaml(path), str(path))
    if docs.errors:
        raise ProjectErrors(docs.errors)
    return docs.nlu


def write_nlu_file(data: NLUData, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        write_jsonl(data, path)
    elif path.suffix in (".yml", ".yaml"):
        write_rasa_yaml(data, path)
    else:
        raise ZhikeError(f"不支持的文件类型 {path.suffix} / unsupported file type {path.suffix}")


def convert(source: Path, target: Path) -> int:
    data = read_nlu_file(source)
    write_nlu_file(data, target)
    return len(data.examples)


def run_nlu_test(project: Path, train_file: Path | None, test_file: Path) -> dict[str, Any]:
    """Train the project's NLU pipeline on `train_file` (default: the project's data), test it."""
    config_path = project / "config.yml"
    config = parse_config(read_yaml(config_path) if config_path.exists() else {}, str(config_path))
    train = read_nlu_file(train_file) if train_file else load_project(project).nlu
    test = read_nlu_file(test_file)
    train.language = config.language
    interpreter = Interpreter(config.pipeline, config.language)

    def train_fn(data: NLUData) -> None:
        interpreter.train(data)

    report = evaluate(train_fn, interpreter.parse, test, train=train)
    result: dict[str, Any] = report.to_dict()
    result["pipeline"] = [c.name for c in config.pipeline]
    return result
