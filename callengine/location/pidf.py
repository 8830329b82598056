"""SIP Geolocation (RFC 6442) with a PIDF-LO body by value (RFC 4119, shapes of RFC 5491).

The XML is untrusted: defusedxml refuses any DTD (so no entity expansion and no external
fetch can happen), and sizes are capped before parsing. Location by reference (an http: or
sip: URI in Geolocation) is never dereferenced: fetching a caller-supplied URL is a
server-side request forgery risk and a delay in the middle of an emergency call.

Shapes: Point and Circle exactly; Sphere as a Circle; Ellipse, Ellipsoid and ArcBand as the
circle around their centre that covers them (semi-major axis, outer radius); Polygon as the
mean of its vertices with the distance to the farthest vertex as radius (a circle that
covers the polygon). Prism and anything else are refused by name.
"""
from __future__ import annotations

import email.parser
import email.policy
import logging
import math
import re
from datetime import datetime, timezone
from urllib.parse import unquote
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from callengine.location.model import Location, LocationError, check_coordinates, decimal

log = logging.getLogger(__name__)

PIDF = "urn:ietf:params:xml:ns:pidf"
GP = "urn:ietf:params:xml:ns:pidf:geopriv10"
DM = "urn:ietf:params:xml:ns:pidf:data-model"
GML = "http://www.opengis.net/gml"
GS = "http://www.opengis.net/pidflo/1.0"
METRES = "urn:ogc:def:uom:EPSG::9001"
CRS_DIMENSIONS = {"urn:ogc:def:crs:EPSG::4326": 2, "urn:ogc:def:crs:EPSG::4979": 3}
MAX_PIDF_BYTES = 64 * 1024
MAX_BODY_BYTES = 256 * 1024
EARTH_RADIUS_M = 6_371_008.8
# IANA method tokens (RFC 4119) mapped to ours; other tokens (Manual, DHCP, Triangulation...) pass lower-cased.
_METHODS = {"gps": "gnss", "a-gps": "gnss", "gnss": "gnss", "802.11": "wifi", "wifi": "wifi", "cell": "cell"}
_URI = re.compile(r"<([^<>]*)>")


def locations_from_sip(geolocation_header: str | None, content_type: str | None, body: bytes) -> list[Location]:
    """Locations by value from an INVITE: the PIDF-LO parts that the Geolocation header points at by cid.

    Without a Geolocation header every PIDF-LO part is read (lenient: some trunks omit the header).
    """
    cids = _cids(geolocation_header)
    if geolocation_header and not cids:
        return []  # by reference only: not fetched, see the module doc
    parts = _pidf_parts(content_type, body)
    if geolocation_header is None or list(parts) == [""]:
        wanted = parts  # no header, or one PIDF-LO without a Content-ID to match
    else:
        wanted = {cid: parts[cid] for cid in cids if cid in parts}
    if cids and not wanted:
        raise LocationError(f"Geolocation points at cid:{cids[0]} but no application/pidf+xml part has "
                            f"Content-ID <{cids[0]}> (parts: {sorted(parts) or 'none'})")
    return [loc for xml in wanted.values() for loc in parse_pidf_lo(xml)]


def _cids(header: str | None) -> list[str]:
    uris = _URI.findall(header or "")
    return [unquote(uri[4:]) for uri in uris if uri[:4].lower() == "cid:"]


def _pidf_parts(content_type: str | None, body: bytes) -> dict[str, bytes]:
    """Content-ID (without <>) → PIDF-LO bytes; a bare PIDF-LO body comes back under ""."""
    if len(body) > MAX_BODY_BYTES:
        raise LocationError(f"SIP body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    content_type = (content_type or "").strip()
    if "\r" in content_type or "\n" in content_type:
        raise LocationError("Content-Type contains a line break")
    if content_type.split(";")[0].strip().lower() == "application/pidf+xml":
        return {"": body}
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body)
    if message.get_content_maintype() != "multipart":
        return {}
    if not message.is_multipart():
        raise LocationError(f"multipart body does not match its boundary (Content-Type: {content_type})")
    return {str(part.get("Content-ID", "")).strip().strip("<>"): part.get_payload(decode=True)
            for part in message.walk() if part.get_content_type() == "application/pidf+xml"}


def parse_pidf_lo(xml: bytes) -> list[Location]:
    """Every geodetic shape in a PIDF-LO document; LocationError if the document is hostile or broken,
    or if it has shapes and none of them is usable. A document with no geodetic shape gives []."""
    root = _parse_xml(xml)
    if root.tag != f"{{{PIDF}}}presence":
        raise LocationError(f"not a PIDF document: root element is {root.tag!r}, expected presence in {PIDF}")
    found: list[Location] = []
    errors: list[LocationError] = []
    for holder in root:  # tuple, device or person: the timestamp belongs to it
        at = _timestamp(holder)
        for geopriv in holder.iter(f"{{{GP}}}geopriv"):
            method = _method(geopriv.findtext(f"{{{GP}}}method"))
            for shape in geopriv.iterfind(f"{{{GP}}}location-info/*"):
                if not shape.tag.startswith((f"{{{GML}}}", f"{{{GS}}}")):
                    continue  # a civic address or another extension: not a geodetic shape
                try:
                    found.append(_location(shape, method, at, holder))
                except LocationError as exc:
                    errors.append(exc)
    if not found and errors:
        raise errors[0]
    for exc in errors:
        log.warning("PIDF-LO shape skipped: %s", exc)
    return found


