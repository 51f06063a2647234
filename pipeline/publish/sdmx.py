"""Released tables as SDMX-CSV 2.0 files, one per table.

Each row is one observation: ``STRUCTURE`` (``dataflow``), ``STRUCTURE_ID`` (``MIGRALINK:DF_<TABLE>(1.0)``),
``ACTION`` (``I``: information), then one column per dimension: ``FREQ`` (``M`` month, ``A`` year),
``MEASURE``, the table's breakdown dimensions (``_T`` in every dimension a row is a total over), ``TIME_PERIOD``
(``2024-03`` or ``2024``), and the observation: ``OBS_VALUE`` (empty when suppressed), ``OBS_STATUS`` (``A``
final, ``P`` provisional) and ``CONF_STATUS`` (``F`` free, ``A`` primary confidential, ``D`` secondary
confidential). Codes follow SDMX conventions: ``_U`` unknown, ``_O`` other, ``_T`` total; ages as ``Y0T4`` and
``Y_GE85``.
"""

from __future__ import annotations

import csv
import io

import pandas as pd

from pipeline.warehouse.tables import FLOWS_TABLE, OVERSTAYS_TABLE, PERMITS_TABLE, STOCK_TABLE

AGENCY = "MIGRALINK"
VERSION = "1.0"
DATAFLOWS = {
    FLOWS_TABLE: "DF_MIGRATION_FLOWS",
    PERMITS_TABLE: "DF_FIRST_PERMITS",
    STOCK_TABLE: "DF_RESIDENT_STOCK",
    OVERSTAYS_TABLE: "DF_OVERSTAYS",
}
# Each table's breakdown dimensions, in column order (register names).
DIMENSIONS = {
    FLOWS_TABLE: ("citizenship", "country_of_birth", "sex", "age", "authorization_category"),
    PERMITS_TABLE: ("reason", "validity", "citizenship", "sex", "age"),
    STOCK_TABLE: ("citizenship",),
    OVERSTAYS_TABLE: ("citizenship",),
}
MEASURE_CODES = {
    "arrivals": "IMM",
    "departures": "EMI",
    "net_migration": "NET",
    "first_permits": "FIRST_PERMITS",
    "residents": "STOCK",
    "overstays": "OVERSTAYS",
    "entries_without_visa": "ENTRY_NO_VISA",
}
_FIXED = {
    "unknown": "_U",
    "total": "_T",
    "_O": "_O",
    "none": "NONE",
    "family": "FAM",
    "education": "EDUC",
    "remunerated activities": "REMUN",
    "other": "OTH",
    "under 3 months": "M_LT3",
    "3-5 months": "M3T5",
    "6-11 months": "M6T11",
    "12 months or over": "M_GE12",
    "unlimited": "UNL",
}


def category_code(dimension: str, category: str) -> str:
    """The SDMX code of a released category (``unknown`` -> ``_U``, age ``25-29`` -> ``Y25T29``, ``85+`` ->
    ``Y_GE85``, permit reasons and validities to short codes, countries and sexes as they are)."""
    if category in _FIXED:
        return _FIXED[category]
    if dimension == "age":
        if category.endswith("+"):
            return f"Y_GE{category[:-1]}"
        low, high = category.split("-")
        return f"Y{low}T{high}"
    return category.upper().replace(" ", "_")


def columns(table: str) -> list[str]:
    """The header of a table's file."""
    dims = [d.upper() for d in DIMENSIONS[table]]
    return [
        "STRUCTURE",
        "STRUCTURE_ID",
        "ACTION",
        "FREQ",
        "MEASURE",
        *dims,
        "TIME_PERIOD",
        "OBS_VALUE",
        "OBS_STATUS",
        "CONF_STATUS",
    ]


def structure_id(table: str) -> str:
    return f"{AGENCY}:{DATAFLOWS[table]}({VERSION})"


def to_sdmx_csv(table: str, cells: pd.DataFrame) -> bytes:
    """The file of one released table. ``cells`` has ``measure``, ``period_type``, ``period``, ``dimension``,
    ``category``, ``released`` (NaN when withheld), ``provisional`` and ``conf_status``."""
    frame = pd.DataFrame(
        {
            "STRUCTURE": "dataflow",
            "STRUCTURE_ID": structure_id(table),
            "ACTION": "I",
            "FREQ": cells["period_type"].map({"month": "M", "year": "A"}),
            "MEASURE": cells["measure"].map(MEASURE_CODES),
        }
    )
    codes = {
        (d, c): category_code(d, c)
        for d, c in cells[["dimension", "category"]].drop_duplicates().itertuples(index=False)
    }
    coded = pd.Series(
        [codes[(d, c)] for d, c in zip(cells["dimension"], cells["category"], strict=True)], index=cells.index
    )
    for dimension in DIMENSIONS[table]:
        frame[dimension.upper()] = coded.where(cells["dimension"] == dimension, "_T")
    frame["TIME_PERIOD"] = cells["period"]
    frame["OBS_VALUE"] = cells["released"].astype("Int64")
    frame["OBS_STATUS"] = cells["provisional"].map({True: "P", False: "A"})
    frame["CONF_STATUS"] = cells["conf_status"]
    out = io.StringIO()
    frame[columns(table)].to_csv(out, index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    return out.getvalue().encode("utf-8")
