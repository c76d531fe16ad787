"""`zhike shell` through a real pipe: raw bytes on stdin, replies on stdout, nothing on fire."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from bot import model as model_io
from bot.messages import Button, OutboundMessage
from bot.model import TrainedModel
from bot.shell import BYE, button_payload, render

TIMEOUT = 240
GREETINGS = {
    "您好，欢迎光临小知茶饮！请问今天想喝点什么？",
    "您好！我是小知，可以帮您点饮品，也可以解答门店的常见问题。",
}
IAMABOT = "您好，我是小知茶饮的智能客服助手，不是真人哦。"


@dataclass(slots=True)
class ShellRun:
    code: int
    stdout: str
    stderr: str

    @property
    def replies(self) -> list[str]:
        """The bot's text lines, without the speaker prefix."""
        return [
            line.removeprefix("小知: ")
            for line in self.stdout.splitlines()
            if line.startswith("小知: ")
        ]


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, zh_root: Path, zh_model: TrainedModel
) -> Path:
    """A copy of zh_mini holding the session's trained model, so the shell trains nothing."""
    root = tmp_path_factory.mktemp("shell") / "zh_mini"
    shutil.copytree(zh_root, root)
    model_io.save(zh_model, root / "models")
    return root


def lines(*texts: str) -> bytes:
    return "".join(f"{t}\n" for t in texts).encode("utf-8")


CONVERSATION = lines("你好", "我要点单", "杨枝甘露吧", "2", "不加糖", "确认", "/stop", "再见")
BAD_INPUT = [
    b"",
    b"   ",
    b"\t \r",
    "好".encode() * 35_000,  # ~100 kB on one line
    b"x" * 100_000,
    "😀🎉👍🏻👨‍👩‍👧".encode(),
    b"\x00\x01\x02\x07\x08\x0b\x0c\x1b[31m\x1b]0;title\x07\x7f",
    "我想点杯milk tea，サイズはＬ，크게 주세요，مرحبا".encode(),
    b"\xff\xfe\xc3\x28 \xe4\xbd \xed\xa0\x80 \xf4\x90\x80\x80",  # invalid UTF-8
    "\u202e\u200b\ufeff\u2028\u2029".encode(),
    "[/inform] [bold]粗体[/bold] [link=x]".encode(),
    "²".encode(),
    "①".encode(),
    b"9" * 5000,  # more digits than int() accepts
    b"0",
    b"-1",
    b"999",
]
# `/restart` clears whatever the noise started; the last line has no newline: EOF right after it
BAD_SESSION = b"\n".join([*BAD_INPUT, b"/restart", "你是机器人吗".encode()])
CRLF_SESSION = "我要点单\r\n杨枝甘露\r\n３\r\n全糖\r\n".encode()
SESSIONS = {"conversation": CONVERSATION, "bad": BAD_SESSION, "crlf": CRLF_SESSION}


@pytest.fixture(scope="module")
def runs(project: Path) -> dict[str, ShellRun]:
    """Each session in its own `zhike shell` process, all at once."""
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    command = [sys.executable, "-m", "bot.cli", "shell", "--project", str(project)]
    procs = {
        name: subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=project.parent,
            env=env,
        )
        for name in SESSIONS
    }
    done = {}
    for name, proc in procs.items():
        out, err = proc.communicate(SESSIONS[name], timeout=TIMEOUT)
        done[name] = ShellRun(proc.returncode, out.decode("utf-8"), err.decode("utf-8"))
    return done


@pytest.mark.parametrize("session", sorted(SESSIONS))
def test_exits_cleanly(session: str, runs: dict[str, ShellRun]) -> None:
    run = runs[session]
    assert "Traceback" not in run.stderr, run.stderr
    assert run.code == 0, run.stderr
    assert "/stop" in run.stderr  # the usage hint


