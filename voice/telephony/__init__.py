"""SIP telephony: the phone channel answering real SIP calls (G.711 RTP, RFC 4733 DTMF, REFER)."""
