from __future__ import annotations

import logging
import os
import wave
from array import array
from datetime import datetime
from pathlib import Path

import pytest

from voice.telephony.recording import CallRecorder, recording_path, sweep

FRAME = 160  # samples: 20 ms at 8 kHz
DAY = 86400.0


def frame(value: int, samples: int = FRAME) -> bytes:
    return array("h", [value] * samples).tobytes()


def channels(path: Path) -> tuple[list[int], list[int], wave._wave_params]:
    with wave.open(str(path), "rb") as wav:
        params = wav.getparams()
        data = array("h", wav.readframes(params.nframes))
    return list(data[0::2]), list(data[1::2]), params


def test_stereo_left_caller_right_bot(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "call.wav"
    recorder = CallRecorder(path, 8000)
    assert path.parent.is_dir()
    for i in range(50):  # one second
        recorder.caller(frame(1000 + i))
        recorder.bot(frame(-2000 - i))
    assert recorder.close() == path
    left, right, params = channels(path)
    assert (params.nchannels, params.sampwidth, params.framerate) == (2, 2, 8000)
    assert params.nframes == 50 * FRAME and recorder.seconds == 1.0
    assert left[:FRAME] == [1000] * FRAME and left[-1] == 1049
    assert right[:FRAME] == [-2000] * FRAME and right[-1] == -2049


def test_frames_are_written_as_they_come(tmp_path: Path) -> None:
    path = tmp_path / "live.wav"
    recorder = CallRecorder(path)
    for _ in range(400):  # 8 s: far beyond any write buffer
        recorder.caller(frame(1))
        recorder.bot(frame(2))
    assert path.stat().st_size > 400 * FRAME * 4 * 0.9  # on disk before close()
    assert not recorder._caller and not recorder._bot  # nothing held back in memory
    recorder.close()


def test_a_missing_frame_is_silence_on_that_side(tmp_path: Path) -> None:
    path = tmp_path / "gaps.wav"
    recorder = CallRecorder(path)
    recorder.caller(frame(1))
    recorder.caller(frame(2))  # the bot sent nothing in the first tick
    recorder.bot(frame(20))
    recorder.bot(frame(30))  # the caller's third frame is missing
    recorder.bot(frame(40))
    recorder.caller(frame(4))
    recorder.close()
    left, right, _ = channels(path)
    per_tick = [(left[i * FRAME], right[i * FRAME]) for i in range(len(left) // FRAME)]
    assert per_tick == [(1, 0), (2, 20), (0, 30), (4, 40)]


def test_close_pads_the_shorter_side_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "end.wav"
    recorder = CallRecorder(path)
    recorder.caller(frame(7))
    assert recorder.close() == path
    assert recorder.close() == path
    recorder.caller(frame(9))  # after close: ignored
    left, right, params = channels(path)
    assert params.nframes == FRAME and set(left) == {7} and set(right) == {0}


def test_odd_byte_counts_are_trimmed(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path / "odd.wav")
    recorder.caller(frame(3) + b"\x01")
    recorder.bot(frame(4))
    recorder.close()
    left, right, _ = channels(tmp_path / "odd.wav")
    assert len(left) == FRAME and set(left) == {3} and set(right) == {4}


def test_other_rates(tmp_path: Path) -> None:
    recorder = CallRecorder(tmp_path / "wide.wav", 16000)
    recorder.caller(frame(5, 320))
    recorder.bot(frame(6, 320))
    recorder.close()
    _, _, params = channels(tmp_path / "wide.wav")
    assert params.framerate == 16000 and params.nframes == 320


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_full_disk_stops_recording_without_raising(caplog: pytest.LogCaptureFixture) -> None:
    recorder = CallRecorder(Path("/dev/full"))  # every write fails with ENOSPC
    with caplog.at_level(logging.ERROR):
        for _ in range(200):
            recorder.caller(frame(1))
            recorder.bot(frame(2))
        recorder.close()
    assert recorder.failed
    assert "recording stopped" in caplog.text and "通话录音已停止" in caplog.text
    recorder.caller(frame(1))  # still harmless
    recorder.close()


def test_unwritable_folder_does_not_raise(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    recorder = CallRecorder(blocker / "day" / "call.wav")
    assert recorder.failed
    recorder.caller(frame(1))
    assert recorder.close() == blocker / "day" / "call.wav"


def test_recording_path_is_safe_and_dated(tmp_path: Path) -> None:
    started = datetime(2026, 3, 9, 14, 5, 7)
    path = recording_path(tmp_path, "a84b4c76e66710@pbx/../../etc;x", started)
    assert path.parent == tmp_path / "2026-03-09"
    assert path.name == "140507-a84b4c76e66710_pbx_.._.._etc_x.wav"
    assert path.resolve().is_relative_to(tmp_path.resolve())
    assert recording_path(tmp_path, "../..", started).name == "140507-call.wav"
    assert len(recording_path(tmp_path, "x" * 500, started).name) < 100


def make(path: Path, age_days: float, now: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF")
    os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    return path


def test_sweep_deletes_only_old_wavs_inside_the_root(tmp_path: Path) -> None:
    now = 1_800_000_000.0
    root = tmp_path / "recordings"
    old = make(root / "2026-01-01" / "090000-a.wav", 40, now)
    old2 = make(root / "2026-01-01" / "090500-b.wav", 31, now)
    fresh = make(root / "2026-02-01" / "100000-c.wav", 2, now)
    note = make(root / "2026-01-02" / "notes.txt", 90, now)
    old_in_other = make(root / "2026-01-03" / "120000-d.wav", 50, now)
    custom = root / "keep-me"
    custom.mkdir()
    outside = make(tmp_path / "outside.wav", 400, now)
    linked = root / "2026-01-04"
    linked.mkdir()
    (linked / "link.wav").symlink_to(outside)
    os.utime(linked / "link.wav", (now - 400 * DAY,) * 2, follow_symlinks=False)

    assert sweep(root, 30, now=now) == 3
    assert not old.exists() and not old2.exists() and not old_in_other.exists()
    assert fresh.exists() and note.exists() and outside.exists()
    assert (linked / "link.wav").is_symlink()
    assert not (root / "2026-01-01").exists() and not (root / "2026-01-03").exists()
    assert (root / "2026-01-02").is_dir() and custom.is_dir() and root.is_dir()
    assert sweep(root, 30, now=now) == 0


def test_sweep_of_a_missing_root(tmp_path: Path) -> None:
    assert sweep(tmp_path / "nothing", 30) == 0


def test_sweep_uses_the_clock_by_default(tmp_path: Path) -> None:
    import time

    now = time.time()
    make(tmp_path / "2020-01-01" / "a.wav", 3, now)
    make(tmp_path / "2020-01-02" / "b.wav", 0.5, now)
    assert sweep(tmp_path, 1) == 1
    assert sweep(tmp_path, 0.25) == 1
    assert not any(tmp_path.iterdir())
