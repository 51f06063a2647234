"""The kinds of traveller the generator simulates, and their share of the population."""

from __future__ import annotations

from enum import IntEnum


class Kind(IntEnum):
    """Life-course pattern of a simulated person.

    Citizens of the host state never hold visas or permits; foreign nationals do, depending on the kind
    and on whether their nationality needs a visa.
    """

    CITIZEN_RESIDENT = 0
    CITIZEN_EMIGRANT = 1
    CITIZEN_RETURNING = 2
    VISITOR = 3
    STUDENT = 4
    WORKER = 5
    FAMILY = 6
    PROTECTION = 7
    OVERSTAYER = 8
    FOREIGN_RESIDENT = 9
    FOREIGN_LEAVER = 10

    @property
    def label(self) -> str:
        """Lower-case name written to persons.csv."""
        return self.name.lower()

    @property
    def is_citizen(self) -> bool:
        """True for citizens of the host state."""
        return self in (Kind.CITIZEN_RESIDENT, Kind.CITIZEN_EMIGRANT, Kind.CITIZEN_RETURNING)


# Share of each kind among the people who appear in the records over a two-year window.
KIND_WEIGHTS: dict[Kind, float] = {
    Kind.CITIZEN_RESIDENT: 0.25,
    Kind.CITIZEN_EMIGRANT: 0.02,
    Kind.CITIZEN_RETURNING: 0.015,
    Kind.VISITOR: 0.36,
    Kind.STUDENT: 0.07,
    Kind.WORKER: 0.07,
    Kind.FAMILY: 0.045,
    Kind.PROTECTION: 0.02,
    Kind.OVERSTAYER: 0.01,
    Kind.FOREIGN_RESIDENT: 0.12,
    Kind.FOREIGN_LEAVER: 0.015,
}

# Age range (years at the start of the window) per kind.
KIND_AGES: dict[Kind, tuple[int, int]] = {
    Kind.CITIZEN_RESIDENT: (0, 85),
    Kind.CITIZEN_EMIGRANT: (18, 60),
    Kind.CITIZEN_RETURNING: (20, 75),
    Kind.VISITOR: (1, 80),
    Kind.STUDENT: (17, 32),
    Kind.WORKER: (20, 58),
    Kind.FAMILY: (0, 65),
    Kind.PROTECTION: (0, 65),
    Kind.OVERSTAYER: (18, 50),
    Kind.FOREIGN_RESIDENT: (5, 75),
    Kind.FOREIGN_LEAVER: (20, 70),
}

# Age ranges of the realistic mix: labour migrants are younger than the legacy range (median about 31
# instead of 35, 86 % aged 20-40 instead of 70 %; see docs/synthetic-data.md).
REALISTIC_KIND_AGES: dict[Kind, tuple[int, int]] = {**KIND_AGES, Kind.WORKER: (19, 50)}

# Share of men per kind (the rest are women, apart from a very small share of sex X).
KIND_MALE_SHARE: dict[Kind, float] = {
    Kind.CITIZEN_RESIDENT: 0.49,
    Kind.CITIZEN_EMIGRANT: 0.52,
    Kind.CITIZEN_RETURNING: 0.5,
    Kind.VISITOR: 0.52,
    Kind.STUDENT: 0.53,
    Kind.WORKER: 0.64,
    Kind.FAMILY: 0.38,
    Kind.PROTECTION: 0.62,
    Kind.OVERSTAYER: 0.6,
    Kind.FOREIGN_RESIDENT: 0.5,
    Kind.FOREIGN_LEAVER: 0.55,
}

# Kinds that are statistically resident at the start of the window, whatever their arrival date.
RESIDENT_AT_START = frozenset(
    {Kind.CITIZEN_RESIDENT, Kind.CITIZEN_EMIGRANT, Kind.FOREIGN_RESIDENT, Kind.FOREIGN_LEAVER}
)
