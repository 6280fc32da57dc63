"""How long to wait before asking AWS again for what a batch call left undone (keys a
BatchGetItem left unprocessed, entries a SendMessageBatch refused): AWS's advice is an
exponential backoff, since what was throttled and is asked for again at once is likely
throttled again. One rule for the store's batch reads and the fan-out's sends."""
from __future__ import annotations

FIRST_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 1.0


def delay(retry: int) -> float:
    """Seconds to wait before the ``retry``-th repeat (1, 2, ...): 50 ms, doubling, at most 1 s."""
    return min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2 ** (retry - 1))
