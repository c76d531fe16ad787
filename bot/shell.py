"""`zhike shell`: chat with the bot in a terminal (or through a pipe, for scripts)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from bot.messages import InboundMessage, OutboundMessage
from bot.runtime import build_engine, load_or_train

BYE = {"/stop", "/exit", "/quit", "退出"}
MAX_BUTTON_DIGITS = 3  # longer numbers are text, and int() of huge strings is refused


def render(messages: list[OutboundMessage], out: Console) -> list[str]:
    """Print bot messages; return the payloads of the buttons shown (in order)."""
    payloads: list[str] = []
    for msg in messages:
        if msg.text:
            out.print(f"[bold cyan]小知[/bold cyan]: {escape(msg.text)}", highlight=False)
        for button in msg.buttons:
            payloads.append(button.payload)
            out.print(f"    {len(payloads)}. {button.title}", markup=False, highlight=False)
        if msg.url:
            out.print(f"    🔗 {msg.url}", markup=False, highlight=False)
        if msg.kind == "handoff":
            reason = escape(str(msg.metadata.get("reason")))
            out.print(f"[dim]（转人工：{reason}）[/dim]", highlight=False)
        if msg.kind == "custom":
            out.print(f"[dim]{escape(str(msg.metadata.get('custom')))}[/dim]", highlight=False)
    return payloads


def button_payload(text: str, payloads: list[str]) -> str | None:
    """The payload of button number `text` (1-based; full-width digits too), if there is one."""
    if not text.isdecimal() or len(text) > MAX_BUTTON_DIGITS:
        return None
    number = int(text)
    return payloads[number - 1] if 0 < number <= len(payloads) else None


def read_line() -> str | None:
    raw = sys.stdin.buffer.readline()
    if not raw:
        return None
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


async def run_shell(
    project: Path, conversation: str, store: str, console: Console, out: Console
) -> None:
    with console.status("正在加载模型… / loading model…"):
        model = load_or_train(project)
        engine = build_engine(project, model, store_url=store)
    console.print("[dim]输入消息开始对话，输入 /stop 退出。Type a message; /stop to quit.[/dim]")
    payloads: list[str] = []
    try:
        while True:
            if sys.stdin.isatty():
                out.print("[bold]您[/bold]: ", end="")
            line = await asyncio.to_thread(read_line)
            if line is None or line.strip() in BYE:
                break
            if not line.strip():
                continue
            text = line.strip()
            payload = button_payload(text, payloads)
            message = InboundMessage(
                channel="shell",
                conversation_id=conversation,
                sender_id=conversation,
                text=text,
                payload=payload,
            )
            payloads = render(await engine.handle(message), out)
    finally:
        await engine.close()
