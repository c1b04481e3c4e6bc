"""The peer's measuring process: `notify.send(actor, recipient=<queryset>, verb=...)`, as its README shows."""

import sys
import time
from pathlib import Path

# Run as a script from bench/peer with only bench/ and bench/peer importable: the project root must stay off
# sys.path or our `notifications` package would shadow the peer's.
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import transaction  # noqa: E402
from notifications.signals import notify  # noqa: E402
from users import actor_ensure, users_ensure  # noqa: E402
from worker import serve  # noqa: E402

User = get_user_model()


def send(recipient_ids: list[int], verb: str = "bench", atomic: bool = False) -> dict[str, float]:
    actor = actor_ensure()
    start = time.perf_counter()
    recipients = User.objects.filter(pk__in=recipient_ids)
    if atomic:
        with transaction.atomic():
            sent = notify.send(actor, recipient=recipients, verb=verb, description="Hello")
    else:
        sent = notify.send(actor, recipient=recipients, verb=verb, description="Hello")
    elapsed = time.perf_counter() - start
    rows = sum(len(r[1]) for r in sent)
    return {"seconds": elapsed, "rows": rows}


serve({"users_ensure": users_ensure, "send": send})
