"""The fake WeChat API server (module-scoped) for the API-client tests; modules that need it
configured differently define their own `fake`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.server.live import LiveServer
from bot.testing.wechat_server import FakeWeChat


@pytest.fixture(scope="module")
def fake() -> FakeWeChat:
    return FakeWeChat()


@pytest.fixture(scope="module")
def server(fake: FakeWeChat) -> Iterator[LiveServer]:
    with LiveServer(fake.app) as live:
        yield live
