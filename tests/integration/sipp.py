"""sipp as the telco trunk: an INVITE to 112 with the headers and body a test needs
(Geolocation, P-Access-Network-Info, a multipart PIDF-LO body), held, then BYE. The
benchmarks place their loads with the same scenario."""
from __future__ import annotations

import subprocess
from pathlib import Path

from lab import Lab

SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8
a=rtpmap:8 PCMA/8000"""


def multipart(pidf: str, content_id: str = "loc1@127.0.0.2") -> tuple[str, str]:
    """(Content-Type, body): the SDP and a PIDF-LO part, as RFC 6442 carries location by value."""
    body = (f"--b1\nContent-Type: application/sdp\n\n{SDP}\n--b1\nContent-Type: application/pidf+xml\n"
            f"Content-ID: <{content_id}>\n\n{pidf.strip()}\n--b1--")
    return "multipart/mixed;boundary=b1", body


def scenario(caller: str, headers: dict[str, str] | None = None, content_type: str = "application/sdp",
             body: str = SDP, hold_ms: int | None = 3000, hangs_up: bool = True) -> str:
    """One 112 call from `caller` (sipp keywords such as [call_number] may be part of it).
    The caller hangs up after `hold_ms` (None: after sipp's -d); with `hangs_up=False` it waits
    up to `hold_ms` for the far end's BYE instead (on timeout sipp sends its own BYE)."""
    # one header per line, no blank line: a blank line would end the headers
    extra = "".join(f"\n      {name}: {value}" for name, value in (headers or {}).items())
    ending = _caller_hangs_up(caller, hold_ms) if hangs_up else _far_end_hangs_up(hold_ms or 60_000)
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="112 call">
  <send retrans="500"><![CDATA[
      INVITE sip:112@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:112@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70{extra}
      Content-Type: {content_type}
      Content-Length: [len]

{body}
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
      ACK sip:112@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:112@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
{ending}
</scenario>
"""


def _caller_hangs_up(caller: str, hold_ms: int | None) -> str:
    pause = "<pause/>" if hold_ms is None else f'<pause milliseconds="{hold_ms}"/>'
    return f"""  {pause}
  <send retrans="500"><![CDATA[
      BYE sip:112@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:112@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="200" crlf="true"/>"""


def _far_end_hangs_up(timeout_ms: int) -> str:
    return f"""  <recv request="BYE" timeout="{timeout_ms}"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>"""


def call(lab: Lab, folder: Path, text: str, timeout: float = 30, keys: dict[str, str] | None = None) -> None:
    """One call from the trunk address 127.0.0.2; raises if sipp saw the call fail. `keys` fill
    [name] placeholders at send time: text sipp's scenario parser would choke on (DTDs)."""
    path = folder / "scenario.xml"
    path.write_text(text)
    extra = [arg for name, value in (keys or {}).items() for arg in ("-key", name, value)]
    done = subprocess.run(["sipp", "-sf", str(path), *extra, "-i", "127.0.0.2", "-p", "0", "-m", "1", "-nostdin",
                           "-timeout", f"{int(timeout)}s", "-timeout_error", "-trace_err",
                           "-error_file", str(folder / "sipp-errors.log"), lab.sip],
                          capture_output=True, text=True, cwd=folder, timeout=timeout + 10)
    if done.returncode != 0:
        errors = (folder / "sipp-errors.log").read_text() if (folder / "sipp-errors.log").exists() else ""
        raise AssertionError(f"sipp failed ({done.returncode}): {errors[-2000:]}")
