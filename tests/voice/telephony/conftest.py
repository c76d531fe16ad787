"""SIP tests share the `phones` fixture (real baresip phones, see harness/fixtures.py)."""

from tests.voice.telephony.harness.fixtures import phones

__all__ = ["phones"]
