"""Benchmarks and profiles: speed measured side by side, never in the tests."""
