"""Name concentration of a simulated population, computed on the true person attributes.

Linkage is hard where distinct people look alike: the same family name, given names, birth year, sex and
nationality leave only the full date of birth and the document number to tell them apart. These figures
say how much of that a population has, overall and per naming tradition, so that a generated population
can be compared with national name statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

LOOKALIKE_KEY = ("family_name", "given_names", "birth_year", "sex", "nationality")


@dataclass(frozen=True)
class TraditionConcentration:
    """Name concentration among the persons of one naming tradition.

    Attributes:
        persons: Persons of the tradition.
        top_family: Commonest family name.
        top_family_share: Share of the persons carrying it.
        top3_family_share: Share carrying one of the three commonest family names.
        top_name: Commonest whole name (family name and given names).
        top_name_share: Share of the persons carrying it.
        lookalike_share: Share of the persons in a look-alike group (see `Concentration`).
        largest_group: Size of the largest look-alike group of the tradition.
    """

    persons: int
    top_family: str
    top_family_share: float
    top3_family_share: float
    top_name: str
    top_name_share: float
    lookalike_share: float
    largest_group: int

    def as_dict(self) -> dict[str, object]:
        """JSON-ready figures without the names themselves."""
        return {
            "persons": self.persons,
            "top_family_share": round(self.top_family_share, 4),
            "top3_family_share": round(self.top3_family_share, 4),
            "top_name_share": round(self.top_name_share, 4),
            "lookalike_share": round(self.lookalike_share, 4),
            "largest_group": self.largest_group,
        }


@dataclass(frozen=True)
class Concentration:
    """Look-alike groups of a population: persons sharing family name, given names, birth year, sex and
    nationality with at least one other person.

    Attributes:
        persons: Persons counted.
        lookalike_persons: Persons in a look-alike group.
        groups: Number of look-alike groups.
        largest_group: Size of the largest group (0 when there is none).
        largest_key: Family name, given names, birth year, sex and nationality of the largest group; for
            developer output only, never logged by the pipeline.
        traditions: Figures per naming tradition.
    """

    persons: int
    lookalike_persons: int
    groups: int
    largest_group: int
    largest_key: tuple[object, ...] = ()
    traditions: dict[str, TraditionConcentration] = field(default_factory=dict)

    @property
    def lookalike_share(self) -> float:
        """Share of the persons in a look-alike group."""
        return self.lookalike_persons / self.persons if self.persons else 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready figures; names are left out (see `largest_key`)."""
        return {
            "persons": self.persons,
            "lookalike_persons": self.lookalike_persons,
            "lookalike_share": round(self.lookalike_share, 4),
            "groups": self.groups,
            "largest_group": self.largest_group,
            "traditions": {key: t.as_dict() for key, t in self.traditions.items()},
        }


def _tradition(frame: pd.DataFrame, group_size: pd.Series) -> TraditionConcentration:
    family = frame["family_name"].value_counts(normalize=True, sort=True)
    whole = (frame["family_name"] + " " + frame["given_names"]).value_counts(normalize=True, sort=True)
    return TraditionConcentration(
        persons=len(frame),
        top_family=str(family.index[0]),
        top_family_share=float(family.iloc[0]),
        top3_family_share=float(family.iloc[:3].sum()),
        top_name=str(whole.index[0]),
        top_name_share=float(whole.iloc[0]),
        lookalike_share=float((group_size > 1).mean()),
        largest_group=int(group_size.max()) if (group_size > 1).any() else 0,
    )


def name_concentration(persons: pd.DataFrame) -> Concentration:
    """Look-alike groups and top-name coverage of a table of true person attributes.

    Args:
        persons: One row per person with the columns ``family_name``, ``given_names``, ``birth_year``,
            ``sex``, ``nationality`` and ``tradition`` (any comparable values).

    Returns:
        The figures of the whole table and of each tradition (in sorted order).
    """
    if persons.empty:
        return Concentration(0, 0, 0, 0)
    codes = pd.DataFrame({name: pd.factorize(persons[name], sort=True)[0] for name in LOOKALIKE_KEY})
    key = list(LOOKALIKE_KEY)
    group_size = codes.groupby(key, sort=False)[key[0]].transform("size").set_axis(persons.index)
    sizes = codes.groupby(key, sort=True).size()
    shared = sizes[sizes > 1]
    largest_key: tuple[object, ...] = ()
    if len(shared):
        first = group_size.to_numpy() == shared.max()
        rows = persons.loc[first, key].sort_values(key)  # the smallest key among the largest groups
        largest_key = tuple(rows.iloc[0])
    traditions = {
        str(key_): _tradition(frame, group_size.loc[frame.index])
        for key_, frame in persons.groupby("tradition", sort=True)
    }
    return Concentration(
        persons=len(persons),
        lookalike_persons=int(shared.sum()),
        groups=len(shared),
        largest_group=int(shared.max()) if len(shared) else 0,
        largest_key=largest_key,
        traditions=traditions,
    )
