from datetime import datetime, timezone
from pathlib import Path

import pytest

from callengine.location import LocationError, locations_from_sip, parse_pidf_lo

NS = ('xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
      'xmlns:gml="http://www.opengis.net/gml" xmlns:gs="http://www.opengis.net/pidflo/1.0" '
      'xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"')
WGS84 = 'srsName="urn:ogc:def:crs:EPSG::4326"'
METRES = 'uom="urn:ogc:def:uom:EPSG::9001"'


def pidf(shape: str, method: str = "GPS", timestamp: str = "<dm:timestamp>2024-05-17T10:15:00+07:00</dm:timestamp>",
         holder: str = "dm:device") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<presence {NS} entity="pres:+6281234567890@ims.example.id">
 <{holder} id="ue1">
  <gp:geopriv>
   <gp:location-info>{shape}</gp:location-info>
   <gp:usage-rules/>
   <gp:method>{method}</gp:method>
  </gp:geopriv>
  {timestamp}
 </{holder}>
</presence>""".encode()


CIRCLE = f'<gs:Circle {WGS84}><gml:pos>-6.175392 106.827153</gml:pos><gs:radius {METRES}>35</gs:radius></gs:Circle>'
POINT = f'<gml:Point {WGS84}><gml:pos>-0.502106 117.153709</gml:pos></gml:Point>'


def invite_body(xml: bytes, cid: str = "target123@ims.example.id") -> tuple[str, bytes]:
    sdp = ("v=0\r\no=- 20518 0 IN IP4 10.0.0.7\r\ns=-\r\nc=IN IP4 10.0.0.7\r\nt=0 0\r\n"
           "m=audio 49170 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
    body = (b"--boundary1\r\nContent-Type: application/sdp\r\n\r\n" + sdp.encode()
            + b"\r\n--boundary1\r\nContent-Type: application/pidf+xml\r\nContent-ID: <" + cid.encode() + b">\r\n\r\n"
            + xml + b"\r\n--boundary1--\r\n")
    return "multipart/mixed; boundary=boundary1", body


def test_circle_from_a_multipart_invite() -> None:
    content_type, body = invite_body(pidf(CIRCLE, method="A-GPS"))
    [loc] = locations_from_sip("<cid:target123@ims.example.id>;inserted-by=ue", content_type, body)
    assert (loc.lat, loc.lon, loc.radius_m) == (-6.175392, 106.827153, 35.0)
    assert loc.source == "pidf-lo" and loc.method == "gnss"
    assert loc.at == datetime(2024, 5, 17, 3, 15, tzinfo=timezone.utc)
    assert loc.detail["shape"] == "Circle" and loc.detail["id"] == "ue1"


def test_point_in_a_tuple_with_a_quoted_boundary() -> None:
    xml = pidf(POINT, method="Cell", holder="tuple", timestamp="<timestamp>2024-05-17T02:00:00Z</timestamp>")
    _, body = invite_body(xml, cid="loc%40x@ims.example.id")
    [loc] = locations_from_sip("<cid:loc%2540x@ims.example.id>", 'multipart/mixed;boundary="boundary1"', body)
    assert (loc.lat, loc.lon, loc.radius_m, loc.method) == (-0.502106, 117.153709, None, "cell")
    assert loc.at == datetime(2024, 5, 17, 2, 0, tzinfo=timezone.utc)


def test_only_the_part_the_header_points_at_is_read() -> None:
    _, first = invite_body(pidf(CIRCLE), cid="a@x")
    _, second = invite_body(pidf(POINT), cid="b@x")
    body = first.replace(b"--boundary1--\r\n", b"") + b"--boundary1\r\n" + second.split(b"--boundary1\r\n", 2)[2]
    [loc] = locations_from_sip("<cid:b@x>", "multipart/mixed; boundary=boundary1", body)
    assert loc.detail["shape"] == "Point"
    assert len(locations_from_sip(None, "multipart/mixed; boundary=boundary1", body)) == 2


def test_missing_cid_part_is_named() -> None:
    content_type, body = invite_body(pidf(CIRCLE), cid="other@x")
    with pytest.raises(LocationError, match=r"cid:target@x .*Content-ID <target@x>"):
        locations_from_sip("<cid:target@x>", content_type, body)


def test_by_reference_is_not_fetched() -> None:
    content_type, body = invite_body(pidf(CIRCLE))
    assert locations_from_sip("<https://lis.example.id/loc/123>", content_type, body) == []


def test_bare_pidf_body_and_sdp_only_body() -> None:
    assert len(locations_from_sip("<cid:x@y>", "application/pidf+xml", pidf(CIRCLE))) == 1
    assert locations_from_sip(None, "application/sdp", b"v=0\r\n") == []


def test_multipart_without_its_boundary_is_refused() -> None:
    _, body = invite_body(pidf(CIRCLE))
    with pytest.raises(LocationError, match="boundary"):
        locations_from_sip("<cid:target123@ims.example.id>", "multipart/mixed; boundary=nothere", body)


def test_polygon_is_approximated_by_a_covering_circle() -> None:
    ring = "-6.20 106.80 -6.20 106.82 -6.18 106.82 -6.18 106.80 -6.20 106.80"
    shape = (f'<gml:Polygon {WGS84}><gml:exterior><gml:LinearRing><gml:posList>{ring}</gml:posList>'
             '</gml:LinearRing></gml:exterior></gml:Polygon>')
    [loc] = parse_pidf_lo(pidf(shape))
    assert loc.lat == pytest.approx(-6.19) and loc.lon == pytest.approx(106.81)
    assert 1500 < loc.radius_m < 1600  # half the diagonal of a ~2.2 km square
    assert loc.detail["shape"] == "Polygon"


def test_ellipse_becomes_its_semi_major_circle() -> None:
    shape = (f'<gs:Ellipse {WGS84}><gml:pos>-7.2575 112.7521</gml:pos>'
             f'<gs:semiMajorAxis {METRES}>120</gs:semiMajorAxis><gs:semiMinorAxis {METRES}>40</gs:semiMinorAxis>'
             '<gs:orientation uom="urn:ogc:def:uom:EPSG::9102">30</gs:orientation></gs:Ellipse>')
    assert parse_pidf_lo(pidf(shape))[0].radius_m == 120.0


def test_unsupported_shape_is_refused_by_name() -> None:
    with pytest.raises(LocationError, match="unsupported PIDF-LO shape Prism"):
        parse_pidf_lo(pidf(f'<gs:Prism {WGS84}/>'))


@pytest.mark.parametrize("shape,reason", [
    (f'<gml:Point {WGS84}><gml:pos>-91.0 106.8</gml:pos></gml:Point>', "latitude -91.0 out of range"),
    (f'<gml:Point {WGS84}><gml:pos>-6.2 180.5</gml:pos></gml:Point>', "longitude 180.5 out of range"),
    (f'<gml:Point {WGS84}><gml:pos>nan 106.8</gml:pos></gml:Point>', "not a decimal number"),
    (f'<gml:Point {WGS84}><gml:pos>-6.2</gml:pos></gml:Point>', "expected 2 numbers"),
    ('<gml:Point srsName="urn:ogc:def:crs:EPSG::3857"><gml:pos>1 2</gml:pos></gml:Point>', "is not WGS 84"),
    (f'<gs:Circle {WGS84}><gml:pos>-6.2 106.8</gml:pos><gs:radius uom="urn:ogc:def:uom:EPSG::9002">'
     '100</gs:radius></gs:Circle>', "is not metres"),
    (f'<gs:Circle {WGS84}><gml:pos>-6.2 106.8</gml:pos><gs:radius {METRES}>0</gs:radius></gs:Circle>',
     "must be > 0"),
    (f'<gs:Circle {WGS84}><gml:pos>-6.2 106.8</gml:pos></gs:Circle>', "Circle without radius"),
])
def test_bad_shapes_are_refused(shape: str, reason: str) -> None:
    with pytest.raises(LocationError, match=reason):
        parse_pidf_lo(pidf(shape))


def test_a_bad_shape_beside_a_good_one_is_skipped() -> None:
    bad = f'<gml:Point {WGS84}><gml:pos>-95 106.8</gml:pos></gml:Point>'
    assert [loc.radius_m for loc in parse_pidf_lo(pidf(bad + CIRCLE))] == [35.0]


def test_bad_timestamp_is_dropped_not_fatal() -> None:
    [loc] = parse_pidf_lo(pidf(CIRCLE, timestamp="<dm:timestamp>yesterday</dm:timestamp>"))
    assert loc.at is None and loc.radius_m == 35.0


def test_civic_only_document_has_no_geodetic_location() -> None:
    civic = ('<ca:civicAddress xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr">'
             '<ca:country>ID</ca:country></ca:civicAddress>')
    assert parse_pidf_lo(pidf(civic)) == []


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE presence [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="&lol9;"/>"""


