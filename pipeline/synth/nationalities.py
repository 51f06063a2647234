"""Nationalities, travel-document formats and where each kind of traveller comes from.

Codes are ICAO Doc 9303 codes: ISO 3166-1 alpha-3 except where ICAO differs (Germany is ``D``, British
Overseas Territories citizens ``GBD``). The host state is ``UTO``, the ICAO specimen state.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.synth.kinds import Kind

HOST = "UTO"


@dataclass(frozen=True)
class Nationality:
    """One issuing state.

    Attributes:
        code: ICAO nationality code.
        tradition: Key into `pipeline.synth.name_data.TRADITIONS`.
        visa_required: Whether its nationals need a visa to visit the host state.
        passport_pattern: Passport number shape: ``A`` letter, ``9`` digit, ``X`` letter or digit,
            anything else literal.
        unknown_dob_share: Share of nationals whose documents carry 1 January because the real date
            of birth was never registered.
    """

    code: str
    tradition: str
    visa_required: bool
    passport_pattern: str
    unknown_dob_share: float = 0.0


NATIONALITIES: tuple[Nationality, ...] = (
    Nationality("UTO", "uto", False, "L9999999X"),
    Nationality("D", "de", False, "CXXXXXXXX"),
    Nationality("GBR", "en", False, "999999999"),
    Nationality("GBD", "en", False, "999999999"),
    Nationality("USA", "en", False, "A99999999"),
    Nationality("CAN", "en", False, "AA999999"),
    Nationality("AUS", "en", False, "A9999999"),
    Nationality("FRA", "fr", False, "99AA99999"),
    Nationality("ITA", "it", False, "YA9999999"),
    Nationality("ESP", "es", False, "AAA999999"),
    Nationality("MEX", "es", False, "G99999999"),
    Nationality("COL", "es", False, "AT9999999"),
    Nationality("BRA", "pt", False, "AA999999"),
    Nationality("PRT", "pt", False, "C999999"),
    Nationality("POL", "pl", False, "AA9999999"),
    Nationality("UKR", "uk", False, "AA999999"),
    Nationality("RUS", "ru", True, "999999999"),
    Nationality("TUR", "tr", True, "U99999999"),
    Nationality("CHN", "zh", True, "E99999999"),
    Nationality("IND", "hi", True, "A9999999"),
    Nationality("VNM", "vi", True, "C9999999"),
    Nationality("PHL", "ph", True, "P9999999A"),
    Nationality("KOR", "ko", False, "M99999999"),
    Nationality("JPN", "ja", False, "TK9999999"),
    Nationality("NGA", "ng", True, "A99999999", 0.03),
    Nationality("PAK", "ur", True, "AA9999999", 0.05),
    Nationality("AFG", "fa", True, "P99999999", 0.4),
    Nationality("SYR", "ar", True, "N99999999", 0.06),
    Nationality("IRQ", "ar", True, "A9999999", 0.1),
    Nationality("EGY", "ar", True, "A99999999"),
    Nationality("MAR", "ar", True, "AA9999999"),
    Nationality("SOM", "so", True, "P99999999", 0.4),
    Nationality("ERI", "er", True, "E9999999", 0.2),
)

CODES: tuple[str, ...] = tuple(n.code for n in NATIONALITIES)
INDEX: dict[str, int] = {code: i for i, code in enumerate(CODES)}

# Where each kind comes from (relative weights; codes missing from a kind's table have weight 0).
KIND_NATIONALITIES: dict[Kind, dict[str, float]] = {
    Kind.VISITOR: {
        "D": 14,
        "GBR": 10,
        "GBD": 0.3,
        "USA": 12,
        "CAN": 3,
        "AUS": 3,
        "FRA": 6,
        "ITA": 4,
        "ESP": 4,
        "MEX": 2,
        "COL": 1.5,
        "BRA": 3,
        "PRT": 1.5,
        "POL": 4,
        "UKR": 3,
        "RUS": 7,
        "TUR": 9,
        "CHN": 22,
        "IND": 17,
        "VNM": 5,
        "PHL": 5,
        "KOR": 3,
        "JPN": 4,
        "NGA": 4,
        "PAK": 4,
        "EGY": 4,
        "MAR": 4,
    },
    Kind.STUDENT: {
        "CHN": 30,
        "IND": 25,
        "VNM": 8,
        "NGA": 7,
        "D": 4,
        "USA": 4,
        "KOR": 4,
        "PAK": 4,
        "BRA": 3,
        "TUR": 3,
        "ITA": 2,
        "ESP": 2,
        "MEX": 2,
        "COL": 2,
        "EGY": 2,
        "FRA": 2,
    },
    Kind.WORKER: {
        "IND": 22,
        "PHL": 16,
        "UKR": 10,
        "POL": 8,
        "CHN": 8,
        "VNM": 6,
        "GBR": 5,
        "D": 4,
        "PAK": 4,
        "TUR": 4,
        "BRA": 3,
        "USA": 3,
        "MAR": 3,
        "EGY": 2,
        "COL": 2,
        "NGA": 2,
    },
    Kind.FAMILY: {
        "IND": 15,
        "PAK": 12,
        "TUR": 10,
        "MAR": 8,
        "CHN": 8,
        "SYR": 8,
        "AFG": 6,
        "VNM": 5,
        "PHL": 5,
        "NGA": 4,
        "RUS": 3,
        "UKR": 4,
        "SOM": 4,
        "ERI": 3,
        "IRQ": 5,
    },
    Kind.PROTECTION: {
        "SYR": 25,
        "AFG": 22,
        "UKR": 18,
        "ERI": 8,
        "SOM": 7,
        "IRQ": 10,
        "TUR": 4,
        "RUS": 3,
        "NGA": 2,
        "PAK": 2,
        "COL": 2,
    },
    Kind.OVERSTAYER: {
        "NGA": 12,
        "PAK": 10,
        "MAR": 10,
        "PHL": 10,
        "IND": 10,
        "VNM": 8,
        "EGY": 8,
        "CHN": 8,
        "TUR": 8,
        "COL": 6,
        "UKR": 5,
        "BRA": 5,
    },
    Kind.FOREIGN_RESIDENT: {
        "TUR": 12,
        "POL": 10,
        "D": 8,
        "IND": 8,
        "ITA": 6,
        "CHN": 6,
        "SYR": 6,
        "GBR": 5,
        "UKR": 6,
        "MAR": 5,
        "PHL": 5,
        "AFG": 4,
        "PAK": 4,
        "RUS": 4,
        "IRQ": 3,
        "VNM": 4,
        "BRA": 3,
        "PRT": 3,
        "ESP": 2,
        "FRA": 2,
        "USA": 2,
    },
    Kind.FOREIGN_LEAVER: {
        "POL": 10,
        "D": 8,
        "GBR": 8,
        "ITA": 6,
        "ESP": 5,
        "FRA": 4,
        "USA": 6,
        "IND": 8,
        "CHN": 8,
        "UKR": 5,
        "TUR": 4,
        "BRA": 4,
        "PHL": 4,
        "PRT": 3,
    },
}

# Name traditions of host-state citizens: most carry local names, many have family roots elsewhere.
HOST_TRADITIONS: dict[str, float] = {
    "uto": 0.55,
    "en": 0.1,
    "de": 0.05,
    "ar": 0.04,
    "tr": 0.04,
    "hi": 0.03,
    "zh": 0.03,
    "vi": 0.02,
    "pl": 0.03,
    "it": 0.02,
    "es": 0.02,
    "so": 0.01,
    "uk": 0.02,
    "ph": 0.02,
    "fa": 0.02,
}

PORTS: dict[str, float] = {
    "UTO-CAP-AIR": 0.55,
    "UTO-NORTH-AIR": 0.14,
    "UTO-SOUTH-AIR": 0.08,
    "UTO-HARBOUR": 0.08,
    "UTO-BRIDGE": 0.1,
    "UTO-RAIL": 0.05,
}

REGIONS: dict[str, float] = {
    "CAPITAL": 0.38,
    "NORTH": 0.14,
    "SOUTH": 0.14,
    "EAST": 0.11,
    "WEST": 0.12,
    "ISLANDS": 0.04,
    "HIGHLANDS": 0.07,
}


def visa_exempt_codes() -> tuple[str, ...]:
    """Nationalities the synthetic host state lets in without a visa (its citizens aside): the demo's policy."""
    return tuple(sorted(n.code for n in NATIONALITIES if not n.visa_required and n.code != HOST))
