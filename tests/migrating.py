"""Moving one migration back and forth in a test, leaving every other as it is."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migration_set(key: tuple[str, str], *, forwards: bool) -> None:
    """Unapply (or apply again) one migration and whatever depends on it, leaving every other migration as it is
    (migrating the app back to the one before would also unapply unrelated work merged beside it)."""
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    keys = graph.backwards_plan(key)  # the dependents first, the migration last
    applied = executor.loader.applied_migrations
    if forwards:
        plan = [(graph.nodes[k], False) for k in reversed(keys) if k not in applied]
    else:
        plan = [(graph.nodes[k], True) for k in keys if k in applied]
    if plan:
        executor.migrate([], plan=plan)