def test_billion_laughs_is_refused_without_expansion() -> None:
    # Refused at the DOCTYPE, before any entity is declared, let alone expanded.
    with pytest.raises(LocationError, match="refused: DTDForbidden") as caught:
        parse_pidf_lo(BILLION_LAUGHS)
    assert "lollol" not in str(caught.value)


def test_external_entity_is_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:SECRET-MARKER")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE presence [<!ENTITY xxe SYSTEM "file://{secret}">]>'
           f'<presence {NS} entity="&xxe;"/>').encode()
    with pytest.raises(LocationError, match="refused") as caught:
        parse_pidf_lo(xxe)
    assert "SECRET-MARKER" not in str(caught.value)
    passwd = b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><p>&x;</p>'
    with pytest.raises(LocationError, match="refused"):
        parse_pidf_lo(passwd)


def test_any_dtd_is_refused() -> None:
    external = b'<?xml version="1.0"?><!DOCTYPE presence SYSTEM "http://127.0.0.1:9/pidf.dtd"><presence/>'
    with pytest.raises(LocationError, match="DTDs and entities are not allowed"):
        parse_pidf_lo(external)


@pytest.mark.parametrize("xml,reason", [
    (b"<presence xmlns='urn:ietf:params:xml:ns:pidf'><tuple>", "not well-formed"),
    (b"", "not well-formed"),
    (b"\xff\xfe<junk", "not well-formed"),
    (b"<presence/>", "not a PIDF document"),
    (b"<x/>" + b" " * 70_000, "exceeds"),
])
def test_malformed_xml_is_refused(xml: bytes, reason: str) -> None:
    with pytest.raises(LocationError, match=reason):
        parse_pidf_lo(xml)
