from __future__ import annotations

import logging

from labkit.record import CLIENT_TO_SERVER, SERVER_TO_CLIENT, HttpHead, Record


def test_entries_are_numbered_and_filtered() -> None:
    record = Record()
    conn = record.new_connection()
    record.add("open", conn, "from 127.0.0.1:1")
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
        record.message(1, CLIENT_TO_SERVER, i)
    assert len(record) == 10
    assert record.dropped == 15
    assert next(e.data for e in record) == 15


def test_table_text_is_aligned_and_shortens_long_details() -> None:
    record = Record()
    record.add("open", 1, "from 127.0.0.1:5")
    record.message(1, CLIENT_TO_SERVER, "x" * 200)
    text = repr(record)
    lines = text.splitlines()
    assert lines[0].split() == ["#", "conn", "event", "dir", "detail"]
    assert lines[1].split() == ["1", "1", "open", "from", "127.0.0.1:5"]
    assert lines[2].endswith("…") and len(lines[2]) < 100
    assert repr(Record()) == "(no entries)"


def test_html_table_escapes_markup() -> None:
    record = Record()
    record.message(1, CLIENT_TO_SERVER, "<script>")
    html = record._repr_html_()
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_logger_records_warnings_and_never_propagates(capsys: object) -> None:
    record = Record()
    logger = record.logger()
    logger.info("quiet")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.error("handler failed", exc_info=True)
    assert [e.detail for e in record] == ["handler failed: ValueError('boom')"]
    assert logger.propagate is False
    assert logging.getLogger().handlers == [] or all(h not in logger.handlers for h in logging.getLogger().handlers)


def test_headers_show_each_request_and_response_head_as_on_the_wire() -> None:
    record = Record()
    record.add("request", 1, "GET /", data=HttpHead.of("GET / HTTP/1.1", [("Host", "x"), ("Upgrade", "websocket")]))
    record.add("response", 1, "101", data=HttpHead.of("HTTP/1.1 101 Switching Protocols", [("Upgrade", "websocket")]))
    record.add("request", 2, "GET /", data=HttpHead.of("GET / HTTP/1.1", [("Host", "y")]))
    assert repr(record.headers(1)) == (
        "[conn 1, client → server]\nGET / HTTP/1.1\nHost: x\nUpgrade: websocket\n\n"
        "[conn 1, server → client]\nHTTP/1.1 101 Switching Protocols\nUpgrade: websocket"
    )
    assert len(record.headers().entries) == 3
    assert repr(Record().headers()) == "(no requests or responses recorded)"


def test_cleared_entries_are_not_counted_as_dropped() -> None:
    record = Record(maxlen=10)
    for i in range(5):
        record.message(1, CLIENT_TO_SERVER, i)
    record.clear()
    assert len(record) == 0 and record.dropped == 0
    for i in range(12):
        record.message(1, CLIENT_TO_SERVER, i)
    assert record.dropped == 2
