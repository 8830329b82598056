from datetime import datetime, timezone

import pytest

from callengine.location import AmlError, parse_aml_http, parse_aml_sms

# A Telkomsel handset in Jakarta, GNSS fix; 128 characters including "ml=128" itself.
SMS = ('A"ML=1;lt=-6.17539;lg=+106.82715;rd=12;top=20240517031500;lc=68;pm=G;'
       'si=510101000000000;ei=356708041746734;mcc=510;mnc=10;ml=128')

HTTP = {
    "v": "3", "emergency_number": "112", "source": "call", "thunderbird_version": "2800",
    "time": "1715915700123", "location_latitude": "-7.25752", "location_longitude": "112.75208",
    "location_time": "1715915702000", "location_accuracy": "14.5", "location_source": "wifi",
    "location_altitude": "8.2", "location_floor": "3", "location_confidence": "0.68",
    "device_number": "+6281234567890", "device_model": "Pixel 7", "device_imei": "356708041746734",
    "device_imsi": "510101000000000", "cell_carrier": "Telkomsel", "cell_home_mcc": "510", "cell_home_mnc": "10",
    "cell_network_mcc": "510", "cell_network_mnc": "10",
}


def test_sms_length_is_the_whole_message() -> None:
    assert len(SMS) == 128


def test_valid_sms() -> None:
    report = parse_aml_sms(SMS, sender="0812-3456-7890")
    assert report.number == "+6281234567890" and report.transport == "sms"
    assert (report.location.lat, report.location.lon, report.location.radius_m) == (-6.17539, 106.82715, 12.0)
    assert report.method == "gnss" == report.location.method and report.location.source == "aml"
    assert report.time == datetime(2024, 5, 17, 3, 15, tzinfo=timezone.utc) == report.location.at
    assert report.location.detail["confidence"] == 68.0 and report.raw["ei"] == "356708041746734"


def test_published_android_examples_pass_the_length_check_and_are_refused_for_no_position() -> None:
    # Google's ELS SMS "no location" example: counts 127 and says 127, so what refuses it is pm=N.
    with pytest.raises(AmlError, match="pm=N: the handset had no position") as caught:
        parse_aml_sms('A"ML=1;lt=+00.00000;lg=+000.00000;rd=N;top=20220131173734;lc=0;pm=N;'
                      'si=234159000000000;ei=123456789012345;mcc=234;mnc=15;ml=127', sender="+6281234567890")
    assert caught.value.field == "pm"


def test_no_radius_means_no_position() -> None:
    with pytest.raises(AmlError, match="rd=N") as caught:
        parse_aml_sms(with_length(SMS.replace("rd=12", "rd=N")), sender="+6281234567890")
    assert caught.value.field == "rd"


def test_surrounding_whitespace_is_not_counted() -> None:
    assert parse_aml_sms("  " + SMS + "\r\n", sender="081234567890").location.lat == -6.17539


@pytest.mark.parametrize("sender,reason", [
    (None, "missing"), ("", "missing"), ("not-a-number", "is not a phone number"),
    ("+62\u0668\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669", "is not a phone number"),  # Arabic-Indic digits
])
def test_sms_without_a_sender_number_is_refused(sender: str | None, reason: str) -> None:
    with pytest.raises(AmlError, match=reason) as caught:
        parse_aml_sms(SMS, sender=sender)
    assert caught.value.field == "from"


def test_control_characters_are_refused() -> None:
    with pytest.raises(AmlError, match="control character 0x00") as caught:
        parse_aml_sms(with_length(SMS.replace("ei=356708041746734", "ei=3567\x0008041746734")), sender="0812345678")
    assert caught.value.field == "ei"
    with pytest.raises(AmlError, match="control character 0x1b"):
        parse_aml_http(HTTP | {"device_model": "Pixel\x1b[2J"})


def with_length(text: str) -> str:
    """The message with ml= set to its new length (ml counts itself)."""
    text = text[:text.rindex("ml=") + 3] + str(len(text))
    return text[:text.rindex("ml=") + 3] + str(len(text))


