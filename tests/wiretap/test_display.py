"""The views: exact text for a known exchange in both languages, HTML tables, the same text for the same traffic."""

from __future__ import annotations

import re
import typing

from hypothesis import given, settings

from labkit.i18n import using
from labkit.protocol import Opcode
from labkit.protocol.engineio import decode_engineio, decode_polling_payload
from labkit.record import CloseStatus
from labkit.tables import html_table
from labkit.wiretap import (
    INFLATE_BUDGET,
    Chunk,
    Note,
    Packet,
    PacketTable,
    Recording,
    Undecodable,
    WebSocketFrame,
)
from labkit.wiretap.decode import NoteCode, Reason, decode
from labkit.wiretap.display import (
    FrameTable,
    Hexdump,
    SequenceDiagram,
    Summary,
    Timeline,
    annotate,
    content,
    describe,
    describe_packet,
    note_words,
    reason_words,
)
from tests.third_party import pretty
from tests.wiretap.helpers import (
    HEL,
    LO,
    MASKED_HELLO,
    UNMASKED_HELLO,
    C,
    S,
    compressed,
    deflated,
    recording,
    socketio_over_polling,
    socketio_over_websocket,
    upgraded,
)
from tests.wiretap.test_decode import chunk_lists

CLOSE_1000 = bytes.fromhex("88 02 03 e8")
MASKED_CLOSE_1000 = bytes.fromhex("88 82 00 00 00 00 03 e8")


def echo_exchange() -> Recording:
    return upgraded((C, MASKED_HELLO), (S, UNMASKED_HELLO), (C, MASKED_CLOSE_1000), (S, CLOSE_1000))


# Mermaid ------------------------------------------------------------------------------------


def test_mermaid_sequence_of_a_websocket_echo_in_both_languages() -> None:
    assert repr(echo_exchange().sequence()) == "\n".join(
        [
            "sequenceDiagram",
            "    participant C as Client",
            "    participant S as Server",
            "    Note over C,S: connection 1",
            "    C->>S: GET /chat HTTP/1.1 (Upgrade: websocket)",
            "    S->>C: HTTP/1.1 101 Switching Protocols (Upgrade: websocket)",
            "    C->>S: text 'Hello' (masked)",
            "    S->>C: text 'Hello'",
            "    C->>S: close 1000 (normal closure) (masked)",
            "    S->>C: close 1000 (normal closure)",
        ]
    )
    with using("es"):
        assert repr(echo_exchange().sequence()) == "\n".join(
            [
                "sequenceDiagram",
                "    participant C as Cliente",
                "    participant S as Servidor",
                "    Note over C,S: conexión 1",
                "    C->>S: GET /chat HTTP/1.1 (Upgrade: websocket)",
                "    S->>C: HTTP/1.1 101 Switching Protocols (Upgrade: websocket)",
                "    C->>S: texto 'Hello' (enmascarada)",
                "    S->>C: texto 'Hello'",
                "    C->>S: cierre 1000 (cierre normal) (enmascarada)",
                "    S->>C: cierre 1000 (cierre normal)",
            ]
        )
    markdown = echo_exchange().sequence()._repr_markdown_()
    assert markdown.startswith("```mermaid\nsequenceDiagram\n") and markdown.endswith("\n```")


def test_the_words_are_chosen_when_the_view_is_shown() -> None:
    diagram = echo_exchange().sequence()  # made in English (the tests' default) ...
    with using("es"):
        assert "participant C as Cliente" in repr(diagram)  # ... shown in Spanish
    assert "participant C as Client" in repr(diagram)


