"""P-Access-Network-Info (3GPP TS 24.229 §7.2A.4) → the serving cell, for a tower-table lookup.

    P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=5101000A10123456; network-provided

The cell identity is MCC (3) + MNC (2 or 3) + area + cell, all fixed width, so the total length tells
the MNC length. Only GERAN, UTRAN, E-UTRAN and NR carry a cell id; other access types (Wi-Fi, DSL...)
give None.
"""
from __future__ import annotations

import re

from callengine.location.model import CellId, LocationError

# access type → (OpenCelliD radio, parameter, area hex digits, cell hex digits)
_ACCESS = {
    "3GPP-GERAN": ("GSM", "cgi-3gpp", 4, 4),
    "3GPP-UTRAN-FDD": ("UMTS", "utran-cell-id-3gpp", 4, 7),
    "3GPP-UTRAN-TDD": ("UMTS", "utran-cell-id-3gpp", 4, 7),
    "3GPP-E-UTRAN-FDD": ("LTE", "utran-cell-id-3gpp", 4, 7),
    "3GPP-E-UTRAN-TDD": ("LTE", "utran-cell-id-3gpp", 4, 7),
    "3GPP-NR-FDD": ("NR", "utran-cell-id-3gpp", 6, 9),
    "3GPP-NR-TDD": ("NR", "utran-cell-id-3gpp", 6, 9),
}
_HEX = re.compile(r"[0-9A-Fa-f]+")
_MAX_HEADER = 1024

# Indonesia (MCC 510): every MNC is two digits. Names as subscribers know them today.
INDONESIAN_NETWORKS: dict[int, str] = {
    0: "PSN (satellite)",
    1: "Indosat Ooredoo Hutchison",
    8: "Axis (XL Axiata)",
    9: "Smartfren",
    10: "Telkomsel",
    11: "XL Axiata",
    21: "Indosat Ooredoo Hutchison (IM3)",
    27: "Net1 Indonesia (Ceria)",
    28: "Smartfren (Fren)",
    89: "Hutchison 3 Indonesia (Tri), now Indosat Ooredoo Hutchison",
}


def network_name(mcc: int, mnc: int) -> str | None:
    return INDONESIAN_NETWORKS.get(mnc) if mcc == 510 else None


def parse_pani(header: str) -> CellId | None:
    """The serving cell of the first network-provided access-info (else the first one with a cell id).

    None when no access-info carries a cell id; LocationError when one that should is malformed.
    """
    if len(header) > _MAX_HEADER:
        raise LocationError(f"P-Access-Network-Info longer than {_MAX_HEADER} characters")
    value = header.split(":", 1)[1] if header.lower().startswith("p-access-network-info:") else header
    parts = [_params(part) for part in _split(value, ",") if part.strip()]
    # The network's own view (network-provided) beats what the handset claims about itself.
    parts.sort(key=lambda p: "network-provided" not in p[1])
    error: LocationError | None = None
    for access_type, params in parts:
        try:
            cell = _cell(access_type, params)
        except LocationError as exc:
            error = error or exc
            continue
        if cell is not None:
            return cell
    if error:
        raise error
    return None


def _cell(access_type: str, params: dict[str, str]) -> CellId | None:
    spec = _ACCESS.get(access_type.upper())
    if spec is None:
        return None
    radio, name, area_len, cell_len = spec
    if name not in params:
        raise LocationError(f"{access_type} without a {name} parameter")
    return decode_cell_id(radio, params[name], area_len, cell_len, f"{name} of {access_type}")


def decode_cell_id(radio: str, value: str, area_len: int, cell_len: int, what: str) -> CellId:
    short = 3 + 2 + area_len + cell_len
    if len(value) not in (short, short + 1):
        raise LocationError(f"{what} {value!r} has {len(value)} characters: expected {short} or {short + 1} "
                            f"(MCC 3 + MNC 2 or 3 digits + area {area_len} hex + cell {cell_len} hex)")
    mnc_len = len(value) - short + 2
    mcc, mnc = value[:3], value[3:3 + mnc_len]
    if not ((mcc + mnc).isascii() and (mcc + mnc).isdigit()):
        raise LocationError(f"{what} {value!r}: MCC and MNC must be decimal digits, got {mcc!r} {mnc!r}")
    ids = value[3 + mnc_len:]
    if not _HEX.fullmatch(ids):
        raise LocationError(f"{what} {value!r}: area and cell must be hexadecimal, got {ids!r}")
    if mcc == "510" and mnc_len == 3 and not mnc.startswith("0"):
        # Indonesian MNCs have two digits; "010" is Telkomsel zero-padded, "101" is no network at all.
        raise LocationError(f"{what} {value!r}: Indonesian (MCC 510) MNCs have two digits, got {mnc!r}")
    return CellId(radio, int(mcc), int(mnc), int(ids[:area_len], 16), int(ids[area_len:], 16))


def _params(part: str) -> tuple[str, dict[str, str]]:
    access_type, *rest = _split(part, ";")
    params: dict[str, str] = {}
    for item in rest:
        name, _, raw = item.partition("=")
        params[name.strip().lower()] = raw.strip().strip('"')
    return access_type.strip(), params


def _split(text: str, sep: str) -> list[str]:
    """Split on sep outside double quotes (a quoted local-time-zone may hold commas or semicolons)."""
    out, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(char)
    out.append("".join(current))
    return out
