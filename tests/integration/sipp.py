"""sipp as the telco trunk: one INVITE to 112 with the headers and body a test needs
(Geolocation, P-Access-Network-Info, a multipart PIDF-LO body), held, then BYE."""
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


def scenario(caller: str, headers: dict[str, str], content_type: str = "application/sdp", body: str = SDP,
             hold_ms: int = 3000) -> str:
    extra = "".join(f"\n      {name}: {value}" for name, value in headers.items())   # no blank line: it ends headers
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="112 call with location">
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
  <pause milliseconds="{hold_ms}"/>
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
  <recv response="200" crlf="true"/>
</scenario>
"""


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
