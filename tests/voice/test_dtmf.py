"""voice.dtmf: generated key presses, noise, twist, durations, chunking, speech rejection."""

from __future__ import annotations

import numpy as np
import pytest

from voice.audio import AudioError, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from voice.dtmf import COLS, KEYS, ROWS, DtmfDetector, DtmfTone

RATES = (8000, 16000)
RNG_SEED = 20240521


def _freqs(digit: str) -> tuple[float, float]:
    row = next(i for i, keys in enumerate(KEYS) if digit in keys)
    return ROWS[row], COLS[KEYS[row].index(digit)]


def _amp(level_dbfs: float) -> float:
    return 32768.0 * np.sqrt(2.0) * 10.0 ** (level_dbfs / 20.0)


def _key(
    digit: str, ms: float, rate: int, row_db: float = -13.0, col_db: float = -13.0
) -> np.ndarray:
    fr, fc = _freqs(digit)
    t = np.arange(round(ms * rate / 1000)) / rate
    return _amp(row_db) * np.sin(2 * np.pi * fr * t) + _amp(col_db) * np.sin(
        2 * np.pi * fc * t + 0.7
    )


def _gap(ms: float, rate: int) -> np.ndarray:
    return np.zeros(round(ms * rate / 1000))


def _sequence(digits: str, rate: int, on_ms: float = 70, off_ms: float = 50) -> np.ndarray:
    parts = [_gap(100, rate)]
    for d in digits:
        parts += [_key(d, on_ms, rate), _gap(off_ms, rate)]
    return np.concatenate([*parts, _gap(100, rate)])


def _pcm(x: np.ndarray) -> bytes:
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()


def _detect(
    x: np.ndarray | bytes, rate: int, chunk_samples: int | None = None, min_ms: int = 40
) -> list[DtmfTone]:
    pcm = x if isinstance(x, bytes) else _pcm(x)
    det = DtmfDetector(rate, min_ms=min_ms)
    step = 2 * chunk_samples if chunk_samples else len(pcm) or 1
    tones = [t for i in range(0, len(pcm), step) for t in det.feed(pcm[i : i + step])]
    return tones + det.flush()


def _digits(tones: list[DtmfTone]) -> str:
    return "".join(t.digit for t in tones)


@pytest.mark.parametrize("rate", RATES)
def test_all_sixteen_digits(rate: int) -> None:
    tones = _detect(_sequence("123A456B789C*0#D", rate), rate)
    assert _digits(tones) == "123A456B789C*0#D"
    for i, t in enumerate(tones):
        assert t.start == pytest.approx(0.1 + i * 0.12, abs=0.003)
        assert t.duration == pytest.approx(0.07, abs=0.003)


@pytest.mark.parametrize("rate", RATES)
def test_phone_number_with_50_ms_gaps(rate: int) -> None:
    assert _digits(_detect(_sequence("13800138000#", rate, 50, 50), rate)) == "13800138000#"


@pytest.mark.parametrize("codec", ["ulaw", "alaw"])
@pytest.mark.parametrize("level_db", [0.0, -25.0])
def test_through_g711_at_line_levels(codec: str, level_db: float) -> None:
    pcm = _pcm(_sequence("159#", 8000) * 10 ** (level_db / 20))  # down to -38 dBFS per tone
    encode, decode = (ulaw_encode, ulaw_decode) if codec == "ulaw" else (alaw_encode, alaw_decode)
    assert _digits(_detect(decode(encode(pcm)), 8000)) == "159#"


@pytest.mark.parametrize("rate", RATES)
def test_white_noise_at_15_db_snr(rate: int) -> None:
    rng = np.random.default_rng(RNG_SEED)
    clean = _sequence("0123456789*#ABCD", rate)
    noise_dbfs = -10.0 - 15.0  # the two tones together are at -10 dBFS
    for _ in range(3):
        noisy = clean + rng.normal(0.0, 32768.0 * 10 ** (noise_dbfs / 20), len(clean))
        assert _digits(_detect(noisy, rate)) == "0123456789*#ABCD"


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(("twist_db", "found"), [(6, "5"), (-6, "5"), (12, ""), (-12, "")])
def test_twist(rate: int, twist_db: float, found: str) -> None:
    x = np.concatenate(
        [
            _gap(50, rate),
            _key("5", 80, rate, -13 - twist_db / 2, -13 + twist_db / 2),
            _gap(50, rate),
        ]
    )
    assert _digits(_detect(x, rate)) == found


@pytest.mark.parametrize("rate", RATES)
def test_minimum_duration(rate: int) -> None:
    for offset_ms in (0.0, 0.7, 1.3, 2.1):  # different alignments to the analysis grid
        for ms, found in ((30, ""), (45, "9")):
            x = np.concatenate([_gap(40 + offset_ms, rate), _key("9", ms, rate), _gap(60, rate)])
            assert _digits(_detect(x, rate)) == found, (ms, offset_ms)


def test_min_ms_is_configurable() -> None:
    x = np.concatenate([_gap(40, 8000), _key("4", 30, 8000), _gap(60, 8000)])
    assert _digits(_detect(x, 8000, min_ms=25)) == "4"


