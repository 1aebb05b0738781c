"""Broadcasts shared by every process of one app through Redis publish/subscribe (``redis=URL``).

Two processes of the same chat share nothing: a broadcast reaches only the members of
the process it was sent to. With ``redis=`` the ``websocket`` and ``scratch`` stacks also
publish each broadcast of labkit's apps once on the Redis channel ``labkit:APP`` (so a
``websocket`` and a ``scratch`` process of the chat join too: same app, same frames), as
JSON ``{"origin": "…", "message": …}``; every process subscribes, and delivers to its own
members what the *other* processes published (``origin`` is the publishing server's, so
nobody gets a message twice). The ``socketio`` stack does the same with python-socketio's
``AsyncRedisManager``.

Redis publish/subscribe delivers at most once: a process that is not subscribed when a
message is published never gets it. So when Redis stops mid-chat, each member still gets
the broadcasts of its own process; what crosses processes is lost until Redis is back,
counted in :attr:`RedisBus.lost` and recorded (never printed, never raised). The
subscriber reconnects with a backoff of :data:`FIRST_RETRY` doubling up to
:data:`LAST_RETRY` seconds, so delivery across processes resumes within about a second of
Redis's return. Without ``redis=`` none of this runs: each process delivers alone.
"""

from __future__ import annotations

__all__ = ["REDIS_OPTIONS", "RedisBus", "channel_for", "check_redis", "client_options", "redis_url"]

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ..errors import LabkitError
from ..i18n import Text, say
from ..options import Option
from ..record import Record

#: Seconds to connect to Redis, and for one publish, before counting it as down.
CONNECT_TIMEOUT = 1.0
#: Seconds before the subscriber's first new try after losing Redis; then doubled, up to LAST_RETRY.
FIRST_RETRY = 0.05
LAST_RETRY = 1.0
#: Broadcasts waiting to be published; past this (Redis slow or gone) they are counted as lost.
MAX_WAITING = 10_000
#: Broadcasts published in one round trip (a pipeline) when several are waiting.
BATCH = 100


def redis_url(name: str, value: Any) -> Any:
    """A Redis URL (``redis://127.0.0.1:6379``), or a ``labkit.redis()`` handle (its URL); None: no Redis."""
    if value is None:
        return None
    from ..redis import RedisServer

    url = value.url if isinstance(value, RedisServer) else value
    parts = urlsplit(url) if isinstance(url, str) else None
    try:
        usable = parts is not None and (
            (parts.scheme in ("redis", "rediss") and bool(parts.hostname) and parts.port is not None)
            or (parts.scheme == "unix" and bool(parts.path))
        )
    except ValueError:  # a port that is not a number
        usable = False
    if not usable:
        raise LabkitError(
            say(
                f"{name} debe ser la URL de un Redis, como 'redis://127.0.0.1:6379' (o lo que da labkit.redis()), "
                f"no {value!r}",
                f"{name} must be the URL of a Redis, like 'redis://127.0.0.1:6379' (or what labkit.redis() gives), "
                f"not {value!r}",
            )
        )
    return url


#: The option, declared once for the stacks that take it.
REDIS_OPTIONS: dict[str, Option] = {
    "redis": Option(
        redis_url,
        Text(
            "URL de un Redis que comparten los procesos de la app, para que sus difusiones lleguen a todos (ninguno)",
            "URL of a Redis the app's processes share, so that their broadcasts reach everyone (none)",
        ),
    )
}


def channel_for(app: str) -> str:
    """The Redis channel of an app's broadcasts on the WebSocket stacks."""
    return f"labkit:{app}"


