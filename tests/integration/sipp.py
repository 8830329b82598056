"""sipp as the telco trunk: an INVITE to 112 with the headers and body a test needs
(Geolocation, P-Access-Network-Info, a multipart PIDF-LO body), held, then BYE. The
benchmarks place their loads with the same scenario."""
from __future__ import annotations

import re
import socket
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


DTMF_PCAPS = Path("/usr/share/sip-tester")   # sipp's RFC 2833 digits, as Debian ships them
DTMF_SDP = SDP.replace("RTP/AVP 8", "RTP/AVP 8 101") + "\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15"


def scenario(caller: str, headers: dict[str, str] | None = None, content_type: str = "application/sdp",
             body: str = SDP, hold_ms: int | None = 3000, hangs_up: bool = True, digit: str | None = None,
             digit_after_ms: int = 1500) -> str:
    """One 112 call from `caller` (sipp keywords such as [call_number] may be part of it).
    The caller hangs up after `hold_ms` (None: after sipp's -d); with `hangs_up=False` it waits
    up to `hold_ms` for the far end's BYE instead (on timeout sipp sends its own BYE). With
    `digit`, the caller presses it (RFC 2833) `digit_after_ms` after the answer, during the greeting."""
    # one header per line, no blank line: a blank line would end the headers
    extra = "".join(f"\n      {name}: {value}" for name, value in (headers or {}).items())
    ending = _caller_hangs_up(caller, hold_ms) if hangs_up else _far_end_hangs_up(hold_ms or 60_000)
    if digit is not None:
        body = DTMF_SDP if body == SDP else body
        pcap = DTMF_PCAPS / f"dtmf_2833_{ {'*': 'star', '#': 'pound'}.get(digit, digit) }.pcap"
        ending = (f'  <pause milliseconds="{digit_after_ms}"/>\n'
                  f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n{ending}')
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


def call(lab: Lab, folder: Path, text: str, timeout: float = 30, keys: dict[str, str] | None = None,
         call_id: str | None = None) -> None:
    """One call from the trunk address 127.0.0.2; raises if sipp saw the call fail. `keys` fill
    [name] placeholders at send time: text sipp's scenario parser would choke on (DTDs).
    `call_id`: the dialog's Call-ID instead of sipp's own."""
    path = folder / "scenario.xml"
    path.write_text(text)
    extra = [arg for name, value in (keys or {}).items() for arg in ("-key", name, value)]
    extra += ["-cid_str", call_id.replace("%", "%%")] if call_id else []
    done = subprocess.run(["sipp", "-sf", str(path), *extra, "-i", "127.0.0.2", "-p", "0", "-m", "1", "-nostdin",
                           "-timeout", f"{int(timeout)}s", "-timeout_error", "-trace_err",
                           "-error_file", str(folder / "sipp-errors.log"), lab.sip],
                          capture_output=True, text=True, cwd=folder, timeout=timeout + 10)
    if done.returncode != 0:
        errors = (folder / "sipp-errors.log").read_text() if (folder / "sipp-errors.log").exists() else ""
        raise AssertionError(f"sipp failed ({done.returncode}): {errors[-2000:]}")



def sipp_load(lab: Lab, folder: Path, name: str, scenario: str, calls: int, rate: float, limit: int,
              *options: str) -> subprocess.Popen[bytes]:
    """`calls` calls at `rate`/s from the trunk address 127.0.0.2, at most `limit` at once;
    failed calls go to {name}-errors.log. Runs in the background: the caller waits on it."""
    path = folder / f"{name}.xml"
    path.write_text(scenario)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.2", 0))
        port = sock.getsockname()[1]
    command = ["sipp", "-sf", str(path), "-i", "127.0.0.2", "-p", str(port), "-r", str(rate), "-rp", "1000",
               "-m", str(calls), "-l", str(limit), "-nostdin", *options,
               "-trace_err", "-error_file", str(folder / f"{name}-errors.log"), lab.sip]
    return subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# --- requests whose answer is the point: who gets in, who is refused -------------------------
TRUNK = "127.0.0.2"      # the lab's trunk address ([trunk] match)
_FINAL = (200, 401, 403, 404, 407, 480, 486, 488, 500, 503, 603)
_STATUS = re.compile(r"^SIP/2\.0 (\d{3}) ", re.MULTILINE)
_FROM_USER = re.compile(r"^(?:From|f):[^\n]*?<?sip:([^@>;\s]+)@", re.MULTILINE | re.IGNORECASE)


def _branches(method: str) -> str:
    """Wait for the final answer to `method`, whichever of the usual ones it is."""
    steps = [f'  <recv response="{code}" optional="true" next="{"answered" if code == 200 else "refused"}"/>'
             for code in _FINAL]
    steps[-1] = steps[-1].replace(' optional="true"', "")  # the last must not be optional: sipp's lookahead ends there
    return "\n".join(['  <recv response="100" optional="true"/>'] * (method == "INVITE") + steps)


_VIA = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]"
_WHO = ("      From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]\n"
        "      To: <sip:112@[remote_ip]:[remote_port]>[peer_tag_param]\n      Call-ID: [call_id]")


