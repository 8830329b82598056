"""HEPv3 capture and SIP message parsing: well-formed packets pass, hostile ones are refused precisely."""
from __future__ import annotations

import struct

import pytest

from callengine.telephony.hep import CORRELATION, PAYLOAD, HepError, HepListener, parse_hep3
from callengine.telephony.sip import SipError, parse_sip

INVITE = (b"INVITE sip:112@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060\r\n"
          b"i: abc@127.0.0.2\r\nGeolocation: <cid:loc1@x>\r\n"
          b"P-Access-Network-Info: 3GPP-E-UTRAN-FDD;\r\n utran-cell-id-3gpp=51010ABCD1234567\r\n"
          b"c: application/pidf+xml\r\n\r\n<presence/>")


def chunk(kind: int, value: bytes) -> bytes:
    return struct.pack("!HHH", 0, kind, 6 + len(value)) + value


def hep(*chunks: bytes) -> bytes:
    body = b"".join(chunks)
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


def packet(password: bytes = b"pw", payload: bytes = INVITE) -> bytes:
    return hep(chunk(0x0B, b"\x01"), chunk(0x09, struct.pack("!I", 1795447353)), chunk(0x0A, struct.pack("!I", 500000)),
               chunk(0x0E, password), chunk(CORRELATION, b"abc@127.0.0.2"), chunk(PAYLOAD, payload))


def test_a_hep_packet_gives_its_sip_payload_and_correlation() -> None:
    parsed = parse_hep3(packet())
    assert (parsed.protocol, parsed.correlation_id, parsed.timestamp) == (1, "abc@127.0.0.2", 1795447353.5)
    sip = parse_sip(parsed.payload)
    assert sip.method == "INVITE" and sip.header("Call-ID") == "abc@127.0.0.2"
    assert sip.header("p-access-network-info") == "3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=51010ABCD1234567"
    assert sip.header("Content-Type") == "application/pidf+xml" and sip.body == b"<presence/>"


@pytest.mark.parametrize("data,reason", [
    (b"HEP2\x00\x06", "not a HEPv3 packet"),
    (hep(chunk(PAYLOAD, b"x"))[:-1], "length field says"),
    (b"HEP3\x00\x0c" + struct.pack("!HHH", 0, PAYLOAD, 60), "claims 60 bytes"),
    (b"HEP3\x00\x0c" + struct.pack("!HHH", 0, PAYLOAD, 2), "claims 2 bytes"),
    (hep(chunk(CORRELATION, b"x")), "no payload chunk"),
])
def test_malformed_hep_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(HepError, match=reason):
        parse_hep3(data)


def test_the_listener_drops_bad_and_unauthenticated_packets(caplog: pytest.LogCaptureFixture) -> None:
    seen = []
    listener = HepListener("pw", seen.append)
    listener.datagram_received(packet(b"wrong"), ("127.0.0.1", 4000))
    listener.datagram_received(b"garbage", ("127.0.0.1", 4000))
    listener.datagram_received(packet(), ("127.0.0.1", 4000))
    assert listener.dropped == 2 and len(seen) == 1
    assert "wrong capture password" in caplog.text and "not a HEPv3 packet" in caplog.text


def test_the_listener_skips_unread_kinds_unparsed_but_still_refuses_what_is_not_hep(
        caplog: pytest.LogCaptureFixture) -> None:
    seen = []
    listener = HepListener("pw", seen.append, only=b"INVITE ")
    listener.datagram_received(packet(payload=b"SIP/2.0 200 OK\r\ni: abc@127.0.0.2\r\n\r\n"), ("127.0.0.1", 4000))
    listener.datagram_received(packet(b"wrong", payload=b"BYE sip:x SIP/2.0\r\n\r\n"), ("127.0.0.1", 4000))
    assert seen == [] and listener.dropped == 0 and not caplog.text
    listener.datagram_received(b"garbage", ("127.0.0.1", 4000))
    listener.datagram_received(packet(b"wrong"), ("127.0.0.1", 4000))
    listener.datagram_received(packet(), ("127.0.0.1", 4000))
    assert listener.dropped == 2 and [p.payload for p in seen] == [INVITE]


@pytest.mark.parametrize("data,reason", [
    (b"INVITE sip:112@x SIP/2.0\r\nVia: x\r\n", "without the blank line"),
    (b"INVITE sip:112@x SIP/2.0\r\nno colon here\r\n\r\n", "malformed SIP header line"),
    (b"X" * 70000, "exceeds"),
])
def test_malformed_sip_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(SipError, match=reason):
        parse_sip(data)