def client_options() -> dict[str, Any]:
    """redis-py settings for a server: fail fast (no retries of its own: the bus retries, with backoff)."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return {"socket_connect_timeout": CONNECT_TIMEOUT, "retry": Retry(NoBackoff(), 0)}


def _is_redis_error(exc: BaseException) -> bool:
    from redis.exceptions import RedisError

    return isinstance(exc, RedisError | OSError | TimeoutError)


async def check_redis(url: str) -> None:
    """One clear LabkitError, before a server starts, if no Redis answers PING at ``url``."""
    try:
        import redis.asyncio
    except ImportError:
        raise LabkitError(
            say(
                "redis= necesita el paquete redis: pip install redis",
                "redis= needs the redis package: pip install redis",
            )
        ) from None
    client = redis.asyncio.Redis.from_url(url, **client_options())
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT * 2):
            await client.ping()
    except Exception as exc:
        if not _is_redis_error(exc):
            raise
        raise LabkitError(
            say(
                f"ningún Redis responde en {url} ({exc or type(exc).__name__}): ¿lo iniciaste con labkit.redis()?",
                f"no Redis answers at {url} ({exc or type(exc).__name__}): did you start it with labkit.redis()?",
            )
        ) from None
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()


class RedisBus:
    """One server's link to the Redis channel of its app: publishes its broadcasts, delivers the others'.

    ``deliver(message)`` is called on the server's loop for each message another process
    published. Everything runs on that loop; :meth:`publish` never waits.
    """

    def __init__(self, url: str, channel: str, record: Record, deliver: Callable[[Any], None]) -> None:
        self.url = url
        self.channel = channel
        self.record = record
        self.deliver = deliver
        #: This server's name on the channel: what it publishes carries it, so it skips its own.
        self.origin = uuid.uuid4().hex[:12]
        #: Whether Redis answered last time; broadcasts published and received; broadcasts lost.
        self.up = True
        self.published = 0
        self.received = 0
        self.lost = 0
        self._lost_at_outage = 0
        self._down_since = 0.0
        self._outbox: asyncio.Queue[str] = asyncio.Queue(MAX_WAITING)
        self._tasks: list[asyncio.Task[None]] = []

    async def open(self) -> None:
        """Connect, subscribe, and return once subscribed; one LabkitError if Redis does not answer."""
        await check_redis(self.url)
        import redis.asyncio

        self._client = redis.asyncio.Redis.from_url(self.url, **client_options())
        subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tasks = [asyncio.create_task(self._listen(subscribed)), asyncio.create_task(self._send_out())]
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT * 2):
                await subscribed
        except TimeoutError:
            await self.close()
            raise LabkitError(
                say(
                    f"Redis en {self.url} no confirmó la suscripción a {self.channel}",
                    f"Redis at {self.url} did not confirm the subscription to {self.channel}",
                )
            ) from None

    def publish(self, message: Any) -> None:
        """Publish ``message`` (one broadcast, JSON data) for the other processes, without waiting."""
        data = json.dumps({"origin": self.origin, "message": message}, ensure_ascii=False)
        try:
            self._outbox.put_nowait(data)
        except asyncio.QueueFull:
            self.lost += 1

    async def close(self) -> None:
        """Stop publishing and listening, within half a second."""
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await asyncio.gather(*self._tasks, return_exceptions=True)
                client = getattr(self, "_client", None)
                if client is not None:
                    await client.aclose()

    # Publishing and listening --------------------------------------------------------------

    async def _send_out(self) -> None:
        """Publish what waits, a batch per round trip; a failure loses the batch (at most once)."""
        outbox = self._outbox
        while True:
            batch = [await outbox.get()]
            while len(batch) < BATCH and not outbox.empty():
                batch.append(outbox.get_nowait())
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    if len(batch) == 1:
                        await self._client.publish(self.channel, batch[0])
                    else:
                        async with self._client.pipeline(transaction=False) as pipe:
                            for data in batch:
                                pipe.publish(self.channel, data)
                            await pipe.execute()
                self.published += len(batch)
                self._came_back()
            except Exception as exc:
                if not _is_redis_error(exc):
                    raise
                self.lost += len(batch)
                self._went_down(exc)

    async def _listen(self, subscribed: asyncio.Future[None]) -> None:
        """Subscribe and deliver the other processes' broadcasts; on a failure, subscribe again with backoff."""
        import redis.asyncio

        delay = FIRST_RETRY
        while True:
            client = redis.asyncio.Redis.from_url(self.url, **client_options())
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                async for item in pubsub.listen():
                    if item["type"] == "subscribe":
                        if not subscribed.done():
                            subscribed.set_result(None)
                        self._came_back()
                        delay = FIRST_RETRY
                    elif item["type"] == "message":
                        self._arrived(item["data"])
                self._went_down(ConnectionError("the subscription ended"))  # Redis closed the connection
            except Exception as exc:
                if not _is_redis_error(exc):
                    raise
                self._went_down(exc)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                    await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY)

    def _arrived(self, data: bytes) -> None:
        try:
            envelope = json.loads(data)
            origin, message = envelope["origin"], envelope["message"]
        except (ValueError, TypeError, KeyError):
            self.record.error(
                None,
                Text(
                    f"Redis ({self.channel}) trajo algo que no es de labkit: {data[:80]!r}",
                    f"Redis ({self.channel}) brought something that is not labkit's: {data[:80]!r}",
                ),
            )
            return
        if origin != self.origin:
            self.received += 1
            self.deliver(message)

    def _went_down(self, exc: BaseException) -> None:
        """Recorded once per outage: what happened and what it means for the chat."""
        if not self.up:
            return
        self.up = False
        self._down_since = time.monotonic()
        self._lost_at_outage = self.lost
        reason = str(exc) or type(exc).__name__
        self.record.error(
            None,
            Text(
                f"Redis no responde en {self.url} ({reason}): cada cliente recibe solo las difusiones de su "
                "proceso hasta que vuelva; se reintenta",
                f"Redis does not answer at {self.url} ({reason}): each client gets only its own process's "
                "broadcasts until it is back; retrying",
            ),
        )

    def _came_back(self) -> None:
        if self.up:
            return
        self.up = True
        seconds = time.monotonic() - self._down_since
        lost = self.lost - self._lost_at_outage
        es = (
            f"{lost} difusión de este proceso no llegó"
            if lost == 1
            else f"{lost} difusiones de este proceso no llegaron"
        )
        en = (
            f"{lost} broadcast of this process did not reach"
            if lost == 1
            else f"{lost} broadcasts of this process did not reach"
        )
        self.record.error(
            None,
            Text(
                f"Redis responde de nuevo tras {seconds:.1f} s; {es} a los demás",
                f"Redis answers again after {seconds:.1f} s; {en} the others",
            ),
        )
