"""One handle type, one registry, one stop_all: for servers, taps and whatever a lesson starts."""

from __future__ import annotations

import errno

import pytest

import labkit
from labkit.handles import Handle, leftovers, listen_error, running, start, stop_all
from labkit.i18n import using


class Dummy(Handle):
    """A handle that only counts its stops."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.stops = 0

    @property
    def url(self) -> str:
        return "dummy://"

    def _shut_down(self) -> None:
        self.stops += 1

    def __repr__(self) -> str:
        return f"<Dummy {self.name}>"


def test_starting_under_a_taken_name_stops_the_previous_holder_first() -> None:
    first = start("cell", lambda: Dummy("cell"))
    seen_running: list[bool] = []

    def launch() -> Dummy:
        seen_running.append(first.running)  # the previous one stopped before the new one starts
        return Dummy("cell")

    second = start("cell", launch)
    assert seen_running == [False] and first.stops == 1 and second.running
    assert running() == [second]
    second.stop()
    second.stop()
    assert second.stops == 1 and running() == []


def test_a_launch_that_fails_leaves_nothing_registered() -> None:
    def fail() -> Dummy:
        raise labkit.LabkitError("no")

    with pytest.raises(labkit.LabkitError):
        start("broken", fail)
    assert running() == []


def test_stop_all_reaches_servers_taps_and_any_handle() -> None:
    dummy = start("dummy", lambda: Dummy("dummy"))
    server = labkit.serve("echo", over="websocket")
    tap = labkit.tap(server.url)
    assert {h.name for h in running()} == {"dummy", "echo-websocket", f"tap-{server.port}"}
    stop_all()
    assert not dummy.running and not server.running and not tap.running and running() == []


def test_leftovers_speaks_the_lessons_language() -> None:
    with using("es"):
        assert repr(leftovers()) == "nada en marcha: 0 servidores, 0 hilos"
    with using("en"):
        assert repr(leftovers()) == "nothing left running: 0 servers, 0 threads"
    dummy = start("dummy", lambda: Dummy("dummy"))
    with using("es"):
        assert repr(leftovers(wait=0)).splitlines() == ["sigue en marcha: 1 servidores, 0 hilos", "<Dummy dummy>"]
    dummy.stop()


def test_listen_errors_always_say_why() -> None:
    taken = listen_error(OSError(errno.EADDRINUSE, "Address already in use"), "127.0.0.1", 8000)
    assert (
        str(taken) == "port 8000 on 127.0.0.1 is already in use; stop what holds it, pick another port, or use port 0"
    )
    assert str(listen_error(TimeoutError(), "127.0.0.1", 0)) == "cannot listen on 127.0.0.1:0: TimeoutError"
    with using("es"):
        assert str(listen_error(OSError(errno.EACCES, "Permission denied"), "0.0.0.0", 80)) == (
            "no se puede escuchar en 0.0.0.0:80: Permission denied"
        )


def test_server_and_tap_render_in_the_lessons_language() -> None:
    with labkit.serve("echo", over="websocket") as server:
        with using("es"):
            assert repr(server).startswith("<Servidor 'echo-websocket': echo sobre websocket en ws://127.0.0.1:")
            assert "(en marcha; nombre" in server._repr_html_()
        with using("en"):
            assert repr(server).endswith("(running)>") and "(running; name" in server._repr_html_()
    with using("es"):
        assert repr(server).endswith("(detenido)>")
