"""Streaming DTMF detection (ITU-T Q.23/Q.24 style) with Goertzel filters.

The stream is analysed in windows of 25.6 ms (205 samples at 8 kHz, 410 at 16 kHz) every
2.5 ms. Each window gets the Goertzel power of the 8 DTMF frequencies and of their second
harmonics; the single-bin DFTs are evaluated for all windows of a chunk at once as one matrix
product (the same power the Goertzel recurrence yields, at exact, non-integer bin positions).

A window is *strictly* valid for a digit when: both tones are above the level floor, row and
column are within ``max_twist_db``, each is the clear peak of its group, its second harmonic is
weak (speech is rich in harmonics), and the two tones carry at least ``min_snr_db`` more energy
than everything else in the window. A window is *loosely* valid when the same digit leads
both groups with half or more of the window's energy, which happens exactly while the tone
covers at least half of the window, so the run of loose windows measures the tone's duration.
A tone is a run of loose windows that contains a strict one and lasts ``min_ms`` or more.
Interruptions of up to ~20 ms are bridged, even with a phase jump (Q.24 asks for 10 ms), so a
held key is one tone; pauses of 25 ms or more separate presses (Q.24's minimum is 40 ms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

from voice.audio import SAMPLE_WIDTH, AudioError

ROWS = (697.0, 770.0, 852.0, 941.0)
COLS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")

_WINDOW_S = 205 / 8000  # 25.6 ms: the classic 8 kHz Goertzel block, ~39 Hz resolution
_HOP_S = 0.0025
_BRIDGE_S = 0.020  # dropouts this short (even with a phase jump) do not split a tone
_MIN_LEVEL_DBFS = -42.0  # per tone, RMS
_LOOSE_LEVEL_DBFS = _MIN_LEVEL_DBFS - 10.0
_REL_PEAK_DB = 8.0  # the chosen row (column) over the other rows (columns)
_HARMONIC_DB = 15.0  # fundamental over its second harmonic
_SUPPORTED_RATES = (8000, 16000, 32000, 48000)
_BATCH = 1024  # windows per matrix product: bounded memory for long one-shot input


@dataclass(frozen=True, slots=True)
class DtmfTone:
    """One key press: ``start`` and ``duration`` in seconds from the stream start."""

    digit: str
    start: float
    duration: float


@dataclass(slots=True)
class _Run:
    digit: int  # row * 4 + col
    first: int  # window indices
    last: int
    confirmed: bool


def _db(ratio_db: float) -> float:
    return float(10.0 ** (ratio_db / 10.0))


class DtmfDetector:
    """Feed PCM16 mono in chunks of any size; get the tones that ended in each chunk."""

    def __init__(
        self,
        rate: int = 8000,
        min_ms: int = 40,
        max_twist_db: float = 8.0,
        min_snr_db: float = 10.0,
    ) -> None:
        if rate not in _SUPPORTED_RATES:
            raise AudioError(
                f"DTMF 检测不支持 {rate} Hz（支持 {_SUPPORTED_RATES}）",
                f"DTMF detection does not support {rate} Hz (supported: {_SUPPORTED_RATES})",
            )
        self.rate, self.min_ms = rate, min_ms
        self.window = round(_WINDOW_S * rate)
        self.hop = round(_HOP_S * rate)
        self._bridge = round(_BRIDGE_S / _HOP_S)
        self._twist = _db(max_twist_db)
        self._snr = _db(min_snr_db)
        freqs = np.array(ROWS + COLS + tuple(2 * f for f in ROWS + COLS))
        phase = 2.0 * np.pi * np.outer(np.arange(self.window), freqs) / rate
        self._basis = np.hstack([np.cos(phase), np.sin(phase)])  # (window, 32)
        self._prepare_fits()
        self.reset()

    def _prepare_fits(self) -> None:
        """Per digit: basis columns of its tones and harmonics, and the least-squares algebra."""
        fund, harm = [], []
        for r in range(4):
            for c in range(4):
                fund.append([r, 16 + r, 4 + c, 20 + c])
                harm.append([8 + r, 24 + r, 12 + c, 28 + c])
        self._fund_idx, self._harm_idx = np.array(fund), np.array(harm)
        f, h = self._basis[:, self._fund_idx], self._basis[:, self._harm_idx]  # (W, 16, 4)
        self._gram_inv = np.linalg.inv(np.einsum("wdi,wdj->dij", f, f))
        self._cross = np.einsum("wdi,wdj->dij", h, f)

    def reset(self) -> None:
        """Forget everything; times restart at 0."""
        self._buf = np.zeros(0, dtype=np.float64)
        self._buf_start = 0  # absolute index of self._buf[0]
        self._next = 0  # index of the next window to analyse
        self._odd = b""
        self._run: _Run | None = None

    # ------------------------------------------------------------------ streaming

    def feed(self, pcm: bytes) -> list[DtmfTone]:
        """Analyse ``pcm``; return the tones that ended within it."""
        data = self._odd + pcm
        cut = len(data) - len(data) % SAMPLE_WIDTH
        self._odd = data[cut:]
        samples = np.frombuffer(data[:cut], dtype="<i2").astype(np.float64) / 32768.0
        self._buf = np.concatenate([self._buf, samples]) if len(self._buf) else samples
        return self._analyse()

    def flush(self) -> list[DtmfTone]:
        """End of stream: report a tone still sounding, then reset."""
        self._odd = b""
        pad = np.zeros(self.window + self.hop, dtype=np.float64)
        self._buf = np.concatenate([self._buf, pad])
        tones = self._analyse()
        if self._run is not None:
            tones.extend(self._close(self._run))
        self.reset()
        return tones

    def _analyse(self) -> list[DtmfTone]:
        tones: list[DtmfTone] = []
        while True:
            offset = self._next * self.hop - self._buf_start
            count = min((len(self._buf) - offset - self.window) // self.hop + 1, _BATCH)
            if count <= 0:
                return tones
            step = self._buf.strides[0]
            view = as_strided(
                self._buf[offset:], (count, self.window), (self.hop * step, step), writeable=False
            )
            loose, strict = self._classify(view)
            for i in range(count):
                tones.extend(self._step(self._next + i, int(loose[i]), bool(strict[i])))
            self._next += count
            drop = self._next * self.hop - self._buf_start
            self._buf, self._buf_start = self._buf[drop:], self._buf_start + drop

    # ------------------------------------------------------------------ per-window tests

    def _classify(
        self, windows: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Digit index (or -1) each window loosely shows, and whether it is strictly valid."""
        proj = windows @ self._basis  # Goertzel real/imaginary parts, (n, 32)
        bins = (proj[:, :8] ** 2 + proj[:, 16:24] ** 2) * (2.0 / self.window**2)
        rows, cols = bins[:, 0:4], bins[:, 4:8]
        row_max, col_max = rows.max(axis=1), cols.max(axis=1)
        energy = np.einsum("ij,ij->i", windows, windows) / self.window
        # cheap gate: most windows (speech, silence) are nowhere near two dominant tones
        floor = _db(_LOOSE_LEVEL_DBFS)
        gate = (row_max + col_max >= 0.3 * energy) & (np.minimum(row_max, col_max) >= floor / 2)
        digits = np.full(len(windows), -1, dtype=np.int64)
        strict = np.zeros(len(windows), dtype=np.bool_)
        if not gate.any():
            return digits, strict
        proj, rows, cols, energy = proj[gate], rows[gate], cols[gate], energy[gate]
        digit = rows.argmax(axis=1) * 4 + cols.argmax(axis=1)
        # least-squares fit of the two tones; harmonics are measured on what the fit leaves
        at = np.arange(len(digit))[:, None]
        fx, hx = proj[at, self._fund_idx[digit]], proj[at, self._harm_idx[digit]]
        theta = np.einsum("nij,nj->ni", self._gram_inv[digit], fx)
        residual = hx - np.einsum("nij,nj->ni", self._cross[digit], theta)
        pr = (theta[:, 0] ** 2 + theta[:, 1] ** 2) / 2.0
        pc = (theta[:, 2] ** 2 + theta[:, 3] ** 2) / 2.0
        hr = (residual[:, 0] ** 2 + residual[:, 1] ** 2) * (2.0 / self.window**2)
        hc = (residual[:, 2] ** 2 + residual[:, 3] ** 2) * (2.0 / self.window**2)
        fitted = np.einsum("ni,ni->n", theta, fx) / self.window
        rest = np.maximum(energy - fitted, 1e-12)
        loose = (fitted >= rest) & (pr >= floor) & (pc >= floor)
        rel = _db(_REL_PEAK_DB)
        strict[gate] = (
            loose
            & (np.minimum(pr, pc) >= _db(_MIN_LEVEL_DBFS))
            & (pr <= pc * self._twist)
            & (pc <= pr * self._twist)
            & (rows.max(axis=1) >= np.sort(rows, axis=1)[:, -2] * rel)
            & (cols.max(axis=1) >= np.sort(cols, axis=1)[:, -2] * rel)
            & (hr * _db(_HARMONIC_DB) <= pr)
            & (hc * _db(_HARMONIC_DB) <= pc)
            & (fitted >= rest * self._snr)
        )
        digits[gate] = np.where(loose, digit, -1)
        return digits, strict

    # ------------------------------------------------------------------ tone tracking

    def _step(self, index: int, digit: int, strict: bool) -> list[DtmfTone]:
        run = self._run
        if run is not None and digit == run.digit:
            run.last, run.confirmed = index, run.confirmed or strict
            return []
        tones: list[DtmfTone] = []
        if run is not None and index - run.last > self._bridge:
            tones, run = self._close(run), None
        if run is None and digit >= 0:
            run = _Run(digit, index, index, strict)
        self._run = run
        return tones

    def _close(self, run: _Run) -> list[DtmfTone]:
        self._run = None
        # loose windows sit where the tone covers >= half a window: their span is the tone's
        seconds = (run.last - run.first + 1) * self.hop / self.rate
        if not run.confirmed or seconds * 1000 < self.min_ms:
            return []
        start = (run.first * self.hop + self.window / 2 - self.hop / 2) / self.rate
        row, col = divmod(run.digit, 4)
        return [DtmfTone(KEYS[row][col], round(start, 4), round(seconds, 4))]
