from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from voice.tts.base import Speech, TtsEngine, TtsError, Voice
from voice.tts.cache import CachedEngine, PromptCache
from voice.tts.espeak import EspeakEngine
from voice.tts.prompts import abuild_prompts, build_prompts, prompt_texts

ZH_MINI = Path(__file__).parents[2] / "fixtures" / "projects" / "zh_mini"

# zh_mini has 15 response variants; utter_order_summary ({drink} …) is dynamic
STATIC_RESPONSES = 14

VOICE_RESPONSES = """version: "3.1"
responses:
  utter_greet_voice:
    - text: "您好，这里是小知茶饮语音服务。"
      channel: voice
    - text: "您好！欢迎来到小知茶饮网页版。"
    - text: "您好，这是微信里的问候。"
      channel: wechat
"""

KB = """version: "1"
faq:
  - id: faq_wifi
    question: 店里有无线网吗？
    answer: 您好，门店提供免费 WiFi，密码贴在收银台旁边。
    voice_answer: 门店有免费无线网，密码在收银台旁边。
  - id: faq_parking
    question: 可以停车吗？
    answer: 门店附近有公共停车场，前一小时免费。
  - id: faq_web_only
    question: 网页上怎么下单？
    answer: 点击页面右上角的“点单”按钮即可。
    channels: [webchat]
  - id: faq_disabled
    question: 有早餐吗？
    answer: 暂不提供早餐。
    enabled: false
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "zh_mini"
    shutil.copytree(ZH_MINI, root)
    return root


class ToneEngine(TtsEngine):
    name = "tone"

    def __init__(self, failing: str = "") -> None:
        super().__init__()
        self.failing = failing
        self.texts: list[str] = []

    async def _synthesize_impl(self, text: str, voice: Voice) -> Speech:
        self.texts.append(text)
        if self.failing and self.failing in text:
            raise TtsError("失败", "failed")
        return Speech(b"\x00\x01" * 1600, 16000, self.name)


def test_prompt_texts_of_the_domain(project: Path) -> None:
    texts = prompt_texts(project)
    assert len(texts) == STATIC_RESPONSES
    assert "请问确认下单吗？" in texts
    assert not any("{" in t for t in texts)


def test_voice_variants_and_kb_answers(project: Path) -> None:
    (project / "domain" / "voice.yml").write_text(VOICE_RESPONSES, encoding="utf-8")
    (project / "kb").mkdir()
    (project / "kb" / "faq.yml").write_text(KB, encoding="utf-8")
    texts = prompt_texts(project)
    assert "您好，这里是小知茶饮语音服务。" in texts  # the voice variant wins
    assert "您好！欢迎来到小知茶饮网页版。" not in texts
    assert "您好，这是微信里的问候。" not in texts
    assert "门店有免费无线网，密码在收银台旁边。" in texts  # voice_answer
    assert "门店附近有公共停车场，前一小时免费。" in texts  # answer text
    assert "点击页面右上角的“点单”按钮即可。" not in texts  # not on the voice channel
    assert "暂不提供早餐。" not in texts  # disabled
    assert len(texts) == STATIC_RESPONSES + 1 + 2


def test_build_prompts_counts_and_skips_existing(project: Path, tmp_path: Path) -> None:
    cache = PromptCache(tmp_path / "cache")
    engine = ToneEngine()
    assert build_prompts(project, engine, cache) == STATIC_RESPONSES
    assert cache.size().files == STATIC_RESPONSES
    assert build_prompts(project, engine, cache) == 0
    assert len(engine.texts) == STATIC_RESPONSES


async def test_build_prompts_reports_failures_after_the_rest(project: Path, tmp_path: Path) -> None:
    cache = PromptCache(tmp_path / "cache")
    with pytest.raises(TtsError, match="1 prompts failed"):
        await abuild_prompts(project, ToneEngine(failing="再见"), cache, concurrency=2)
    assert cache.size().files == STATIC_RESPONSES - 1


async def test_build_prompts_inside_a_loop_needs_the_async_form(
    project: Path, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError, match="abuild_prompts"):
        build_prompts(project, ToneEngine(), PromptCache(tmp_path))


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
async def test_espeak_prompts_are_then_served_from_the_cache(project: Path, tmp_path: Path) -> None:
    cache = PromptCache(tmp_path / "cache")
    espeak = EspeakEngine()
    assert await abuild_prompts(project, CachedEngine(espeak, cache), cache) == STATIC_RESPONSES
    assert await abuild_prompts(project, espeak, cache) == 0
    calls = espeak.stats.calls
    speech = await CachedEngine(espeak, cache).synthesize("请问确认下单吗？")
    assert speech.cached and espeak.stats.calls == calls
