"""A pulled cable found by heartbeats, and clients reconnecting after a restart: live, on loopback, bounded.

No timed assertions: detection must happen, after at least one ping timeout (it is not a
reset), and within a generous bound that only keeps the test from hanging.
"""

from __future__ import annotations

import itertools

import pytest

import labkit
from labkit.i18n import using
from labkit.network import (
    _TAKES_RECONNECT_DELAYS,
    SHORT_SOCKETIO_RECONNECTION,
    SHORT_WEBSOCKETS_BACKOFF,
    detect_dead_peer,
    reconnect_after_restart,
)
from labkit.record import Closed, CloseStatus, Ended

KEEPALIVE_TIMEOUT = CloseStatus(1011, "keepalive ping timeout")


def test_a_dead_peer_over_websocket_is_found_by_both_ends_heartbeats() -> None:
    found = detect_dead_peer("websocket", ping_interval=1, ping_timeout=1, close_timeout=0.5)
    assert found.bound == 2.5
    assert found.server_after is not None and found.client_after is not None
    # Not a reset: noticed only once a ping went unanswered for ping_timeout, and the closing
    # handshake timed out; well within the bound (+ slack for a slow machine).
    for after in (found.server_after, found.client_after):
        assert found.ping_timeout + 0.5 <= after <= found.bound + 3
    assert found.server_saw is not None and found.server_saw.data == Closed(None, KEEPALIVE_TIMEOUT)
    assert found.client_saw == KEEPALIVE_TIMEOUT
    assert found.tap is not None and not found.tap.running
    timeline = repr(found.tap.timeline())
    assert "cable cut" in timeline and "ping" in timeline.split("cable cut")[1]  # pings went out, none through
    lines = repr(found).splitlines()
    assert lines[0] == (
        "cable cut without closing anything, over websocket (ping every 1 s, pong within 1 s, close within 0.5 s)"
    )
    assert lines[1].endswith(": received no close frame; sent 1011 (internal error) 'keepalive ping timeout'")
    assert lines[2].endswith(": sent 1011 (internal error) 'keepalive ping timeout'")
    assert lines[3] == "  at most 1 + 1 + 0.5 = 2.5 s; with the defaults of websockets, 20 + 20 + 10 = 50 s"
    with using("es"):
        assert repr(found).splitlines()[3] == (
            "  como mucho 1 + 1 + 0.5 = 2.5 s; con los valores por defecto de websockets, 20 + 20 + 10 = 50 s"
        )
    assert not labkit.leftovers()


def test_a_client_without_heartbeats_never_hears_of_a_pulled_cable() -> None:
    found = detect_dead_peer("websocket", ping_interval=1, ping_timeout=1, client_heartbeats=False)
    assert found.server_after is not None and found.server_after >= found.ping_timeout
    assert found.client_after is None and found.client_saw is None
    assert found.watched >= found.bound  # it was watched longer than the server needed
    assert "the client had not noticed after" in repr(found) and "(it sends no pings)" in repr(found)