def invite_answer(headers: dict[str, str] | None = None, content_type: str = "application/sdp",
                  body: str = SDP) -> str:
    """An INVITE to 112 from the user in [field0] of the injection file, ended on whatever final
    answer comes: ACK after a refusal, ACK and BYE after a 200 (so an admitted call ends too)."""
    extra = "".join(f"\n      {name}: {value}" for name, value in (headers or {}).items())
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="112 INVITE answer">
  <send retrans="500"><![CDATA[
      INVITE sip:112@[remote_ip]:[remote_port] SIP/2.0
      {_VIA}
{_WHO}
      CSeq: 1 INVITE
      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70{extra}
      Content-Type: {content_type}
      Content-Length: [len]

{body}
  ]]></send>
{_branches("INVITE")}
  <label id="refused"/>
{_in_dialog("ACK", 1, "[last_Via:]")}
  <nop next="end"/>
  <label id="answered"/>
{_in_dialog("ACK", 1, _VIA)}
{_in_dialog("BYE", 2, _VIA)}
  <recv response="200"/>
  <label id="end"/>
</scenario>
"""


def _in_dialog(method: str, cseq: int, via: str) -> str:
    """ACK (the INVITE's Via after a refusal: same transaction; a new one after a 200) or BYE."""
    retrans = ' retrans="500"' if method == "BYE" else ""
    return f"""  <send{retrans}><![CDATA[
      {method} sip:112@[remote_ip]:[remote_port] SIP/2.0
      {via}
{_WHO}
      CSeq: {cseq} {method}
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>"""


def register_answer() -> str:
    """REGISTER as [field0] answering the digest challenge with sipp's -au and -ap (sipp takes no
    field for the username there); ends on the final answer to the second REGISTER (a 200
    registers for 60 s)."""
    head = """      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field0]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]"""
    tail = """      Contact: <sip:[field0]@[local_ip]:[local_port]>
      Max-Forwards: 70
      Expires: 60
      Content-Length: 0"""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="REGISTER answer">
  <send retrans="500"><![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
{head}
      CSeq: 1 REGISTER
{tail}

  ]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
{head}
      CSeq: 2 REGISTER
      [authentication]
{tail}

  ]]></send>
{_branches("REGISTER")}
  <label id="refused"/>
  <label id="answered"/>
</scenario>
"""


def answers(lab: Lab, folder: Path, text: str, rows: list[list[str]], source: str, timeout: float = 20,
            options: list[str] | None = None) -> dict[str, int]:
    """Runs `text` once per row of fields ([field0] is the user), all in one sipp run from
    `source`, in parallel; returns the final status each user's request got last (a user
    missing from the result got no final answer). `options`: more sipp arguments (-cid_str,
    -au and -ap for register_answer)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.xml").write_text(text)
    (folder / "rows.csv").write_text("SEQUENTIAL\n" + "".join(";".join(row) + "\n" for row in rows))
    subprocess.run(["sipp", "-sf", "scenario.xml", "-inf", "rows.csv", *(options or []), "-i", source, "-p", "0", "-m", str(len(rows)),
                    "-r", "100", "-l", str(len(rows)), "-nostdin", "-timeout", f"{int(timeout)}s", "-trace_msg",
                    "-message_file", "messages.log", lab.sip],
                   capture_output=True, text=True, cwd=folder, timeout=timeout + 10)
    log = folder / "messages.log"
    found: dict[str, int] = {}
    for message in (log.read_text(errors="replace") if log.exists() else "").split("\n\n-----"):
        status, user = _STATUS.search(message), _FROM_USER.search(message)
        if status and user and int(status.group(1)) >= 200 and "message received" in message:
            found[user.group(1)] = int(status.group(1))
    return found