def _parse_xml(xml: bytes) -> Element:
    if len(xml) > MAX_PIDF_BYTES:
        raise LocationError(f"PIDF-LO of {len(xml)} bytes exceeds {MAX_PIDF_BYTES}")
    try:
        return fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise LocationError(f"PIDF-LO refused: {type(exc).__name__} (DTDs and entities are not allowed)") from exc
    except ParseError as exc:
        raise LocationError(f"PIDF-LO is not well-formed XML: {exc}") from exc


def _location(shape: Element, method: str | None, at: datetime | None, holder: Element) -> Location:
    name = shape.tag.rpartition("}")[2]
    if name not in _RADIUS_OF and name != "Polygon":
        raise LocationError(f"unsupported PIDF-LO shape {name}: only Point, Circle, Sphere, Ellipse, "
                            "Ellipsoid, ArcBand and Polygon are read")
    dims = _dimensions(shape, name)
    if name == "Polygon":
        lat, lon, radius = _polygon(shape, dims)
        alt = None
    else:
        lat, lon, alt = _pos(shape.find(f"{{{GML}}}pos"), dims, name)
        radius = _shape_radius(shape, name)
    detail = {"shape": name, "element": holder.tag.rpartition("}")[2], "id": holder.get("id")}
    if alt is not None:
        detail["altitude_m"] = alt
    return Location(lat, lon, radius, "pidf-lo", method, at, detail)


_RADIUS_OF = {"Point": None, "Circle": "radius", "Sphere": "radius", "Ellipse": "semiMajorAxis",
              "Ellipsoid": "semiMajorAxis", "ArcBand": "outerRadius"}


def _shape_radius(shape: Element, name: str) -> float | None:
    child = _RADIUS_OF[name]
    if child is None:
        return None
    element = shape.find(f"{{{GS}}}{child}")
    if element is None:
        raise LocationError(f"{name} without {child}")
    if element.get("uom") != METRES:
        raise LocationError(f"{name} {child} unit {element.get('uom')!r} is not metres ({METRES})")
    value = _number(element.text, f"{name} {child}")
    if value <= 0:
        raise LocationError(f"{name} {child} must be > 0 metres, got {value}")
    return value


def _dimensions(shape: Element, name: str) -> int | None:
    srs = shape.get("srsName")
    if srs is None:
        return None  # RFC 5491 requires it, but a missing one is read as WGS 84
    if srs not in CRS_DIMENSIONS:
        raise LocationError(f"{name} srsName {srs!r} is not WGS 84 (EPSG::4326 or EPSG::4979)")
    return CRS_DIMENSIONS[srs]


def _pos(element: Element | None, dims: int | None, name: str) -> tuple[float, float, float | None]:
    if element is None:
        raise LocationError(f"{name} without gml:pos")
    values = [_number(v, f"{name} gml:pos") for v in (element.text or "").split()]
    if len(values) not in ((dims,) if dims else (2, 3)):
        raise LocationError(f"{name} gml:pos {element.text!r}: expected {dims or '2 or 3'} numbers 'lat lon'")
    check_coordinates(values[0], values[1])
    return values[0], values[1], values[2] if len(values) == 3 else None


def _polygon(shape: Element, dims: int | None) -> tuple[float, float, float]:
    ring = shape.find(f"{{{GML}}}exterior/{{{GML}}}LinearRing")
    if ring is None:
        raise LocationError("Polygon without exterior LinearRing")
    pos_list = ring.find(f"{{{GML}}}posList")
    if pos_list is not None:
        numbers = [_number(v, "Polygon posList") for v in (pos_list.text or "").split()]
        step = dims or 2
        if len(numbers) % step:
            raise LocationError(f"Polygon posList has {len(numbers)} numbers, not a multiple of {step}")
        points = [(numbers[i], numbers[i + 1]) for i in range(0, len(numbers), step)]
    else:
        points = [_pos(p, dims, "Polygon")[:2] for p in ring.iterfind(f"{{{GML}}}pos")]
    for lat, lon in points:
        check_coordinates(lat, lon)
    vertices = list(dict.fromkeys(points))  # the ring repeats its first point at the end
    if len(vertices) < 3:
        raise LocationError(f"Polygon has {len(vertices)} distinct vertices, needs at least 3")
    lons = [lon for _, lon in vertices]
    if max(lons) - min(lons) > 180:
        raise LocationError("Polygon crosses the antimeridian: not approximated")
    lat = sum(lat for lat, _ in vertices) / len(vertices)
    lon = sum(lons) / len(vertices)
    # Any point of the polygon lies in its vertices' convex hull, hence within the farthest vertex's distance.
    return lat, lon, max(max(distance_m(lat, lon, vlat, vlon) for vlat, vlon in vertices), 1.0)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def _number(text: str | None, what: str) -> float:
    try:
        return decimal(text)
    except ValueError:
        raise LocationError(f"{what}: {text!r} is not a decimal number") from None


def _timestamp(holder: Element) -> datetime | None:
    text = holder.findtext(f"{{{PIDF}}}timestamp") or holder.findtext(f"{{{DM}}}timestamp")
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        log.warning("PIDF-LO timestamp %r is not ISO 8601: ignored", text[:40])
        return None
    # xs:dateTime without an offset is local to the sender, unknown to us; UTC is the usual meaning.
    return at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _method(text: str | None) -> str | None:
    word = (text or "").strip().lower()
    return _METHODS.get(word, word or None)
