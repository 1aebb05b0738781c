"""Limits a server applies to one client, whatever the stack."""

from __future__ import annotations

__all__ = ["RateLimit"]

import time


class RateLimit:
    """At most ``rate`` messages a second, in bursts of up to one second's worth (a token bucket)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
