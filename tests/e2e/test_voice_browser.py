"""Browser end-to-end: the softphone page `/voice` in headless Debian chromium.

The reference bot runs behind the real server with the voice channel (whisper-base test model,
espeak-ng). Chromium's fake microphone plays a committed caller recording ("我想查一下话费",
padded with silence so the caller speaks once, during the greeting); `voice_flow.mjs` dials,
waits for the recognised words and the bot's spoken answer, uses the keypad, hangs up, and
saves screenshots to `tests/e2e/artifacts/` (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.server.app import create_app
from bot.server.live import LiveServer
from bot.server.settings import load_settings
from tests.e2e.conftest import BrowserScript, browser_missing
from voice.audio import read_wav, silence, write_wav

AUDIO = Path(__file__).resolve().parents[1] / "fixtures" / "audio"
CALLER = "13812345678"  # 张伟 in the demo data: balance 86.50

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(reference_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    missing = browser_missing()
    if missing:
        pytest.skip(missing)
    from voice.asr.models import whisper_test_model

    tmp = tmp_path_factory.mktemp("voice-e2e")
    overrides = {
        "tracker_store": f"sqlite:///{tmp / 'trackers.db'}",
        "channels": ("rest", "voice"),
        "channel_config": {"voice": {"asr": "whisper", "prompt_cache": str(tmp / "prompts")}},
        "model_poll_seconds": 0,
        "log_level": "WARNING",
        "log_format": "text",
        "handoff": {"db": str(tmp / "handoff.db"), "hours": "00:00-24:00"},
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ZHIKE_DEMO_DB", str(tmp / "demo.db"))
        patch.setenv("ZHIKE_WHISPER_MODEL", str(whisper_test_model()))
        settings = load_settings(reference_root, env={}, overrides=overrides)
        with LiveServer(create_app(settings)) as live:
            yield live.url


@pytest.fixture(scope="module")
def microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The caller's words 2.5 s after dialling, then a long silence (chromium loops the file)."""
    pcm, rate = read_wav(AUDIO / "query_balance_16k.wav")
    path = tmp_path_factory.mktemp("mic") / "caller.wav"
    write_wav(path, silence(2500, rate) + pcm + silence(30_000, rate), rate)
    return path


@pytest.fixture(scope="module")
def result(server: str, microphone: Path, browser_script: BrowserScript) -> dict[str, Any]:
    return browser_script("voice_flow.mjs", server, str(microphone), CALLER, timeout=90)


def test_dialling_connects_and_the_page_is_accessible(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert "语音客服" in checks["title"]
    assert checks["keypadDisabledBeforeCall"]
    assert checks["status"] == "通话中" and checks["hangupVisible"]
    assert checks["pageErrors"] == []


def test_the_caller_is_heard_and_the_bot_answers_aloud(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert any("话费" in t or "花费" in t for t in checks["caller"]), checks["caller"]
    assert any("小知" in t for t in checks["bot"])  # the greeting
    assert any("86.50" in t for t in checks["bot"]), checks["bot"]  # 张伟's balance
    assert checks["audibleFrames"] > 100  # seconds of the bot's voice played
    assert checks["framesSent"] > 250  # the microphone streamed for > 5 s


def test_keypad_and_hang_up(result: dict[str, Any]) -> None:
    checks = result["checks"]
    assert checks["keyShown"]
    assert checks["endedStatus"] == "已挂断" and checks["dialAgain"]


def test_screenshots_saved(result: dict[str, Any]) -> None:
    names = {Path(p).name for p in result["screenshots"]}
    assert {"voice.png", "voice-mobile.png"} <= names
    assert all(Path(p).stat().st_size > 10_000 for p in result["screenshots"])
