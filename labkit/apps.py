"""What the demo apps say, shared by every stack so that echo, clock and chat mean the same thing.

The stacks differ in how a message travels (an HTTP response, a WebSocket frame, a
Socket.IO event); the content a client receives is built here.
"""

from __future__ import annotations

__all__ = ["CLOCK_INTERVAL", "chat_message", "chat_payload", "clock_text"]

import json
from datetime import UTC, datetime

#: Seconds between two clock ticks ("at least once a second").
CLOCK_INTERVAL = 1.0


def clock_text() -> str:
    """The current UTC time as ISO 8601 with milliseconds, what every clock sends."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def chat_payload(sender: int, text: str, room: str | None = None) -> dict[str, object]:
    """What a chat delivers: who sent it (connection number) and the text unchanged."""
    message: dict[str, object] = {"from": sender, "text": text}
    if room is not None:
        message["room"] = room
    return message


def chat_message(sender: int, text: str) -> str:
    """The chat payload as the JSON text a WebSocket chat sends."""
    return json.dumps(chat_payload(sender, text), ensure_ascii=False)
