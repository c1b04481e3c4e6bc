"""`python -m tests.cluster` (`make cluster`): start the cluster and keep it up until Ctrl-C."""

from bench.harness.cluster import main

main()
