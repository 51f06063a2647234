"""Country codes accepted by the contract: ISO 3166-1 alpha-3 plus the ICAO 9303 codes that differ."""

from __future__ import annotations

from functools import cache

import pycountry

# ICAO Doc 9303 part 3: codes used in travel documents that are not ISO 3166-1 alpha-3.
ICAO_EXTRA_CODES = (
    "D",  # Germany
    "GBD",
    "GBN",
    "GBO",
    "GBP",
    "GBS",  # British nationality categories
    "EUE",  # European Union
    "UNO",
    "UNA",
    "UNK",  # United Nations organisation, specialised agency, Kosovo (UNMIK)
    "XBA",
    "XIM",
    "XCC",
    "XCE",
    "XCO",
    "XEC",
    "XPO",
    "XES",
    "XMP",
    "XOM",
    "XDC",
    "XAA",  # organisations
    "XXA",
    "XXB",
    "XXC",
    "XXX",  # stateless, refugee, refugee (other), unspecified nationality
    "RKS",  # Kosovo
    "UTO",  # Utopia, the ICAO specimen state
    "ZIM",  # Zimbabwe (older documents)
)


@cache
def known_country_codes() -> tuple[str, ...]:
    """All accepted codes, sorted."""
    iso = {c.alpha_3 for c in pycountry.countries}
    return tuple(sorted(iso | set(ICAO_EXTRA_CODES)))
