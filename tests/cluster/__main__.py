"""`python -m tests.cluster` (`make cluster`): start the cluster and keep it up until Ctrl-C."""

from .topology import main

main()
