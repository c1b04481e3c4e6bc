"""S4: one send to the same 1,000 recipients, ours vs django-notifications-hq 1.8.3, alternating in one run.

Both run in their own long-lived process on the same PostgreSQL, each in its own database; each call is timed
inside its process from the call to its return (recipient lookup, rows committed; ours also publishes to Redis).
The peer is measured as its README uses it (autocommit: one INSERT and one commit per recipient) and, to be fair
to it, also wrapped in one transaction.atomic().
"""

import subprocess

from bench import env
from bench.core import Context, Result
from bench.worker import Worker

RECIPIENTS = 1000


def run(ctx: Context) -> Result:
    result = Result("S4", "One send to 1,000 recipients: ours vs django-notifications-hq 1.8.3 (same run)")
    config = ctx.config
    reps = ctx.reps
    result.params = {"recipients": RECIPIENTS, "repetitions": reps}

    ctx.log("peer venv")
    peer_python = env.peer_python()
    ctx.log("fresh databases bench_notify and bench_peer, migrations")
    env.db_create(config, "notify", fresh=True)
    env.db_create(config, "peer", fresh=True)
    env.migrate(config, "notify")
    # The peer must not see the project root on sys.path: our `notifications` package would shadow its own.
    peer_env = config.django_env("peer", DJANGO_SETTINGS_MODULE="settings", PYTHONPATH=str(env.PEER_DIR))
    subprocess.run(
        [str(peer_python), "-m", "django", "migrate", "--noinput", "-v0"], cwd=env.PEER_DIR, env=peer_env, check=True
    )

    ours_t = result.metric("ours: notify()", "ms")
    peer_t = result.metric("peer: notify.send (autocommit, as documented)", "ms")
    peer_atomic_t = result.metric("peer: notify.send inside atomic()", "ms")
    ratio = result.metric("ratio peer / ours", "x", target=">= 20x", goal=(">=", 20.0))
    ratio_atomic = result.metric("ratio peer-in-atomic / ours", "x")

    with (
        Worker(env.sys_python(), "-m", "bench.ours", env=config.django_env("notify"), cwd=env.ROOT) as ours,
        Worker(peer_python, "run.py", env=peer_env, cwd=env.PEER_DIR) as peer,
    ):
        ours_ids = ours.call("users_ensure", count=RECIPIENTS)
        peer_ids = peer.call("users_ensure", count=RECIPIENTS)
        assert len(ours_ids) == len(peer_ids) == RECIPIENTS
        # Warm both (imports, connections, content types); not measured.
        ours.call("send", recipient_ids=ours_ids, title="warm")
        peer.call("send", recipient_ids=peer_ids, verb="warm")
        for rep in range(reps):
            ctx.log(f"rep {rep + 1}/{reps}")
            # Alternate the order so neither side always runs right after the other's checkpoint/vacuum debt.
            order = ["ours", "peer", "peer_atomic"] if rep % 2 == 0 else ["peer_atomic", "peer", "ours"]
            times: dict[str, float] = {}
            for who in order:
                if who == "ours":
                    r = ours.call("send", recipient_ids=ours_ids, title=f"rep {rep}")
                else:
                    r = peer.call("send", recipient_ids=peer_ids, verb=f"rep {rep}", atomic=who == "peer_atomic")
                assert r["rows"] == RECIPIENTS, r
                times[who] = r["seconds"] * 1000
            ours_t.add(times["ours"])
            peer_t.add(times["peer"])
            peer_atomic_t.add(times["peer_atomic"])
            ratio.add(times["peer"] / times["ours"])
            ratio_atomic.add(times["peer_atomic"] / times["ours"])
    result.notes.append(
        "Ratios are taken per repetition (same moment, same machine noise), then the median. Ours includes the "
        "realtime publish to Redis after commit; the peer has no realtime path."
    )
    return result
