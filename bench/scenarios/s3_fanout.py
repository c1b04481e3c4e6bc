"""S3 (commit part): one notify() to 10,000 recipients, time until every row is committed.

Measured in our own process on a fresh database: from the call until the first on_commit callback (registered
before the send, so it runs before the send's own publish), and until notify() returns (publish included).
"""

from bench import env
from bench.core import Context, Result
from bench.worker import Worker

RECIPIENTS = 10_000


def run(ctx: Context) -> Result:
    result = Result("S3", "One send to 10,000 recipients")
    config = ctx.config
    result.params = {"recipients": RECIPIENTS, "repetitions": ctx.reps}
    ctx.log("fresh database bench_fanout, migrations")
    env.db_create(config, "fanout", fresh=True)
    env.migrate(config, "fanout")
    commit = result.metric("rows committed", "ms", target="<= 1,000 ms", goal=("<=", 1000.0))
    returned = result.metric("notify() returned (publish included)", "ms")
    with Worker(env.sys_python(), "-m", "bench.ours", env=config.django_env("fanout"), cwd=env.ROOT) as ours:
        ids = ours.call("users_ensure", count=RECIPIENTS)
        ours.call("send", recipient_ids=ids[:100], title="warm")
        for rep in range(ctx.reps):
            ctx.log(f"rep {rep + 1}/{ctx.reps}")
            r = ours.call("send", recipient_ids=ids, title=f"rep {rep}", mark_commit=True)
            assert r["rows"] == RECIPIENTS, r
            commit.add(r["commit_seconds"] * 1000)
            returned.add(r["seconds"] * 1000)
    result.notes.append(
        "Recipients offline here; with all 10,000 online (one socket each) see the S3-frame block under S6."
    )
    return result
