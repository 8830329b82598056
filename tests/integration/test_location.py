"""Where the caller is, through a real Asterisk: PIDF-LO in a sipp INVITE (seen through the HEP
capture), a serving cell looked up in an imported OpenCelliD sample, and AML reports by HTTP
and SMS before and after the call. Hostile input is refused; the call is recorded all the same."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import sipp
from lab import AML_TOKEN, Lab

pytestmark = pytest.mark.integration
CALLER = "081234567890"
CIRCLE = """<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
  xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:gml="http://www.opengis.net/gml"
  xmlns:gs="http://www.opengis.net/pidflo/1.0" entity="pres:081234567890@telco.example">
  <dm:device id="handset"><gp:geopriv><gp:location-info>
    <gs:Circle srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>-0.50220 117.15360</gml:pos>
      <gs:radius uom="urn:ogc:def:uom:EPSG::9001">75</gs:radius></gs:Circle>
  </gp:location-info><gp:usage-rules/><gp:method>GPS</gp:method></gp:geopriv>
  <dm:timestamp>2026-11-23T07:00:00Z</dm:timestamp></dm:device>
</presence>"""
LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE presence [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<presence xmlns="urn:ietf:params:xml:ns:pidf">&d;</presence>"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE presence [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<presence xmlns="urn:ietf:params:xml:ns:pidf">&x;</presence>"""
CELLS = ("radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal\n"
         "LTE,510,10,6699,12895461,,117.1536,-0.5022,850,12,1,1459692222,1700000000,0\n")


def recorded(engine, start: int = 0) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return engine.wait_log("call recorded", start=start, timeout=30)


def record_of(lab: Lab, linkedid: str) -> dict[str, object]:
    return next(c for c in lab.calls() if c["linkedid"] == linkedid)


def test_pidf_lo_by_value_in_the_invite_becomes_the_location(lab: Lab, tmp_path: Path) -> None:
    engine = lab.engine()
    content_type, body = sipp.multipart(CIRCLE)
    sipp.call(lab, tmp_path, sipp.scenario(CALLER, {"Geolocation": "<cid:loc1@127.0.0.2>"}, content_type, body))
    record = record_of(lab, recorded(engine)["linkedid"])
    location = record["location"]
    assert (location["source"], location["lat"], location["lon"], location["radius_m"]) == \
        ("pidf-lo", -0.5022, 117.1536, 75.0)
    assert location["method"] == "gnss" and record["locations"] == [location]
    assert engine.errors() == []


def test_a_serving_cell_in_the_imported_table_locates_the_caller(lab: Lab, tmp_path: Path) -> None:
    cells = tmp_path / "cells.csv"
    cells.write_text(CELLS)
    imported = subprocess.run([sys.executable, "-m", "callengine", "--config", str(lab.config_file), "celldb",
                               "import", str(cells)], capture_output=True, text=True)
    assert imported.returncode == 0 and "imported 1, skipped 0" in imported.stdout
    engine = lab.engine()
    cell = f"51010{6699:04X}{12895461:07X}"                       # MCC 510, Telkomsel, TAC, ECI
    pani = f"3GPP-E-UTRAN-FDD; utran-cell-id-3gpp={cell}"
    sipp.call(lab, tmp_path, sipp.scenario(CALLER, {"P-Access-Network-Info": pani}))
    location = record_of(lab, recorded(engine)["linkedid"])["location"]
    assert (location["source"], location["lat"], location["lon"], location["radius_m"]) == \
        ("cell", -0.5022, 117.1536, 850.0)
    assert location["detail"]["network"] and location["detail"]["mnc"] == 10


@pytest.mark.parametrize("hostile", [LAUGHS, EXTERNAL], ids=["entity-expansion", "external-entity"])
def test_hostile_xml_is_refused_and_the_call_is_recorded(lab: Lab, tmp_path: Path, hostile: str) -> None:
    engine = lab.engine()
    content_type, body = sipp.multipart("[hostile]")
    sipp.call(lab, tmp_path, sipp.scenario(CALLER, {"Geolocation": "<cid:loc1@127.0.0.2>"}, content_type, body),
              keys={"hostile": hostile})
    record = record_of(lab, recorded(engine)["linkedid"])
    assert record["location"] is None and record["caller"] == "+6281234567890"
    refused = engine.wait_log("PIDF-LO refused: " + next(e["msg"] for e in engine.lines
                                                          if e.get("msg", "").startswith("PIDF-LO refused"))[17:])
    assert "root:" not in json.dumps(refused) and "aaaaaaaaaaaaaaaaaaaa" not in json.dumps(refused)
    assert engine.alive()


def post(lab: Lab, path: str, data: bytes, content_type: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(f"http://127.0.0.1:{lab.settings.web_port}{path}", data=data,
                                     headers={"Content-Type": content_type, "Authorization": f"Bearer {AML_TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def aml_form(lat: str, lon: str, accuracy: str, number: str = "+6281234567890") -> bytes:
    return urllib.parse.urlencode({"v": "3", "emergency_number": "112", "source": "gps",
                                   "location_latitude": lat, "location_longitude": lon,
                                   "location_accuracy": accuracy, "location_time": str(int(time.time() * 1000)),
                                   "device_number": number}).encode()


def sms(lat: str, lon: str, radius: str) -> str:
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    head = f'A"ML=1;lt={lat};lg={lon};rd={radius};top={stamp};lc=90;pm=G;si=510101234567890;ei=356708041746734;mcc=510;mnc=10;ml='
    for digits in (2, 3):                                  # ml counts the whole message, itself included
        length = len(head) + digits
        if len(str(length)) == digits:
            return head + str(length)
    raise AssertionError("no consistent length")


def test_aml_before_and_after_the_call_both_attach(lab: Lab, tmp_path: Path) -> None:
    engine = lab.engine()
    status, reply = post(lab, "/api/aml", aml_form("-0.5031", "117.1502", "12"), "application/x-www-form-urlencoded")
    assert status == 202 and reply["linkedid"] is None          # no call yet: kept for the call to come
    sipp.call(lab, tmp_path, sipp.scenario(CALLER, {}))
    linkedid = recorded(engine)["linkedid"]
    text = sms("-0.5040", "117.1499", "8").encode()
    status, reply = post(lab, "/api/aml/sms?from=%2B6281234567890", text, "text/plain")
    assert status == 200 and reply["linkedid"] == linkedid    # after the call: attached to it
    record = record_of(lab, linkedid)
    assert [loc["source"] for loc in record["locations"]] == ["aml", "aml"]
    assert record["location"]["radius_m"] == 8.0 and record["location"]["lat"] == -0.504   # the tighter fix


@pytest.mark.parametrize("path,data,content_type,reason", [
    ("/api/aml", aml_form("-91", "117", "10"), "application/x-www-form-urlencoded", "latitude"),
    ("/api/aml/sms?from=%2B6281234567890", b'A"ML=1;lt=-0.5;lg=117.1;rd=8;top=20261123070000;lc=90;pm=G;ml=999',
     "text/plain", "ml"),
])
def test_bad_aml_is_refused_with_its_reason(lab: Lab, path: str, data: bytes, content_type: str, reason: str) -> None:
    engine = lab.engine()
    status, reply = post(lab, path, data, content_type)
    assert status == 400 and reply["status"] == "refused" and reason in reply["error"]
    assert engine.wait_log("AML refused: " + reply["error"])["path"] == path.split("?")[0]
