"""Benchmarks: commands anyone can run; results in docs/performance.md. Never timed in CI."""
