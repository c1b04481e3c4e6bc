"""The socket flood limit as a plain object, on a clock the test moves."""

from notifications.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_allows_a_burst_then_refuses():
    bucket = TokenBucket(rate=2, burst=3, clock=Clock())
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst():
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    for _ in range(3):
        bucket.take()
    clock.now += 0.5  # one token back at 2/s
    assert bucket.take() is True
    assert bucket.take() is False
    clock.now += 3600  # a long quiet spell refills to the burst, no more
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