@pytest.mark.parametrize("rate", RATES)
def test_chunk_size_does_not_change_the_result(rate: int) -> None:
    pcm = _pcm(_sequence("7*3", rate, 60, 45))
    reference = _detect(pcm, rate)
    assert _digits(reference) == "7*3"
    for chunk in (1, 7, 160, 4000):
        assert _detect(pcm, rate, chunk) == reference


def test_odd_byte_chunks_are_reassembled() -> None:
    pcm = _pcm(_sequence("42", 8000))
    det = DtmfDetector(8000)
    tones = [t for i in range(0, len(pcm), 333) for t in det.feed(pcm[i : i + 333])]
    assert tones + det.flush() == _detect(pcm, 8000)


def test_tones_are_reported_when_they_end() -> None:
    det = DtmfDetector(8000)
    assert det.feed(_pcm(np.concatenate([_gap(20, 8000), _key("6", 200, 8000)]))) == []
    ended = det.feed(_pcm(_gap(60, 8000)))
    assert _digits(ended) == "6" and ended[0].duration == pytest.approx(0.2, abs=0.003)
    assert det.flush() == []


def test_held_key_is_one_tone_and_flush_reports_a_sounding_key() -> None:
    det = DtmfDetector(8000)
    assert det.feed(_pcm(_key("0", 3000, 8000))) == []  # > 1 batch of analysis windows
    (held,) = det.flush()
    assert held.digit == "0" and held.duration == pytest.approx(3.0, abs=0.015)


def test_two_quick_presses_are_two_tones_and_a_short_dropout_is_bridged() -> None:
    rate = 8000
    quick = np.concatenate(
        [_key("2", 60, rate), _gap(40, rate), _key("2", 60, rate), _gap(50, rate)]
    )
    assert _digits(_detect(quick, rate)) == "22"
    # an interruption of 10 ms with a phase jump (the second burst restarts at phase 0)
    dropout = np.concatenate(
        [_gap(30, rate), _key("2", 63, rate), _gap(10, rate), _key("2", 60, rate), _gap(50, rate)]
    )
    (tone,) = _detect(dropout, rate)
    assert tone.duration == pytest.approx(0.133, abs=0.005)


def _vowel(
    f0_from: float, f0_to: float, ms: float, rate: int, formants: tuple[float, ...]
) -> np.ndarray:
    """A voiced vowel: harmonics of a gliding f0 shaped by formant resonances, with AM."""
    n = round(ms * rate / 1000)
    f0 = np.linspace(f0_from, f0_to, n)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = np.zeros(n)
    for k in range(1, int(min(3800, rate / 2 - 200) / max(f0_from, f0_to)) + 1):
        gain = sum(1 / (1 + ((k * f0 - f) / (80 + 0.06 * f)) ** 2) for f in formants)
        x += gain / np.sqrt(k) * np.sin(k * phase)
    x *= 1 + 0.3 * np.sin(2 * np.pi * 4 * np.arange(n) / rate)
    return x * _amp(-15.0) / np.sqrt(2 * np.mean(x**2))


VOWELS = {
    "a": (800, 1200, 2500),
    "i": (300, 2300, 3000),
    "u": (350, 800, 2400),
    "e": (500, 1700, 2500),
}


@pytest.mark.parametrize("rate", RATES)
def test_speech_like_vowels_give_no_digits(rate: int) -> None:
    parts = []
    for formants in VOWELS.values():
        # level tone (阴平) at many pitches, and rising / falling / dipping contours
        parts += [_vowel(f0, f0, 150, rate, formants) for f0 in np.arange(150, 251, 4.0)]
        parts += [
            _vowel(a, b, 300, rate, formants) for a, b in ((150, 250), (250, 150), (200, 160))
        ]
    assert _detect(np.concatenate(parts), rate) == []


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("group", [0, 1])
def test_second_harmonic_rejection(rate: int, group: int) -> None:
    """A strong 2nd harmonic (speech, distorted music) is rejected; a weak one is not."""
    t = np.arange(round(0.08 * rate)) / rate
    f = _freqs("8")[group]
    for harmonic_db, found in ((-10.0, ""), (-25.0, "8")):
        x = _key("8", 80, rate) + _amp(-13 + harmonic_db) * np.sin(4 * np.pi * f * t)
        assert _digits(_detect(np.concatenate([_gap(40, rate), x, _gap(60, rate)]), rate)) == found


def test_two_keys_at_once_give_nothing() -> None:
    x = _key("1", 80, 8000) + _key("4", 80, 8000)  # two rows, one column
    assert _detect(np.concatenate([_gap(40, 8000), x, _gap(60, 8000)]), 8000) == []


def test_music_like_single_tone_and_silence_give_no_digits() -> None:
    t = np.arange(8000) / 8000
    assert _detect(_amp(-10) * np.sin(2 * np.pi * 941 * t), 8000) == []
    assert _detect(np.zeros(8000), 8000) == [] and _detect(b"", 8000) == []


def test_unsupported_rate() -> None:
    with pytest.raises(AudioError, match="44100"):
        DtmfDetector(44100)
