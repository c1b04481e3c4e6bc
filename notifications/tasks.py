"""Celery tasks: thin. They take ids, call one service, and are idempotent (the broker may run them twice).

Never pass notification content through the broker (privacy: task arguments end up in logs and Redis).
"""
