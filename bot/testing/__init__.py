"""Helpers for testing and evaluating Zhike projects."""
