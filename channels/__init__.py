"""Channels: each turns its medium into InboundMessage and renders OutboundMessage (see docs/architecture.md)."""