# ------------------------------------------------------------------------------ subprocess
def test_chinese_conversation_with_buttons_until_stop(runs: dict[str, ShellRun]) -> None:
    run = runs["conversation"]
    replies = run.replies
    assert replies[0] in GREETINGS
    assert replies[1:] == [
        "请问您想点哪款饮品呢？",
        "请问您需要大杯、中杯还是小杯？",
        "请问甜度需要全糖、半糖、少糖还是无糖？",
        # "2" picked the second button: its payload set size=中杯
        "好的，为您确认一下：杨枝甘露，中杯，无糖。",
        "请问确认下单吗？",
        "已为您下单，请稍候取餐，感谢您的耐心等待。",
    ]
    # buttons are numbered under their message
    out = run.stdout.splitlines()
    ask = out.index("小知: 请问您需要大杯、中杯还是小杯？")
    assert out[ask + 1 : ask + 4] == ["    1. 大杯", "    2. 中杯", "    3. 小杯"]
    # nothing after /stop was answered ("再见" would get the goodbye)
    assert "感谢您的光临，祝您生活愉快，再见！" not in replies


def test_bad_input_then_end_of_input(runs: dict[str, ShellRun]) -> None:
    replies = runs["bad"].replies
    assert replies, runs["bad"].stdout
    # the conversation survived every line above and still answers the last (unterminated) one
    assert replies[-1] == IAMABOT
    assert all("\ufffd" not in r for r in replies)  # no mojibake in the bot's own texts


def test_crlf_line_endings_and_full_width_button_number(runs: dict[str, ShellRun]) -> None:
    assert runs["crlf"].replies[-2] == "好的，为您确认一下：杨枝甘露，小杯，全糖。"


# ------------------------------------------------------------------------------ in-process
def rendered(messages: list[OutboundMessage]) -> tuple[str, list[str]]:
    buffer = io.StringIO()
    payloads = render(messages, Console(file=buffer, width=300, soft_wrap=True))
    return buffer.getvalue(), payloads


def test_render_numbers_buttons_across_messages() -> None:
    text, payloads = rendered(
        [
            OutboundMessage("buttons", "请选择", [Button("是", "/affirm"), Button("否", "/deny")]),
            OutboundMessage("buttons", "", [Button("转人工", "/human")]),
        ]
    )
    assert text.splitlines() == ["小知: 请选择", "    1. 是", "    2. 否", "    3. 转人工"]
    assert payloads == ["/affirm", "/deny", "/human"]


def test_render_prints_markup_like_text_verbatim() -> None:
    # regression: "[/inform]" in a bot text used to raise rich's MarkupError
    text, _ = rendered(
        [
            OutboundMessage("text", "回复 [/inform] 或 [bold]粗体[/bold]"),
            OutboundMessage("handoff", "正在为您转接", metadata={"reason": "[/x] 用户要求"}),
            OutboundMessage("custom", metadata={"custom": {"items": ["[/b]"]}}),
        ]
    )
    assert "小知: 回复 [/inform] 或 [bold]粗体[/bold]" in text
    assert "（转人工：[/x] 用户要求）" in text
    assert "{'items': ['[/b]']}" in text


def test_render_link() -> None:
    text, payloads = rendered([OutboundMessage("link", "详情", url="https://example.com/a")])
    assert text.splitlines() == ["小知: 详情", "    🔗 https://example.com/a"]
    assert payloads == []


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1", "/a"),
        ("3", "/c"),
        ("03", "/c"),
        ("３", "/c"),  # full-width digit, as typed with a Chinese IME
        ("0", None),
        ("4", None),
        ("-1", None),
        ("²", None),  # isdigit() but not a number int() accepts
        ("①", None),
        ("1" * 5000, None),
        ("一", None),
        ("", None),
    ],
)
def test_button_payload(typed: str, expected: str | None) -> None:
    assert button_payload(typed, ["/a", "/b", "/c"]) == expected


def test_button_payload_without_buttons() -> None:
    assert button_payload("1", []) is None


def test_bye_words() -> None:
    assert {"/stop", "退出"} <= BYE
