"""Audio and speech for the phone IVR (codecs, DTMF, VAD, ASR, TTS, telephony)."""
