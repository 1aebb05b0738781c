"""The record: facts kept bounded (entries and bytes), worded when shown, in either language."""

from __future__ import annotations

import logging
import threading

from labkit.i18n import Text, using
from labkit.record import (
    CLIENT_TO_SERVER,
    PAYLOAD_KEPT,
    SERVER_TO_CLIENT,
    Ack,
    Clipped,
    Closed,
    CloseStatus,
    Ended,
    HttpHead,
    Opened,
    Record,
    SocketIOEvent,
)


def test_entries_are_numbered_and_filtered() -> None:
    record = Record()
    conn = record.new_connection()
    record.add("open", conn, Opened("127.0.0.1:1"))
    record.message(conn, CLIENT_TO_SERVER, "hola")
    record.message(conn, SERVER_TO_CLIENT, "hola")
    assert [e.seq for e in record] == [1, 2, 3]
    assert [e.kind for e in record] == ["open", "recv", "send"]
    assert record.count("recv") == 1
    assert record.connections() == [1]
    assert record.entries(conn=2) == []
    assert record.entries("send")[0].direction == SERVER_TO_CLIENT


def test_record_is_bounded_and_counts_what_it_dropped() -> None:
    record = Record(maxlen=10)
    for i in range(25):
        record.message(1, CLIENT_TO_SERVER, str(i))
    assert len(record) == 10
    assert record.dropped == 15
    assert next(e.data for e in record) == "15"


def test_big_payloads_are_kept_as_their_start_and_size() -> None:
    """600 echoes of 1 MiB must not pin 600 MB in the kernel: the record is bounded in bytes too."""
    record = Record(maxlen=600)
    big = b"x" * 2**20
    for _ in range(600):
        record.message(1, CLIENT_TO_SERVER, big)
    kept = [e.data for e in record]
    assert all(isinstance(d, Clipped) and d.size == 2**20 and len(d.head) == PAYLOAD_KEPT for d in kept)
    assert sum(len(d.head) for d in kept) <= 600 * PAYLOAD_KEPT
    record.add("send", 1, Ack(({"data": "y" * 10_000},)))
    assert isinstance(record.entries("send")[-1].data, Clipped)
    assert repr(record.entries()[0].data).endswith("… (1048576 bytes)")


def test_none_is_data_like_any_other() -> None:
    """A Socket.IO echo of None is recorded as None, not as the text 'None'."""
    record = Record()
    record.add("recv", 1, SocketIOEvent("echo", (None,)), direction=CLIENT_TO_SERVER)
    record.add("send", 1, Ack((None,)), direction=SERVER_TO_CLIENT)
    assert [e.data for e in record] == [SocketIOEvent("echo", (None,)), Ack((None,))]
    assert [e.detail for e in record] == ["echo: None", "ack: None"]


def test_facts_are_worded_in_the_language_of_the_moment() -> None:
    record = Record()
    record.add("open", 1, Opened("127.0.0.1:5", "websocket"))
    record.add("request", 1, HttpHead.of("GET / HTTP/1.1", [("Host", "x"), ("Upgrade", "websocket")]))
    record.add("response", 1, HttpHead.of("HTTP/1.1 101 Switching Protocols", []))
    record.add("close", 1, Closed(CloseStatus(1000), CloseStatus(1000)))
    record.add("close", 2, Closed(None, CloseStatus(1008, "too slow")))
    record.add("close", 3, Ended())
    record.error(1, Text("el manejador falló", "the handler failed"))
    with using("en"):
        english = [e.detail for e in record]
        header = repr(record).splitlines()[0].split()
    with using("es"):
        spanish = [e.detail for e in record]
        header_es = repr(record).splitlines()[0].split()
    assert english == [
        "from 127.0.0.1:5 over websocket",
        "GET / HTTP/1.1 (2 headers)",
        "101 Switching Protocols",
        "received 1000 (normal closure); sent 1000 (normal closure)",
        "received no close frame; sent 1008 (policy violation) 'too slow'",
        "connection closed",
        "the handler failed",
    ]
    assert spanish == [
        "desde 127.0.0.1:5 por websocket",
        "GET / HTTP/1.1 (2 cabeceras)",
        "101 Switching Protocols",
        "recibido 1000 (cierre normal); enviado 1000 (cierre normal)",
        "recibido ninguna trama de cierre; enviado 1008 (infringe la política) 'too slow'",
        "conexión cerrada",
        "el manejador falló",
    ]
    assert header == ["#", "conn", "event", "dir", "detail"]
    assert header_es == ["#", "conn", "evento", "dir", "detalle"]


