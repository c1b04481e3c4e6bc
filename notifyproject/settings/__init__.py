"""Settings package: `base` is the whole env-driven configuration; `test` adds test speed-ups."""
