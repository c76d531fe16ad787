from __future__ import annotations

import shutil

import pytest

from voice.audio import rms_dbfs
from voice.tts.base import OUTPUT_RATE, TtsError, Voice
from voice.tts.espeak import EspeakEngine, Segment, prosody_args, read_out, segments, voice_variant

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"
)
GREETING = "你好，欢迎致电小知客服"


# ----------------------------------------------------------------- text front end


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("请拨打10086", "请拨打幺零零八六"),
        ("热线400-800-1234", "热线四零零，八零零，幺二三四"),
        ("国内主叫0.15元/分钟", "国内主叫零点一五元每分钟"),
        ("营业时间9:00-18:30", "营业时间九点至十八点三十分"),
        ("按#号键确认，按*返回", "按井号键确认，按星号返回"),
        ("满意度98.5%", "满意度百分之九十八点五"),
        ("第2个，共3天", "第二个，共三天"),
        ("2024年", "二零二四年"),
        ("三百元", "三百元"),
    ],
)
def test_read_out_numbers_and_symbols(text: str, spoken: str) -> None:
    assert read_out(text) == spoken


def test_segments_pinyin_with_tones_and_pauses() -> None:
    assert segments("你好，欢迎致电！的") == [
        Segment("zh", "ni2 hao3, huan1 ying2 zhi4 dian4! de5"),
    ]


def test_segments_latin_goes_to_english() -> None:
    assert segments("请下载APP，连上WiFi。") == [
        Segment("zh", "qing3 xia4 zai4"),
        Segment("en", "A P P,"),
        Segment("zh", "lian2 shang4"),
        Segment("en", "WiFi."),
    ]


def test_segments_skip_leading_punctuation_and_symbols() -> None:
    assert segments("。「谢谢」") == [Segment("zh", "xie4 xie4")]


def test_prosody_from_voice() -> None:
    assert prosody_args(Voice(rate="+20%", pitch="+10Hz", volume="-50%")) == [
        "-s",
        "210",
        "-p",
        "55",
        "-a",
        "50",
    ]
    assert prosody_args(Voice(rate="-90%"))[1] == "80"  # clamped


@pytest.mark.parametrize("field", ["rate", "pitch", "volume"])
def test_bad_prosody_is_a_clear_error(field: str) -> None:
    voice = Voice(**{field: "fast"})
    with pytest.raises(TtsError, match=field):
        prosody_args(voice)


def test_voice_variant_follows_the_edge_voice() -> None:
    assert voice_variant("zh-CN-XiaoxiaoNeural") == "+f3"
    assert voice_variant("zh-CN-YunxiNeural") == "+m3"


# ----------------------------------------------------------------- synthesis


@needs_espeak
async def test_speaks_chinese() -> None:
    speech = await EspeakEngine().synthesize(GREETING)
    assert speech.rate == OUTPUT_RATE
    assert speech.engine == "espeak"
    # eleven syllables and a pause: a couple of seconds, not a blip and not letter names
    assert 1.5 < speech.duration < 5.0
    assert rms_dbfs(speech.pcm) > -35.0
    assert 0 < speech.first_byte_s < 2.0


@needs_espeak
async def test_rate_changes_duration() -> None:
    engine = EspeakEngine()
    normal = await engine.synthesize(GREETING)
    fast = await engine.synthesize(GREETING, Voice(rate="+50%"))
    slow = await engine.synthesize(GREETING, Voice(rate="-30%"))
    assert fast.duration < normal.duration * 0.8
    assert slow.duration > normal.duration * 1.2


@needs_espeak
async def test_mixed_chinese_and_english() -> None:
    engine = EspeakEngine()
    chinese = await engine.synthesize("请下载")
    mixed = await engine.synthesize("请下载APP")
    assert mixed.duration > chinese.duration + 0.3


async def test_missing_binary_gives_install_hint() -> None:
    engine = EspeakEngine(binary="espeak-ng-not-installed")
    assert not engine.available()
    with pytest.raises(TtsError) as info:
        await engine.synthesize(GREETING)
    assert "apt-get install espeak-ng" in info.value.zh
    assert "apt-get install espeak-ng" in info.value.en


@needs_espeak
async def test_unknown_espeak_voice_fails_cleanly() -> None:
    engine = EspeakEngine(chinese_voice="no-such-voice")
    with pytest.raises(TtsError, match="espeak-ng"):
        await engine.synthesize(GREETING)


@needs_espeak
async def test_text_is_not_interpreted_by_a_shell() -> None:
    speech = await EspeakEngine().synthesize("你好; rm -rf / $(reboot) `id`")
    assert speech.duration > 0.5