def test_sessions_are_named_apart_from_connections() -> None:
    record = Record(unit="session")
    record.add("open", 1, Opened("127.0.0.1", "polling"))
    with using("es"):
        assert repr(record).splitlines()[0].split() == ["#", "sesión", "evento", "dir", "detalle"]
    with using("en"):
        assert repr(record).splitlines()[0].split() == ["#", "session", "event", "dir", "detail"]


def test_table_text_is_aligned_and_shortens_long_details() -> None:
    record = Record()
    record.add("open", 1, Opened("127.0.0.1:5"))
    record.message(1, CLIENT_TO_SERVER, "x" * 200)
    record.message(1, CLIENT_TO_SERVER, "línea 1\nlínea 2")
    lines = repr(record).splitlines()
    assert lines[0].split() == ["#", "conn", "event", "dir", "detail"]
    assert lines[1].split() == ["1", "1", "open", "from", "127.0.0.1:5"]
    assert lines[2].endswith("…") and len(lines[2]) < 200
    assert lines[3].endswith("línea 1⏎línea 2")
    assert repr(Record()) == "(no entries)"


def test_html_table_escapes_markup_and_never_breaks_words() -> None:
    record = Record()
    record.message(1, CLIENT_TO_SERVER, "<script>")
    html = record._repr_html_()
    assert "&lt;script&gt;" in html and "<script>" not in html
    assert "word-break:normal" in html and "table-layout:auto" in html


def test_logger_records_warnings_with_tracebacks_and_never_propagates() -> None:
    record = Record()
    logger = record.logger()
    logger.info("quiet")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.error("handler failed", exc_info=True)
    assert [e.detail for e in record] == ["handler failed: ValueError('boom')"]
    assert "Traceback" in repr(record.errors()) and "ValueError: boom" in repr(record.errors())
    assert logger.propagate is False
    assert all(h not in logger.handlers for h in logging.getLogger().handlers)


def test_headers_show_each_request_and_response_head_as_on_the_wire() -> None:
    record = Record()
    record.add("request", 1, HttpHead.of("GET / HTTP/1.1", [("Host", "x"), ("Upgrade", "websocket")]))
    record.add("response", 1, HttpHead.of("HTTP/1.1 101 Switching Protocols", [("Upgrade", "websocket")]))
    record.add("request", 2, HttpHead.of("GET / HTTP/1.1", [("Host", "y")]))
    assert repr(record.headers(1)) == (
        "[conn 1, client → server]\nGET / HTTP/1.1\nHost: x\nUpgrade: websocket\n\n"
        "[conn 1, server → client]\nHTTP/1.1 101 Switching Protocols\nUpgrade: websocket"
    )
    assert len(record.headers().entries) == 3
    assert repr(Record().headers()) == "(no requests or responses recorded)"
    with using("es"):
        assert repr(record.headers(2)) == "[conexión 2, cliente → servidor]\nGET / HTTP/1.1\nHost: y"


def test_cleared_entries_are_not_counted_as_dropped() -> None:
    record = Record(maxlen=10)
    for i in range(5):
        record.message(1, CLIENT_TO_SERVER, str(i))
    record.clear()
    assert len(record) == 0 and record.dropped == 0
    for i in range(12):
        record.message(1, CLIENT_TO_SERVER, str(i))
    assert record.dropped == 2


def test_threads_appending_at_once_lose_nothing() -> None:
    record = Record(maxlen=100_000)

    def add(n: int) -> None:
        for i in range(5000):
            record.message(n, CLIENT_TO_SERVER, str(i))

    threads = [threading.Thread(target=add, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seqs = [e.seq for e in record]
    assert len(seqs) == 20_000 and seqs == sorted(seqs) and len(set(seqs)) == 20_000
