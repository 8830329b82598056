"""Advanced Mobile Location (ETSI TS 103 625): Android ELS over HTTPS and the AML SMS v1.

The position fields are checked strictly (a wrong position is worse than none). Fields that
only identify the handset (IMEI, IMSI, model...) are kept raw in `AmlReport.raw`. A report
must name the caller and carry a position: without both it cannot help anyone find the caller
(it cannot be matched to a call, or there is nothing to show), so it is refused and the sender
learns why instead of being told "accepted".
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from callengine.calls.numbers import to_e164
from callengine.location.model import Location, LocationError, decimal

MAX_FIELDS = 64
MAX_VALUE = 256
# NUL and other control characters have no place in any AML field (PostgreSQL cannot even store NUL).
_CONTROL = frozenset(chr(c) for c in (*range(32), 127))
# ELS location_source → our method; "unknown" means no method.
_HTTP_METHODS = {"gps": "gnss", "gnss": "gnss", "wifi": "wifi", "cell": "cell", "unknown": None}
# AML SMS pm: G GNSS, W Wi-Fi, C cell, N none (no position).
_SMS_METHODS = {"G": "gnss", "W": "wifi", "C": "cell", "N": None}
_MS_EPOCH_MIN = 10**11  # 1973 in ms: anything smaller is seconds sent by mistake


class AmlError(LocationError):
    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"AML {field_name}: {reason}")
        self.field = field_name


@dataclass(frozen=True)
class AmlReport:
    number: str  # the caller, E.164
    location: Location
    method: str | None
    time: datetime | None  # when the fix was made, UTC
    transport: str  # "http" or "sms"
    raw: dict[str, str] = field(default_factory=dict, hash=False)


def parse_aml_http(fields: Mapping[str, str]) -> AmlReport:
    """An Android ELS HTTPS POST (form fields): device_number and the position are required,
    other ELS fields are optional; present ones must be sound."""
    raw = _bounded(fields)
    method = _http_method(raw)
    time = _ms_time(raw, "location_time") or _ms_time(raw, "time")
    location = Location(_coordinate(raw, "location_latitude", 90), _coordinate(raw, "location_longitude", 180),
                        _radius(raw, "location_accuracy"), "aml", method, time, _http_detail(raw))
    return AmlReport(_number(raw.get("device_number"), "device_number"), location, method, time, "http", raw)


def parse_aml_sms(text: str, sender: str | None = None) -> AmlReport:
    """An AML SMS v1 (A"ML=1;lt=...;ml=NNN); the number is the SMS sender's, the SMS itself has none."""
    text = text.strip()
    raw = _sms_fields(text)
    _check_length(text, raw)
    version = raw.get('A"ML')
    if version != "1":
        raise AmlError('A"ML', f"version {version!r} is not supported (only 1; ELS beta is 2)")
    if raw.get("pm") not in _SMS_METHODS:
        raise AmlError("pm", f"{raw.get('pm')!r} is not one of G, W, C, N")
    method = _SMS_METHODS[raw["pm"]]
    time = _sms_time(raw)
    if method is None or raw.get("rd") == "N":
        key = "pm" if method is None else "rd"
        raise AmlError(key, f"{key}=N: the handset had no position")
    detail: dict[str, object] = {k: raw[k] for k in ("ei", "mcc", "mnc") if k in raw}
    if "lc" in raw:
        detail["confidence"] = _percent(raw, "lc")
    location = Location(_coordinate(raw, "lt", 90), _coordinate(raw, "lg", 180), _radius(raw, "rd"),
                        "aml", method, time, detail)
    return AmlReport(_number(sender, "from"), location, method, time, "sms", raw)


def _number(raw: str | None, key: str) -> str:
    if not raw:
        raise AmlError(key, "missing (the caller's number)")
    number = to_e164(raw)
    # str.isdigit() also takes Arabic-Indic or superscript digits: the number must be ASCII.
    if number is None or not number.isascii():
        raise AmlError(key, f"{raw[:40]!r} is not a phone number")
    return number


def _http_detail(raw: Mapping[str, str]) -> dict[str, object]:
    detail: dict[str, object] = {k: raw[k] for k in ("location_floor", "device_imei", "device_model") if k in raw}
    if "location_altitude" in raw:
        detail["altitude_m"] = _float(raw, "location_altitude")
    confidence = _confidence(raw)
    if confidence is not None:
        detail["confidence"] = confidence
    return detail


def _sms_fields(text: str) -> dict[str, str]:
    if not text.startswith('A"ML='):
        raise AmlError('A"ML', 'message does not start with A"ML=')
    raw: dict[str, str] = {}
    for item in text.split(";"):
        key, sep, value = item.partition("=")
        if not sep:
            raise AmlError(key[:20] or "(empty)", "item without '='")
        if key in raw:
            raise AmlError(key, "appears twice")
        raw[key] = value
    return _bounded(raw)


def _check_length(text: str, raw: dict[str, str]) -> None:
    # ml counts the whole message, header and the ml=NNN item included: a mismatch means truncation or tampering.
    if "ml" not in raw:
        raise AmlError("ml", "missing (message length)")
    if not _digits(raw["ml"]) or len(raw["ml"]) > 4:
        raise AmlError("ml", f"{raw['ml']!r} is not a whole number")
    if int(raw["ml"]) != len(text):
        raise AmlError("ml", f"says {raw['ml']} characters but the message has {len(text)}")


def _bounded(fields: Mapping[str, str]) -> dict[str, str]:
    if len(fields) > MAX_FIELDS:
        raise AmlError("(message)", f"{len(fields)} fields, more than {MAX_FIELDS}")
    for key, value in fields.items():
        if len(key) > MAX_VALUE or len(value) > MAX_VALUE:
            raise AmlError(key[:40], f"longer than {MAX_VALUE} characters")
        control = next((c for c in key + value.strip() if c in _CONTROL), None)
        if control is not None:
            raise AmlError(key[:40], f"contains the control character 0x{ord(control):02x}")
    # ELS sends unknown values as empty fields (cell_carrier=): empty is absent.
    return {key: value.strip() for key, value in fields.items() if value.strip()}


def _float(raw: Mapping[str, str], key: str) -> float:
    if key not in raw:
        raise AmlError(key, "missing")
    try:
        return decimal(raw[key])
    except ValueError:
        raise AmlError(key, f"{raw[key]!r} is not a decimal number") from None


def _coordinate(raw: Mapping[str, str], key: str, limit: int) -> float:
    value = _float(raw, key)
    if not -limit <= value <= limit:
        raise AmlError(key, f"{value} out of range -{limit}..{limit}")
    return value


def _radius(raw: Mapping[str, str], key: str) -> float | None:
    if key not in raw:
        return None
    value = _float(raw, key)
    if value <= 0:
        raise AmlError(key, f"radius {value} must be > 0 metres")
    return value


def _percent(raw: Mapping[str, str], key: str) -> float:
    value = _float(raw, key)
    if not 0 <= value <= 100:
        raise AmlError(key, f"confidence {value} out of range 0..100")
    return value


def _confidence(raw: Mapping[str, str]) -> float | None:
    # ELS has sent location_confidence as a fraction (0.68) and location_certainty as a percentage (68).
    key = next((k for k in ("location_confidence", "location_certainty") if k in raw), None)
    if key is None:
        return None
    value = _percent(raw, key)
    return value * 100 if 0 < value <= 1 else value


def _http_method(raw: Mapping[str, str]) -> str | None:
    # ELS names the fix's origin location_source; `source` is the activation (call or sms), but a
    # sender that puts gps/wifi/cell there means the fix. Unknown words (a future "fused") are kept.
    word = raw.get("location_source", "").lower()
    if not word and raw.get("source", "").lower() in ("gps", "wifi", "cell"):
        word = raw["source"].lower()
    return _HTTP_METHODS.get(word, word or None)


def _ms_time(raw: Mapping[str, str], key: str) -> datetime | None:
    if key not in raw:
        return None
    if not _digits(raw[key]):
        raise AmlError(key, f"{raw[key]!r} is not milliseconds since 1970")
    ms = int(raw[key])
    if ms < _MS_EPOCH_MIN:
        raise AmlError(key, f"{ms} looks like seconds, not milliseconds since 1970")
    try:
        return datetime.fromtimestamp(ms / 1000, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise AmlError(key, f"{ms} is not a plausible time") from None


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _sms_time(raw: Mapping[str, str]) -> datetime:
    top = raw.get("top")
    if top is None:
        raise AmlError("top", "missing (time of positioning)")
    if len(top) != 14 or not _digits(top):
        raise AmlError("top", f"{top!r} is not YYYYMMDDhhmmss")
    try:
        return datetime.strptime(top, "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        raise AmlError("top", f"{top!r} is not a valid date and time") from None
