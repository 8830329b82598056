"""A HEPv3 capture endpoint: how the engine sees whole SIP messages.

Asterisk 16 gives the dialplan SIP headers but never a message body, and a caller's
location can arrive as a PIDF-LO body in the INVITE (RFC 6442). res_hep_pjsip mirrors every
SIP message Asterisk handles to a HEP collector (as for Homer); the engine is that collector,
on loopback. Packets are untrusted: every length is checked, the capture password must match,
and a bad packet is logged and dropped.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAGIC = b"HEP3"
CHUNK_HEADER = struct.Struct("!HHH")   # vendor id, type id, length (chunk header included)
PAYLOAD, CORRELATION, AUTH_KEY, PROTOCOL, SECONDS, MICROS = 0x000F, 0x0011, 0x000E, 0x000B, 0x0009, 0x000A
SOURCE_V4, SOURCE_V6 = 0x0003, 0x0005
SIP = 1


class HepError(ValueError):
    pass


@dataclass(frozen=True)
class HepPacket:
    protocol: int
    correlation_id: str
    auth_key: str
    timestamp: float
    payload: bytes
    source: str = ""   # the sender's address as Asterisk saw it ("" if the packet has none)


def parse_hep3(data: bytes) -> HepPacket:
    if len(data) < 6 or data[:4] != MAGIC:
        raise HepError("not a HEPv3 packet (no HEP3 header)")
    (total,) = struct.unpack_from("!H", data, 4)
    if total != len(data):
        raise HepError(f"HEP length field says {total} bytes, the datagram has {len(data)}")
    chunks: dict[int, bytes] = {}
    offset = 6
    while offset < total:
        if offset + CHUNK_HEADER.size > total:
            raise HepError(f"truncated chunk header at byte {offset}")
        vendor, kind, length = CHUNK_HEADER.unpack_from(data, offset)
        if length < CHUNK_HEADER.size or offset + length > total:
            raise HepError(f"chunk 0x{kind:04x} at byte {offset} claims {length} bytes")
        if vendor == 0:
            chunks[kind] = data[offset + CHUNK_HEADER.size:offset + length]
        offset += length
    if PAYLOAD not in chunks:
        raise HepError("no payload chunk")
    seconds = struct.unpack("!I", chunks[SECONDS])[0] if len(chunks.get(SECONDS, b"")) == 4 else 0
    micros = struct.unpack("!I", chunks[MICROS])[0] if len(chunks.get(MICROS, b"")) == 4 else 0
    return HepPacket(protocol=chunks.get(PROTOCOL, b"\0")[0], timestamp=seconds + micros / 1e6,
                     correlation_id=chunks.get(CORRELATION, b"").decode("utf-8", "replace").rstrip("\0"),
                     auth_key=chunks.get(AUTH_KEY, b"").decode("utf-8", "replace").rstrip("\0"),
                     payload=chunks[PAYLOAD], source=_source(chunks))


def _source(chunks: dict[int, bytes]) -> str:
    """The packet's source address: who sent the SIP message (the trunk or anyone else)."""
    for kind, size in ((SOURCE_V4, 4), (SOURCE_V6, 16)):
        if len(chunks.get(kind, b"")) == size:
            return str(ipaddress.ip_address(chunks[kind]))
    return ""


class HepListener(asyncio.DatagramProtocol):
    """Hands each SIP payload of an authenticated HEP packet to `on_sip`."""

    def __init__(self, password: str, on_sip: Callable[[HepPacket], None], only: bytes = b"") -> None:
        """With `only`, packets whose bytes do not hold it are skipped unread (Asterisk mirrors
        every SIP message of every call; the engine reads a few kinds)."""
        self.password = password
        self.on_sip = on_sip
        self.only = only
        self.dropped = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.only not in data and data.startswith(MAGIC):
            return
        try:
            packet = parse_hep3(data)
            if not hmac.compare_digest(packet.auth_key, self.password):
                raise HepError("wrong capture password")
        except HepError as exc:
            self.dropped += 1
            log.warning("HEP packet dropped: %s", exc, extra={"peer": f"{addr[0]}:{addr[1]}"})
            return
        if packet.protocol == SIP:
            self.on_sip(packet)


async def listen(host: str, port: int, listener: HepListener) -> asyncio.DatagramTransport:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(lambda: listener,
                                                                            local_addr=(host, port))
    return transport
