"""The phone channel: Twilio Media Streams over a WebSocket (`/voice/ws`), the call flow, and
the browser softphone (`/voice`). See `channels/voice/channel.py`."""
