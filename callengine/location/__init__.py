"""Caller location: SIP Geolocation/PIDF-LO, P-Access-Network-Info cells, the OpenCelliD tower table, AML."""
from callengine.location.aml import AmlError, AmlReport, parse_aml_http, parse_aml_sms
from callengine.location.model import CellId, Location, LocationError, best
from callengine.location.pani import network_name, parse_pani
from callengine.location.pidf import locations_from_sip, parse_pidf_lo

__all__ = ["AmlError", "AmlReport", "CellId", "Location", "LocationError", "best", "locations_from_sip",
           "network_name", "parse_aml_http", "parse_aml_sms", "parse_pani", "parse_pidf_lo"]