def test_mermaid_escapes_what_would_break_the_diagram() -> None:
    text = bytes([0x81, 0x0B]) + b"a;b#c<d>e\nf"
    (line,) = [ln for ln in repr(upgraded((S, text)).sequence()).splitlines() if "text" in ln]
    assert line == "    S->>C: text 'a#59;b#35;c#lt;d#gt;e\\nf'"
    polling = recording(
        (C, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n2\x1e3\x1e40"),
    )
    assert repr(polling.sequence()).splitlines()[-1] == (
        "    S->>C: HTTP/1.1 200 OK<br/>'2' → Engine.IO ping<br/>'3' → Engine.IO pong<br/>'40' → Socket.IO connect"
    )
    assert repr(SequenceDiagram([])).endswith("Note over C,S: no traffic recorded")
    with using("es"):
        assert repr(SequenceDiagram([])).endswith("Note over C,S: no hay tráfico registrado")


# Hexdump -----------------------------------------------------------------------------------


def test_hexdump_annotates_each_frame_and_message_in_both_languages() -> None:
    rec = upgraded((C, MASKED_HELLO), (S, HEL + LO))
    blocks = repr(rec.hexdump(conn=1)).split("\n\n")
    assert blocks[0].startswith(
        "conn 1 C→S  HTTP request: GET /chat HTTP/1.1 · 5 header fields, no body\n  0000  47 45 54"
    )
    assert blocks[2] == (
        "conn 1 C→S  FIN=1 opcode=1 (text) MASK=1 len=5 key=37fa213d → 'Hello'\n"
        "  00a1  81 85 37 fa 21 3d 7f 9f 4d 51 58                 ..7.!=..MQX"
    )
    assert blocks[3] == (
        "conn 1 S→C  FIN=0 opcode=1 (text) MASK=0 len=3 → fragment 1 'Hel'\n"
        "  0081  01 03 48 65 6c                                   ..Hel"
    )
    assert blocks[4].startswith(
        "conn 1 S→C  FIN=1 opcode=0 (continuation) MASK=0 len=2 → fragment 2 (last) 'lo' → message 'Hello'\n"
    )
    assert repr(Hexdump([])) == "(no traffic recorded)"
    with using("es"):
        blocks = repr(rec.hexdump(conn=1)).split("\n\n")
        assert blocks[0].startswith(
            "conexión 1 C→S  petición HTTP: GET /chat HTTP/1.1 · 5 campos de cabecera, sin cuerpo\n  0000  47 45 54"
        )
        assert blocks[2].startswith("conexión 1 C→S  FIN=1 opcode=1 (texto) MASK=1 len=5 key=37fa213d → 'Hello'\n")
        assert blocks[3].startswith("conexión 1 S→C  FIN=0 opcode=1 (texto) MASK=0 len=3 → fragmento 1 'Hel'\n")
        assert blocks[4].startswith(
            "conexión 1 S→C  FIN=1 opcode=0 (continuación) MASK=0 len=2 → "
            "fragmento 2, el último, 'lo' → mensaje 'Hello'\n"
        )
        assert repr(Hexdump([])) == "(no hay tráfico registrado)"


def test_hexdump_shows_packets_and_cuts_long_units() -> None:
    big = bytes.fromhex("82 7E 01 00") + bytes(256)
    rec = upgraded((S, big))
    tail = "  0091  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  ................\n"
    assert repr(rec.hexdump(limit=32)).endswith(tail + "  … 228 more bytes")
    with using("es"):
        assert repr(rec.hexdump(limit=32)).endswith(tail + "  … 228 bytes más")
    polled = recording(
        (C, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n"),
        (S, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n6"),
    )
    assert "· 1 header field, 1-byte body\n    = '6' → Engine.IO noop\n" in repr(polled.hexdump())
    with using("es"):
        assert "· 1 campo de cabecera, cuerpo de 1 byte\n    = '6' → Engine.IO noop\n" in repr(polled.hexdump())


# The frame table ---------------------------------------------------------------------------

ECHO_TABLE_EN = """\
#  conn  dir  kind           fin  opcode   masked  key       len  content
1  1     C→S  HTTP request                                   0    GET /chat HTTP/1.1 (Upgrade: websocket)
2  1     S→C  HTTP response                                  0    HTTP/1.1 101 Switching Protocols (Upgrade: websocket)
3  1     C→S  frame          1    1 text   yes     37fa213d  5    'Hello'
4  1     S→C  frame          1    1 text   no                5    'Hello'
5  1     C→S  frame          1    8 close  yes     00000000  2    1000 (normal closure)
6  1     S→C  frame          1    8 close  no                2    1000 (normal closure)"""

ECHO_TABLE_ES = """\
#  conn  dir  tipo            fin  opcode    máscara  clave     long.  contenido
1  1     C→S  petición HTTP                                     0      GET /chat HTTP/1.1 (Upgrade: websocket)
2  1     S→C  respuesta HTTP                                    0      \
HTTP/1.1 101 Switching Protocols (Upgrade: websocket)
3  1     C→S  trama           1    1 texto   sí       37fa213d  5      'Hello'
4  1     S→C  trama           1    1 texto   no                 5      'Hello'
5  1     C→S  trama           1    8 cierre  sí       00000000  2      1000 (cierre normal)
6  1     S→C  trama           1    8 cierre  no                 2      1000 (cierre normal)"""


def test_frame_table_text_in_both_languages() -> None:
    table = echo_exchange().frames()
    assert repr(table) == ECHO_TABLE_EN and str(table) == ECHO_TABLE_EN and pretty(table) == ECHO_TABLE_EN
    with using("es"):
        assert repr(table) == ECHO_TABLE_ES
    assert len(table) == 6
    assert repr(FrameTable([])) == "(no traffic recorded)"


def test_frame_table_says_what_a_frame_carries_once() -> None:
    """No payload column beside a meaning column that repeats it: one column, one mention."""
    table = echo_exchange().frames()
    for lang in ("en", "es"):
        with using(lang):
            header = table.header()
            assert len(set(header)) == len(header)
            for row in table.rows():
                assert len(row) == len(header)
                assert sum("Hello" in cell for cell in row) <= 1 and sum("1000" in cell for cell in row) <= 1


def without_spans(html: str) -> str:
    """The HTML without the spans that keep each word of a wide cell whole."""
    return re.sub(r"<span style='white-space:nowrap'>|</span>", "", html)


def test_frame_table_html_is_the_shared_table_shape_in_both_languages() -> None:
    table = echo_exchange().frames()
    assert table._repr_html_() == html_table(table.header(), table.rows())
    with using("es"):
        html = table._repr_html_()
    assert html.startswith("<table style=") and ">contenido</th>" in html and ">máscara</th>" in html
    assert "<td style='text-align:left;vertical-align:top;padding:1px 8px;" in html
    assert "&#x27;Hello&#x27;" in html and ">1000 (cierre normal)</td>" in without_spans(html)
    with using("es"):
        assert "no hay tráfico registrado" in FrameTable([])._repr_html_()


def test_html_keeps_each_word_whole() -> None:
    """Browsers break a URL after '?' or JSON after ','; a word of the content column stays on one line."""
    html = socketio_over_websocket().frames()._repr_html_()
    assert "<span style='white-space:nowrap'>/socket.io/?EIO=4&amp;transport=websocket</span>" in html
    assert "<span style='white-space:nowrap'>&#x27;451-[&quot;up&quot;,{&quot;_placeholder&quot;:true," in html


def test_html_escapes_markup_in_payloads() -> None:
    markup = b"<img src=x onerror=alert(1)>&"
    rec = upgraded((S, bytes([0x81, len(markup)]) + markup))
    html = rec.frames()._repr_html_()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;&amp;" in without_spans(html)
    event = b'42["<b>hi</b>"]'
    rec = upgraded((S, bytes([0x81, len(event)]) + event), target=b"/socket.io/?EIO=4&transport=websocket")
    for view in (rec.frames(), rec.packets()):
        html = view._repr_html_()
        assert "<b>" not in html and "&lt;b&gt;hi&lt;/b&gt;" in without_spans(html)


def test_fragments_show_their_position_and_the_last_the_message() -> None:
    rec = upgraded((S, HEL + LO))
    first, last = rec.messages()[2:]
    assert (content(first), content(last)) == ("fragment 1 'Hel'", "fragment 2 (last) 'lo' → message 'Hello'")
    assert describe(first) == "text fragment 1 'Hel'"
    with using("es"):
        assert (content(first), content(last)) == (
            "fragmento 1 'Hel'",
            "fragmento 2, el último, 'lo' → mensaje 'Hello'",
        )
        assert describe(last) == "continuación fragmento 2, el último, 'lo' → mensaje 'Hello'"


def test_payloads_shown_by_type() -> None:
    ping = bytes.fromhex("89 05 48 65 6c 6c 6f")
    empty_pong = bytes.fromhex("8a 00")
    medium = bytes.fromhex("82 7E 01 00") + b"\xab" * 256
    long_text = bytes([0x81, 50]) + b"x" * 50
    units = upgraded((S, ping), (S, empty_pong), (S, medium), (S, long_text)).messages()[2:]
    assert [describe(u) for u in units] == [
        "ping 'Hello'",
        "pong (empty)",
        "binary ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab … (256 bytes)",
        f"text {'x' * 40!r}… (50 chars)",
    ]
    with using("es"):
        assert [describe(u) for u in units][1:] == [
            "pong (vacío)",
            "binario ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab … (256 bytes)",
            f"texto {'x' * 40!r}… (50 caracteres)",
        ]


def test_close_codes_are_named_as_the_record_names_them() -> None:
    coded = bytes.fromhex("88 05 03 e9") + b"bye"
    bare = bytes.fromhex("88 00")
    odd = bytes.fromhex("88 01 03")
    one, two, three = upgraded((S, coded), (S, bare), (S, odd)).messages()[2:]
    for lang in ("en", "es"):
        with using(lang):
            assert content(one) == str(CloseStatus(1001, "bye"))
    assert (content(one), content(two)) == ("1001 (going away) 'bye'", "no status code")
    assert content(three).startswith("03 (1 byte) (invalid close payload: close frame payload of 1 byte")
    with using("es"):
        assert (content(one), content(two)) == ("1001 (se va) 'bye'", "sin código")
        assert content(three).startswith("03 (1 byte) (cuerpo de cierre no válido: ")


def test_compressed_messages_say_so_and_the_spent_budget_too() -> None:
    hello = compressed(b"Hello", Opcode.TEXT)
    chunks = deflated([hello, compressed(bytes(2**20)), hello])
    rec = Recording(inflate_budget=2**20)
    rec.open_connection()
    for chunk in chunks:
        rec.add(1, chunk.direction, chunk.data)
    first, big, late = rec.messages()[2:]
    assert content(first) == "'Hello' (compressed)"
    assert isinstance(big, WebSocketFrame) and big.message is None
    assert content(big) == (
        f"{big.payload[:16].hex(' ')} … ({len(big.payload)} bytes) "
        "(compressed, not inflated: the recording's inflation budget of 1048576 bytes is spent)"
    )
    assert content(late).endswith(
        "(compressed, not inflated: the recording's inflation budget of 1048576 bytes is spent)"
    )
    assert repr(rec.summary()).splitlines()[-1] == (
        "  2 compressed messages not inflated: the recording's inflation budget of 1048576 bytes is spent"
    )
    with using("es"):
        assert content(first) == "'Hello' (comprimido)"
        assert content(late).endswith(
            "(comprimido, sin inflar: el presupuesto de inflado de la grabación, 1048576 bytes, está gastado)"
        )
        assert repr(rec.summary()).splitlines()[-1] == (
            "  2 mensajes comprimidos sin inflar: el presupuesto de inflado de la grabación, 1048576 bytes, "
            "está gastado"
        )
    assert INFLATE_BUDGET == 16 * 2**20


def test_every_reason_and_note_has_words_in_both_languages() -> None:
    for reason in typing.get_args(Reason):
        unit = Undecodable(1, C, 0, b"x", reason, detail="d", have=1, need=2)
        with using("es"):
            es = reason_words(unit)
        assert es and reason_words(unit) and es != reason_words(unit), reason
    for code in typing.get_args(NoteCode):
        note = Note(code, "d", 7)
        with using("es"):
            es = note_words(note)
        assert es and note_words(note) and es != note_words(note), code


def test_undecodable_bytes_appear_in_every_view() -> None:
    rec = recording((C, b"\x00\x01garbage\r\n\r\n"))
    assert "undecodable" in repr(rec.frames()) and "· 00 01 67 61" in repr(rec.frames())
    assert "C->>S: 13 undecodable bytes: not HTTP: " in repr(rec.sequence())
    assert repr(rec.hexdump()).startswith("conn 1 C→S  undecodable: 13 bytes: not HTTP:")
    with using("es"):
        assert "no decodificable" in repr(rec.frames())
        assert "C->>S: 13 bytes no decodificables: no es HTTP: " in repr(rec.sequence())
        assert repr(rec.hexdump()).startswith("conexión 1 C→S  no decodificable: 13 bytes: no es HTTP:")


# Engine.IO and Socket.IO -------------------------------------------------------------------


def words(raw: str | bytes, transport: str = "websocket", socketio: bool = True) -> str:
    """What the tap says about one packet, decoded by labkit.protocol.engineio."""
    return describe_packet(Packet.of(decode_engineio(raw, transport, socketio)))


def test_engineio_packets_in_words() -> None:
    assert words("2probe") == "'2probe' → Engine.IO ping 'probe'"
    assert words("3") == "'3' → Engine.IO pong"
    handshake = '0{"sid":"abc","pingInterval":25000}'
    assert words(handshake) == f"{handshake!r} → Engine.IO open"
    assert words("9") == "'9' → not an Engine.IO packet"
    with using("es"):
        assert words("9") == "'9' → no es un paquete Engine.IO"


def test_socketio_packets_in_words() -> None:
    assert words("40") == "'40' → Socket.IO connect"
    assert words('42["chat","hola"]') == '\'42["chat","hola"]\' → Socket.IO event "chat" ["hola"]'
    assert words('431["hola"]') == '\'431["hola"]\' → Socket.IO ack 1 ["hola"]'
    assert words('4212["echo","x"]') == '\'4212["echo","x"]\' → Socket.IO event "echo" ["x"] (ack 12)'
    assert words('40/admin,{"token":"t"}') == '\'40/admin,{"token":"t"}\' → Socket.IO connect /admin {"token": "t"}'
    assert words("41") == "'41' → Socket.IO disconnect"
    assert words('44{"message":"no"}') == '\'44{"message":"no"}\' → Socket.IO connect_error {"message": "no"}'
    binary_event = '451-["up",{"_placeholder":true,"num":0}]'
    expected = 'Socket.IO binary_event "up" [{"_placeholder": true, "num": 0}]'
    assert words(binary_event) == f"{binary_event!r} → {expected} (1 attachment)"
    assert words("4hello", socketio=False) == "'4hello' → Engine.IO message"
    assert words("4hello") == "'4hello' → Engine.IO message, not a Socket.IO packet"
    assert words(b"\x00\x01") == "00 01 (2 bytes) → Engine.IO binary message"
    with using("es"):
        assert words(binary_event) == f"{binary_event!r} → {expected} (1 adjunto)"
        assert words("4hello") == "'4hello' → Engine.IO message que no es un paquete Socket.IO"
        assert words(b"\x00\x01") == "00 01 (2 bytes) → Engine.IO message binario"


def test_polling_payload_packets_in_words() -> None:
    body = b'40{"sid":"s"}\x1e2\x1ebAAE='
    assert [describe_packet(Packet.of(p)) for p in decode_polling_payload(body)] == [
        '\'40{"sid":"s"}\' → Socket.IO connect {"sid": "s"}',
        "'2' → Engine.IO ping",
        "'bAAE=' → Engine.IO binary message",
    ]


PACKETS_EN = """\
#  conn  dir  transport  Engine.IO  Socket.IO     ack  content
1  1     S→C  websocket  open                          '0{"sid":"a"}'
2  1     C→S  websocket  message    connect            '40'
3  1     S→C  websocket  message    connect            '40{"sid":"b"}'
4  1     C→S  websocket  message    event         1    '421["echo","x"]'
5  1     S→C  websocket  message    ack           1    '431["x"]'
6  1     S→C  websocket  ping                          '2'
7  1     C→S  websocket  pong                          '3'
8  1     S→C  websocket  message    binary_event       '451-["up",{"_placeholder":true,"num":0}]'
9  1     S→C  websocket  message    attachment         ff ee (2 bytes)"""


def test_packet_table_in_both_languages_and_still_a_list() -> None:
    packets = socketio_over_websocket().packets()
    assert isinstance(packets, PacketTable) and isinstance(packets, list) and len(packets) == 9
    assert [p.raw for p in packets][:2] == ['0{"sid":"a"}', "40"] and packets[3].event == "echo"
    assert repr(packets) == PACKETS_EN and pretty(packets) == PACKETS_EN
    with using("es"):
        lines = repr(packets).splitlines()
    assert lines[0].split() == ["#", "conn", "dir", "transporte", "Engine.IO", "Socket.IO", "ack", "contenido"]
    assert lines[-1].split() == ["9", "1", "S→C", "websocket", "message", "adjunto", "ff", "ee", "(2", "bytes)"]
    assert packets._repr_html_() == html_table(packets.header(), packets.rows())
    assert repr(PacketTable()) == "(no Engine.IO packets recorded)"
    with using("es"):
        assert repr(PacketTable()) == "(no hay paquetes Engine.IO registrados)"


def test_socketio_traffic_in_the_frame_table_and_diagram() -> None:
    frames = socketio_over_websocket().frames()
    assert [row[-1] for row in frames.rows()][2:6] == [
        '\'0{"sid":"a"}\' → Engine.IO open',
        "'40' → Socket.IO connect",
        '\'40{"sid":"b"}\' → Socket.IO connect {"sid": "b"}',
        '\'421["echo","x"]\' → Socket.IO event "echo" ["x"] (ack 1)',
    ]
    polled = socketio_over_polling()
    assert polled.frames().rows()[5][-1] == (
        'HTTP/1.1 200 OK · \'40{"sid":"b"}\' → Socket.IO connect {"sid": "b"}; \'42["hi"]\' → Socket.IO event "hi" []'
    )
    with using("es"):
        assert polled.frames().rows()[3][-1] == "HTTP/1.1 200 OK + cuerpo 'ok'"
        assert "    C->>S: texto '40' → Socket.IO connect (enmascarada)" in repr(socketio_over_websocket().sequence())


# Summary and timeline -----------------------------------------------------------------------


def test_summary_counts_connections_bytes_and_contents_in_both_languages() -> None:
    rec = echo_exchange()
    recording((C, b"GET / HTTP/1.1\r\n\r\n"), conn=2, into=rec)
    assert repr(rec.summary("running")).splitlines() == [
        "tap (running): 2 connections, 198 bytes C→S, 140 bytes S→C",
        "  conn 1: 180 bytes C→S, 140 bytes S→C · 1 HTTP request, 1 HTTP response, 4 WebSocket frames",
        "  conn 2: 18 bytes C→S, 0 bytes S→C · 1 HTTP request",
    ]
    with using("es"):
        assert repr(rec.summary("stopped")).splitlines() == [
            "tap (detenido): 2 conexiones, 198 bytes C→S, 140 bytes S→C",
            "  conexión 1: 180 bytes C→S, 140 bytes S→C · 1 petición HTTP, 1 respuesta HTTP, 4 tramas WebSocket",
            "  conexión 2: 18 bytes C→S, 0 bytes S→C · 1 petición HTTP",
        ]
        assert rec.summary()._repr_html_().startswith("<b>tap: 2 conexiones")
    assert rec.summary()._repr_html_().startswith("<b>tap: 2 connections")


def test_summary_errors_are_worded_when_shown() -> None:
    rec = Recording()
    rec.open_connection()
    rec.close_connection(1, "refused")
    summary = rec.summary()
    assert repr(summary).splitlines()[-1] == "  error: connection 1: refused"
    with using("es"):
        assert repr(summary).splitlines()[-1] == "  error: conexión 1: refused"


def test_timeline_shows_times_and_connection_events_in_both_languages() -> None:
    rec = echo_exchange()
    rec.close_connection(1)
    timeline = rec.timeline()
    lines = repr(timeline).splitlines()
    assert lines[0] == "  time (s)  conn  dir  what"
    assert lines[1].endswith("   1       opened") and lines[-1].endswith("   1       closed by the tap")
    assert lines[4].endswith("C→S  frame: text 'Hello'")
    with using("es"):
        lines = repr(timeline).splitlines()
        assert lines[0] == "tiempo (s)  conn  dir  qué"
        assert lines[1].endswith("   1       abierta") and lines[-1].endswith("   1       cerrada por el tap")
        assert lines[4].endswith("C→S  trama: texto 'Hello'")
        assert ">qué</th>" in timeline._repr_html_()
    assert repr(Timeline([], [])) == "(nothing happened yet)"
    with using("es"):
        assert repr(Timeline([], [])) == "(todavía no ha pasado nada)"


# Stable and total ---------------------------------------------------------------------------


def test_the_same_traffic_shows_the_same_whatever_the_times() -> None:
    exchange = [(C, MASKED_HELLO), (S, UNMASKED_HELLO)]
    a, b = upgraded(*exchange), upgraded(*exchange)
    b.start -= 1000.0  # another run, other times
    for lang in ("en", "es"):
        with using(lang):
            for view in ("hexdump", "frames", "sequence", "summary", "packets"):
                assert repr(getattr(a, view)()) == repr(getattr(b, view)())
            assert repr(a) == repr(b) and a._repr_markdown_() == b._repr_markdown_()


@settings(max_examples=75, deadline=None)
@given(chunk_lists())
def test_every_view_of_any_bytes_renders_in_both_languages(chunks: list[Chunk]) -> None:
    units = decode(chunks).units
    for lang in ("en", "es"):
        with using(lang):
            for view in (Hexdump(units), FrameTable(units), SequenceDiagram(units)):
                assert repr(view)
            assert FrameTable(units)._repr_html_() and FrameTable(units).markdown()
            assert repr(Summary([], units, 0, 1, []))
            for unit in units:
                assert content(unit) and describe(unit) and annotate(unit)
