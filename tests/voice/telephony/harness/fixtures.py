"""The `phones` fixture for SIP tests: real baresip phones on 127.0.0.1 (see ``harness/phone.py``).

``phones("caller", wav=…, answer="auto", transport="tcp")`` starts one phone in the test's
``tmp_path``; every phone started is closed at teardown. Tests using ``phones`` are skipped
when Debian's baresip is not installed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.voice.telephony.harness.phone import (
    Phone,
    PhoneFactory,
    baresip_missing,
    start_phone,
)


@pytest.fixture
async def phones(tmp_path: Path) -> AsyncIterator[PhoneFactory]:
    missing = baresip_missing()
    if missing:
        pytest.skip(missing)
    started: list[Phone] = []

    async def make(
        name: str,
        *,
        wav: Path | None = None,
        answer: str = "manual",
        transport: str = "udp",
        pad_s: float = 60.0,
        extra_config: str = "",
    ) -> Phone:
        phone = await start_phone(
            tmp_path,
            name,
            wav=wav,
            answer=answer,
            transport=transport,
            pad_s=pad_s,
            extra_config=extra_config,
        )
        started.append(phone)
        return phone

    try:
        yield make
    finally:
        for phone in reversed(started):
            await phone.close()
