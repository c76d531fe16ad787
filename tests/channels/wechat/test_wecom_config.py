"""The `wecom:` section of credentials.yml."""

from __future__ import annotations

import pytest

from channels.wechat.wecom_config import WeComConfig

BASE = {
    "corp_id": "ww1",
    "secret": "s",
    "token": "t",
    "encoding_aes_key": "k" * 43,
    "open_kfid": "wk1",
}


def test_defaults() -> None:
    config = WeComConfig.from_mapping(BASE)
    assert config.api_base_url == "https://qyapi.weixin.qq.com"
    assert (config.handoff, config.welcome, config.link_thumb_media_id) == ("console", True, None)
    assert (config.max_clock_skew, config.pull_interval) == (300.0, 0.0)


def test_every_missing_key_is_named_in_chinese_and_english() -> None:
    with pytest.raises(ValueError) as info:
        WeComConfig.from_mapping({"corp_id": "ww1", "token": " "})
    text = str(info.value)
    for key in ("secret", "token", "encoding_aes_key", "open_kfid"):
        assert key in text
    assert "缺少" in text and "missing" in text and "corp_id" not in text


def test_invalid_values_are_reported_together() -> None:
    bad = {**BASE, "handoff": "phone", "welcome": "yes", "pull_interval": -1}
    with pytest.raises(ValueError) as info:
        WeComConfig.from_mapping(bad)
    text = str(info.value)
    assert "wecom.handoff" in text and "wecom.welcome" in text and "wecom.pull_interval" in text


def test_options() -> None:
    config = WeComConfig.from_mapping(
        {
            **BASE,
            "api_base_url": "http://127.0.0.1:9/",
            "handoff": "WeCom",
            "welcome": False,
            "link_thumb_media_id": "THUMB",
            "max_clock_skew": 60,
            "pull_interval": 30,
        }
    )
    assert config.api_base_url == "http://127.0.0.1:9" and config.handoff == "wecom"
    assert not config.welcome and config.link_thumb_media_id == "THUMB"
    assert (config.max_clock_skew, config.pull_interval) == (60.0, 30.0)