@pytest.mark.parametrize("text,field,reason", [
    (SMS.replace("ml=128", "ml=127"), "ml", "says 127 characters but the message has 128"),
    (SMS.replace(";ml=128", ""), "ml", "missing"),
    (SMS[:-3] + "12x", "ml", "not a whole number"),
    (SMS.replace("lt=-6.17539", "lt=-96.1753"), "lt", "out of range -90..90"),
    (SMS.replace("lg=+106.82715", "lg=+196.82715"), "lg", "out of range -180..180"),
    (SMS.replace("rd=12", "rd=0"), "rd", "must be > 0"),
    (SMS.replace("rd=12", "rd=x1"), "rd", "not a decimal number"),
    (SMS.replace("top=20240517031500", "top=20241317031500"), "top", "not a valid date"),
    (SMS.replace("top=20240517031500", "top=2024051703150Z"), "top", "not YYYYMMDDhhmmss"),
    (SMS.replace("pm=G", "pm=X"), "pm", "not one of G, W, C, N"),
    (SMS.replace("lc=68", "lc=168"), "lc", "out of range 0..100"),
    (SMS.replace('A"ML=1', 'A"ML=2'), 'A"ML', "version '2' is not supported"),
    (SMS.replace("mnc=10", "lt=10"), "lt", "appears twice"),
    ("AML=1;lt=1", 'A"ML', 'does not start with A"ML='),
])
def test_bad_sms_names_field_and_reason(text: str, field: str, reason: str) -> None:
    if field != "ml" and "ml=" in text:  # keep the length right so the field under test is the one that fails
        text = with_length(text)
    with pytest.raises(AmlError, match=reason) as caught:
        parse_aml_sms(text, sender="081234567890")
    assert caught.value.field == field


def test_valid_http() -> None:
    report = parse_aml_http(HTTP)
    loc = report.location
    assert report.number == "+6281234567890" and report.transport == "http"
    assert (loc.lat, loc.lon, loc.radius_m, loc.method) == (-7.25752, 112.75208, 14.5, "wifi")
    assert report.time == datetime(2024, 5, 17, 3, 15, 2, tzinfo=timezone.utc) == loc.at
    assert loc.detail["confidence"] == pytest.approx(68.0)
    assert loc.detail["altitude_m"] == 8.2 and loc.detail["location_floor"] == "3"
    assert report.raw["cell_carrier"] == "Telkomsel"


def test_http_time_falls_back_to_the_report_time() -> None:
    report = parse_aml_http({k: v for k, v in HTTP.items() if k != "location_time"})
    assert report.time == datetime(2024, 5, 17, 3, 15, 0, 123000, tzinfo=timezone.utc) == report.location.at


@pytest.mark.parametrize("dropped,changes,field,reason", [
    ("device_number", {}, "device_number", "missing"),
    ("", {"device_number": "not-a-number"}, "device_number", "'not-a-number' is not a phone number"),
    ("", {"device_number": "+62\u00b2\u00b2\u00b2\u00b2\u00b2\u00b2\u00b2\u00b2"}, "device_number", "not a phone number"),
    ("location_latitude", {}, "location_latitude", "missing"),
    ("location_longitude", {}, "location_longitude", "missing"),
])
def test_http_without_caller_or_position_is_refused(dropped: str, changes: dict[str, str], field: str,
                                                    reason: str) -> None:
    fields = {k: v for k, v in (HTTP | changes).items() if k != dropped}
    with pytest.raises(AmlError, match=reason) as caught:
        parse_aml_http(fields)
    assert caught.value.field == field


def test_http_source_gps_is_read_as_the_method_when_location_source_is_absent() -> None:
    fields = {k: v for k, v in HTTP.items() if k != "location_source"} | {"source": "gps"}
    assert parse_aml_http(fields).method == "gnss"
    assert parse_aml_http(HTTP | {"location_certainty": "83"} | {"location_confidence": ""}).method == "wifi"


@pytest.mark.parametrize("changes,field,reason", [
    ({"location_latitude": "-97.1"}, "location_latitude", "out of range -90..90"),
    ({"location_longitude": "inf"}, "location_longitude", "not a decimal number"),
    ({"location_longitude": None}, "location_longitude", "missing"),
    ({"location_accuracy": "-5"}, "location_accuracy", "must be > 0"),
    ({"location_time": "1715915702"}, "location_time", "looks like seconds"),
    ({"location_time": "yesterday"}, "location_time", "not milliseconds"),
    ({"location_confidence": "150"}, "location_confidence", "out of range 0..100"),
    ({"location_altitude": "high"}, "location_altitude", "not a decimal number"),
    ({"device_model": "x" * 300}, "device_model", "longer than 256"),
])
def test_bad_http_names_field_and_reason(changes: dict[str, str | None], field: str, reason: str) -> None:
    fields = {k: v for k, v in (HTTP | changes).items() if v is not None}
    with pytest.raises(AmlError, match=reason) as caught:
        parse_aml_http(fields)
    assert caught.value.field == field


def test_too_many_fields_are_refused() -> None:
    with pytest.raises(AmlError, match="more than 64"):
        parse_aml_http({f"f{i}": "1" for i in range(65)})
