"""The benchmark suite: `python -m bench [scenario ...]` (see bench/README.md). Not part of the test suite."""
