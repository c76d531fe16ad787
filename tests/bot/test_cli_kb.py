"""`zhike kb import|export|search|eval` on a copy of the zh_mini project with a tea-shop FAQ."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "zh_mini"
    shutil.copytree(FIXTURES / "projects" / "zh_mini", root)
    (root / "kb").mkdir()
    shutil.copy(FIXTURES / "kb" / "tea_faq.yml", root / "kb" / "faq.yml")
    return root


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout + result.stderr


def test_search_prints_scores_and_the_decision(project: Path) -> None:
    code, out = run("kb", "search", "积分能换什么东西", "-p", project)
    assert code == 0, out
    assert "faq_points" in out and "decision:" in out


def test_export_import_round_trip_through_excel(project: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "faq.xlsx"
    code, out = run("kb", "export", sheet, "-p", project)
    assert code == 0 and "exported 7 entries" in out
    code, out = run("kb", "import", sheet, "-p", project)
    assert code == 0 and "imported 7 entries" in out


def test_bad_import_names_row_and_column_and_changes_nothing(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,question,answer\nfaq_a,有答案吗？,\nfaq_b,,没有问题\n", encoding="utf-8")
    code, out = run("kb", "import", bad, "-p", project)
    assert code == 1
    assert "bad.csv:2" in out and "bad.csv:3" in out and "未导入" in out
    code, out = run("kb", "search", "会员积分怎么用？", "-p", project)
    assert "faq_points" in out  # the old entries are still there


def test_eval_reports_the_metrics(project: Path, tmp_path: Path) -> None:
    queries = tmp_path / "q.jsonl"
    lines = [
        {"query": "积分能换什么东西", "gold_id": "faq_points"},
        {"query": "报销需要开票", "gold_id": "faq_invoice"},
        {"query": "晚上几点关门", "gold_id": "faq_hours"},
    ]
    queries.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines), "utf-8")
    report = tmp_path / "report.json"
    code, out = run("kb", "eval", "--queries", queries, "-p", project, "--out", report)
    assert code == 0, out
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["n"] == 3 and data["top1"] == 1.0 and "latency_p99_ms" in data
    kb_file = tmp_path / "kb.jsonl"
    code, _ = run("kb", "export", kb_file, "-p", project)
    code, out = run("kb", "eval", "--queries", queries, "--kb", kb_file)
    assert code == 0 and "top1" in out
