"""One module per scenario of targets.md; each exposes `run(ctx) -> Result`."""
