"""Benchmarks and experiments (may read ../shared/data)."""