def test_a_dead_peer_over_socketio_is_found_by_engineio_pings() -> None:
    found = detect_dead_peer("socketio", ping_interval=1, ping_timeout=1)
    assert found.bound == 2 and found.close_timeout is None
    assert found.server_after is not None and found.client_after is not None
    for after in (found.server_after, found.client_after):
        assert found.ping_timeout <= after <= found.bound + 3
    assert found.server_saw is not None and found.server_saw.data == Ended("ping timeout")
    assert isinstance(found.client_saw, str) and found.client_saw  # python-engineio's reason, e.g. "transport error"
    assert repr(found).splitlines()[3] == "  at most 1 + 1 = 2 s; with the defaults of python-engineio, 25 + 20 = 45 s"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"over": "http"}, "over must be 'websocket' or 'socketio', not 'http'"),
        ({"ping_interval": 0}, r"ping_interval must be a number of seconds, at least 0\.1, not 0"),
        ({"ping_timeout": 45}, r"ping_timeout must be at most 30 s \(the cell waits that long\), not 45"),
        ({"close_timeout": "1"}, "close_timeout must be a number of seconds"),
        ({"over": "socketio", "ping_interval": 1.5}, "ping_interval must be a whole number of seconds"),
        ({"over": "socketio", "close_timeout": 1}, "close_timeout is websockets'"),
        ({"over": "socketio", "client_heartbeats": False}, "a Socket.IO client always watches the server's pings"),
        ({"client_heartbeats": "no"}, "client_heartbeats must be True or False"),
    ],
)
def test_detect_dead_peer_takes_clear_errors(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(labkit.LabkitError, match=message):
        detect_dead_peer(**arguments)  # type: ignore[arg-type]
    assert labkit.running() == []


def growing(delays: tuple[float, ...]) -> bool:
    return all(later > earlier for earlier, later in itertools.pairwise(delays))


@pytest.mark.skipif(not _TAKES_RECONNECT_DELAYS, reason="websockets < 17 has no reconnect_delays (its own: 3.1 s…)")
def test_websockets_reconnecting_iterator_backs_off_until_the_restarted_server_answers() -> None:
    back = reconnect_after_restart("websocket", down=1.0)
    assert back.dropped == CloseStatus(1001)  # the stopping server said goodbye: going away
    assert back.reconnected_after is not None and back.reconnected_after >= back.restarted_after >= 1.0
    first, *then = back.delays  # a random first wait, then min_delay × factor each time
    assert 0 <= first <= SHORT_WEBSOCKETS_BACKOFF["initial_delay"]
    assert len(then) >= 2 and growing(tuple(then)) and then[0] == SHORT_WEBSOCKETS_BACKOFF["min_delay"]
    assert all(d <= SHORT_WEBSOCKETS_BACKOFF["max_delay"] for d in back.delays)
    assert repr(back).splitlines()[1] == "  the client saw: 1001 (going away)"
    assert not labkit.leftovers()


def test_websockets_client_reconnects_after_a_crash() -> None:
    back = reconnect_after_restart("websocket", down=0.5, crash=True)
    assert back.dropped == CloseStatus(1006)  # no close frame: abnormal closure
    assert back.reconnected_after is not None and back.reconnected_after >= back.restarted_after
    assert back.delays  # at least one attempt failed while the server was down
    with using("es"):
        assert repr(back).splitlines()[0].startswith("el servidor websocket cayó sin despedirse")


def test_a_socketio_client_told_goodbye_does_not_reconnect() -> None:
    back = reconnect_after_restart("socketio", down=0.5)
    assert back.dropped == "server disconnect"  # Socket.IO's disconnect packet (41)
    assert back.reconnected_after is None and back.delays == ()
    assert back.watched > back.restarted_after + SHORT_SOCKETIO_RECONNECTION["reconnection_delay_max"]
    assert repr(back).splitlines()[-1].startswith("  not connected again after ")


def test_a_socketio_client_reconnects_after_a_crash_with_growing_delays() -> None:
    back = reconnect_after_restart("socketio", down=1.0, crash=True)
    assert back.dropped == "transport error"
    assert back.reconnected_after is not None and back.reconnected_after >= back.restarted_after >= 1.0
    jitter = SHORT_SOCKETIO_RECONNECTION["randomization_factor"]
    assert len(back.delays) >= 3 and growing(back.delays)
    assert abs(back.delays[0] - SHORT_SOCKETIO_RECONNECTION["reconnection_delay"]) <= jitter + 0.01
    assert abs(back.delays[1] - 2 * SHORT_SOCKETIO_RECONNECTION["reconnection_delay"]) <= jitter + 0.01


def test_reconnect_after_restart_takes_clear_errors() -> None:
    with pytest.raises(labkit.LabkitError, match="over must be 'websocket' or 'socketio'"):
        reconnect_after_restart("scratch")
    with pytest.raises(labkit.LabkitError, match=r"down must be at most 10 s"):
        reconnect_after_restart(down=60)
    with pytest.raises(labkit.LabkitError, match="crash must be True or False"):
        reconnect_after_restart(crash=1)  # type: ignore[arg-type]
    assert labkit.running() == []
