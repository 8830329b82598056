import pytest

from callengine.location import CellId, LocationError, network_name, parse_pani


def test_e_utran_telkomsel() -> None:
    cell = parse_pani("3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=510102A1F1A2B3C4; network-provided")
    assert cell == CellId("LTE", 510, 10, 0x2A1F, 0x1A2B3C4)
    assert network_name(cell.mcc, cell.mnc) == "Telkomsel"


def test_utran_indosat_quoted_and_with_header_name() -> None:
    cell = parse_pani('P-Access-Network-Info: 3GPP-UTRAN-FDD; utran-cell-id-3gpp="5100103E80C35A1B"')
    assert cell == CellId("UMTS", 510, 1, 1000, 0x0C35A1B)
    assert network_name(510, 1) == "Indosat Ooredoo Hutchison"


def test_nr_xl_axiata() -> None:
    cell = parse_pani("3GPP-NR-TDD; utran-cell-id-3gpp=5101100A1B20012345F7")
    assert cell == CellId("NR", 510, 11, 0x00A1B2, 0x0012345F7)
    assert network_name(510, 11) == "XL Axiata"


def test_geran_cgi() -> None:
    assert parse_pani("3GPP-GERAN; cgi-3gpp=510211F407D01") == CellId("GSM", 510, 21, 0x1F40, 0x7D01)


def test_three_digit_mnc_is_told_by_length() -> None:
    assert parse_pani("3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=3102602A1F1A2B3C4").mnc == 260
    # Telkomsel zero-padded to three digits is still Telkomsel.
    assert parse_pani("3GPP-E-UTRAN-TDD; utran-cell-id-3gpp=5100102A1F1A2B3C4").mnc == 10


def test_network_provided_wins_over_the_handsets_claim() -> None:
    header = ("3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=510090001000000A, "
              '3GPP-E-UTRAN-FDD; local-time-zone="UTC+07:00;x,y"; utran-cell-id-3gpp=510102A1F1A2B3C4; '
              "network-provided")
    assert parse_pani(header).mnc == 10


def test_malformed_part_is_passed_over_when_another_is_good() -> None:
    header = "3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=51010XYZ, 3GPP-UTRAN-FDD; utran-cell-id-3gpp=5100103E80C35A1B"
    assert parse_pani(header).radio == "UMTS"


def test_no_cell_id_access_types_give_none() -> None:
    assert parse_pani("IEEE-802.11; i-wlan-node-id=ffeeddccbbaa") is None
    assert parse_pani("") is None
    assert network_name(234, 10) is None


@pytest.mark.parametrize("header,reason", [
    ("3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=510102A1F1A2B3C", r"has 15 characters: expected 16 or 17"),
    ("3GPP-NR-FDD; utran-cell-id-3gpp=510102A1F1A2B3C4", r"has 16 characters: expected 20 or 21"),
    ("3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=510102A1G1A2B3C4", r"hexadecimal, got '2A1G1A2B3C4'"),
    ("3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=5A0102A1F1A2B3C4", r"MCC and MNC must be decimal digits"),
    ("3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=5101012A1F1A2B3C4", r"Indonesian \(MCC 510\) MNCs have two digits"),
    ("3GPP-E-UTRAN-FDD; network-provided", r"without a utran-cell-id-3gpp parameter"),
    ("3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=" + "1" * 2000, r"longer than 1024"),
])
def test_malformed_cell_ids_say_why(header: str, reason: str) -> None:
    with pytest.raises(LocationError, match=reason):
        parse_pani(header)
