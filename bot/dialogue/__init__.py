"""Dialogue management: events, trackers, policies, forms and actions."""
