"""`zhike test nlu` (JSONL and Rasa YAML in, JSON report out) and `zhike data convert`."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.errors import ZhikeError
from bot.testing.nlu_cli import read_nlu_file, write_nlu_file


def cli(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def ex(text: str, intent: str, *ents: tuple[str, str, str | None]) -> dict[str, Any]:
    """An example; entities given as (surface, entity, value or None)."""
    entities = []
    for surface, name, value in ents:
        start = text.index(surface)
        entities.append(
            {"start": start, "end": start + len(surface), "entity": name, "value": value or surface}
        )
    return {"text": text, "intent": intent, "entities": entities}


TRAIN = [
    *(ex(t, "greet") for t in ["你好", "您好", "在吗", "早上好", "有人吗", "你好呀"]),
    *(ex(t, "goodbye") for t in ["再见", "拜拜", "回头见", "下次再聊", "我先走了", "晚安"]),
    ex("帮我点一杯珍珠奶茶", "order_drink", ("珍珠奶茶", "drink", None)),
    ex("来一杯杨枝甘露", "order_drink", ("杨枝甘露", "drink", None)),
    ex("我要一杯芋泥波波", "order_drink", ("芋泥波波", "drink", None)),
    ex("想喝抹茶拿铁", "order_drink", ("抹茶拿铁", "drink", None)),
    ex("我要点单", "order_drink"),
    ex("帮我下个单", "order_drink"),
]
TEST = [
    ex("你好", "greet"),
    ex("再见", "goodbye"),
    ex("来一杯杨枝甘露", "order_drink", ("杨枝甘露", "drink", None)),
    ex("我要一杯芋泥波波", "order_drink", ("芋泥波波", "drink", None)),
    # an intent the model never saw: always wrong, so the report must show it
    ex("我要退款", "refund"),
    ex("怎么退钱", "refund"),
]


def to_jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def to_rasa_yaml(rows: list[dict[str, Any]]) -> str:
    """Hand-written Rasa 3.x NLU YAML (not produced by our own writer)."""
    by_intent: dict[str, list[str]] = {}
    for row in rows:
        text = row["text"]
        for e in sorted(row["entities"], key=lambda e: -e["start"]):
            text = f"{text[: e['start']]}[{text[e['start'] : e['end']]}]({e['entity']}){text[e['end'] :]}"
        by_intent.setdefault(row["intent"], []).append(text)
    blocks = [
        f"  - intent: {name}\n    examples: |\n" + "".join(f"      - {t}\n" for t in texts)
        for name, texts in by_intent.items()
    ]
    return 'version: "3.1"\nnlu:\n' + "\n".join(blocks)


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory, zh_root: Path) -> dict[str, dict[str, Any]]:
    """The same data as JSONL and as Rasa YAML, each through `zhike test nlu --out`."""
    root = tmp_path_factory.mktemp("nlu")
    project = root / "project"
    project.mkdir()
    shutil.copy(zh_root / "config.yml", project / "config.yml")
    (root / "train.jsonl").write_text(to_jsonl(TRAIN), encoding="utf-8")
    (root / "test.jsonl").write_text(to_jsonl(TEST), encoding="utf-8")
    (root / "train.yml").write_text(to_rasa_yaml(TRAIN), encoding="utf-8")
    (root / "test.yml").write_text(to_rasa_yaml(TEST), encoding="utf-8")
    out = {}
    for kind in ("jsonl", "yml"):
        report = root / "reports" / f"{kind}.json"
        code, stdout, stderr = cli(
            "test", "nlu", "-p", project,
            "--train", root / f"train.{kind}", "--test", root / f"test.{kind}", "--out", report,
        )  # fmt: skip
        assert code == 0, stderr
        summary = json.loads(stdout)
        out[kind] = json.loads(report.read_text(encoding="utf-8"))
        assert summary["accuracy"] == out[kind]["accuracy"]
        assert summary["parse_latency_ms"] == out[kind]["parse_latency_ms"]
    return out


@pytest.mark.parametrize("kind", ["jsonl", "yml"])
def test_report_fields(kind: str, reports: dict[str, dict[str, Any]]) -> None:
    report = reports[kind]
    assert {
        "accuracy",
        "macro_f1",
        "per_intent",
        "confusions",
        "entities",
        "train_seconds",
        "parse_latency_ms",
    } <= set(report)
    assert report["examples"] == len(TEST)
    assert 0.0 <= report["macro_f1"] <= 1.0
    assert report["train_seconds"] > 0
    latency = report["parse_latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
    assert report["pipeline"][0] == "ZhikeNormalizer"


@pytest.mark.parametrize("kind", ["jsonl", "yml"])
def test_report_counts_are_consistent(kind: str, reports: dict[str, dict[str, Any]]) -> None:
    report = reports[kind]
    per_intent = report["per_intent"]
    gold = Counter(row["intent"] for row in TEST)
    for intent, n in gold.items():
        assert per_intent[intent]["support"] == n
    # "refund" was never trained: never predicted, always confused with something else
    assert per_intent["refund"]["recall"] == 0.0
    confused = sum(c["count"] for c in report["confusions"] if c["gold"] == "refund")
    assert confused == 2
    wrong = sum(c["count"] for c in report["confusions"])
    assert report["accuracy"] == pytest.approx(1 - wrong / len(TEST), abs=1e-3)
    assert report["accuracy"] <= round(4 / 6, 4)
    # the examples the model was trained on are recognised
    assert per_intent["greet"]["recall"] == per_intent["goodbye"]["recall"] == 1.0
    drink = report["entities"]["per_type"]["drink"]
    assert drink["support"] == 2
    assert drink["recall"] > 0


def test_jsonl_and_yaml_inputs_give_the_same_evaluation(
    reports: dict[str, dict[str, Any]],
) -> None:
    jsonl, yml = reports["jsonl"], reports["yml"]
    for key in ("accuracy", "macro_f1", "per_intent", "confusions", "entities", "examples"):
        assert jsonl[key] == yml[key], key


def test_nlu_missing_test_file(tmp_path: Path, zh_root: Path) -> None:
    code, _, stderr = cli("test", "nlu", "-p", zh_root, "--test", tmp_path / "nope.jsonl")
    assert code == 1
    assert "文件不存在" in stderr and "file not found" in stderr


# ------------------------------------------------------------------------------ data convert
ROUND_TRIP = [
    ex("帮我查一下3月的账单", "query_bill", ("3月", "month", None)),
    ex("我要五分糖的奶茶", "order", ("五分糖", "sweetness", "半糖"), ("奶茶", "drink", None)),
    ex("yes", "affirm"),
    ex("null", "deny"),
    ex("no", "deny"),
    ex("- 开头是横线", "odd"),
    ex("key: value # 不是注释", "odd"),
    ex("引号\"双\"和'单'", "odd"),
    ex("😀 表情 🎉", "odd"),
    ex("Tab\t分隔", "odd"),
    ex("faq问题：几点开门", "faq/ask_hours"),
    ex("我要 Large 杯 Latte", "order", ("Large", "size", "大杯"), ("Latte", "drink", "拿铁")),
]
ROUND_TRIP.append(
    {
        "text": "从北京到上海",
        "intent": "travel",
        "entities": [
            {"start": 1, "end": 3, "entity": "city", "value": "北京", "role": "from"},
            {"start": 4, "end": 6, "entity": "city", "value": "上海", "role": "to"},
        ],
    }
)
ROUND_TRIP.append(
    {
        "text": "一杯大杯奶茶",
        "intent": "order",
        "entities": [{"start": 2, "end": 4, "entity": "size", "value": "大杯", "group": "1"}],
    }
)


def canonical(rows: list[dict[str, Any]]) -> list[str]:
    """Order-free comparison: examples are regrouped by intent in YAML."""
    return sorted(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows)


def test_convert_jsonl_yaml_jsonl_round_trip(tmp_path: Path) -> None:
    source, middle, back = tmp_path / "in.jsonl", tmp_path / "out" / "mid.yml", tmp_path / "b.jsonl"
    source.write_text(to_jsonl(ROUND_TRIP), encoding="utf-8")
    code, stdout, stderr = cli("data", "convert", source, middle)
    assert code == 0, stderr
    assert f"已转换 {len(ROUND_TRIP)} 条例句 / converted {len(ROUND_TRIP)} examples" in stdout
    yaml_text = middle.read_text(encoding="utf-8")
    assert yaml_text.startswith('version: "3.1"\nnlu:\n')
    assert '[五分糖]{"entity": "sweetness", "value": "半糖"}' in yaml_text
    assert "- 帮我查一下[3月](month)的账单" in yaml_text
    code, _, stderr = cli("data", "convert", middle, back)
    assert code == 0, stderr
    rows = [json.loads(line) for line in back.read_text(encoding="utf-8").splitlines()]
    assert canonical(rows) == canonical(ROUND_TRIP)


def test_convert_yaml_is_read_like_a_rasa_file(tmp_path: Path, zh_root: Path) -> None:
    target = tmp_path / "nlu.jsonl"
    code, stdout, stderr = cli("data", "convert", zh_root / "data" / "nlu.yml", target)
    assert code == 0, stderr
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert f"已转换 {len(rows)} 条例句" in stdout
    mapped = next(r for r in rows if r["text"] == "来杯中杯乌龙奶茶，五分糖")
    assert mapped["intent"] == "order_drink"
    assert {(e["entity"], e["value"]) for e in mapped["entities"]} == {
        ("size", "中杯"),
        ("drink", "乌龙奶茶"),
        ("sweetness", "半糖"),
    }
    span = next(e for e in mapped["entities"] if e["entity"] == "sweetness")
    assert mapped["text"][span["start"] : span["end"]] == "五分糖"


def test_convert_rejects_unknown_target_type(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(to_jsonl(ROUND_TRIP[:1]), encoding="utf-8")
    code, _, stderr = cli("data", "convert", source, tmp_path / "out.csv")
    assert code == 1
    assert "不支持的文件类型" in stderr and "unsupported file type .csv" in stderr


def test_convert_reports_a_bad_jsonl_line(tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text(to_jsonl(ROUND_TRIP[:2]) + "{not json\n", encoding="utf-8")
    code, _, stderr = cli("data", "convert", source, tmp_path / "out.yml")
    assert code == 1
    assert f"{source}:3" in stderr
    assert not (tmp_path / "out.yml").exists()


def test_read_and_write_helpers(tmp_path: Path) -> None:
    with pytest.raises(ZhikeError, match="file not found"):
        read_nlu_file(tmp_path / "missing.yml")
    data = read_nlu_file(_write(tmp_path / "a.jsonl", to_jsonl(TRAIN)))
    write_nlu_file(data, tmp_path / "deep" / "b.yaml")
    again = read_nlu_file(tmp_path / "deep" / "b.yaml")
    assert [(e.text, e.intent) for e in again.examples] == [
        (e.text, e.intent) for e in data.examples
    ]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
