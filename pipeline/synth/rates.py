"""Recording-error rates of the synthetic records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from pipeline.errors import PipelineError


class SynthError(PipelineError, ValueError):
    """Invalid generator configuration; the message says which setting to fix."""


@dataclass(frozen=True)
class ErrorRates:
    """Probabilities of recording errors, per record.

    Name and date errors are given for hand-keyed records (visa and permit applications). Border
    records are read from the machine-readable zone of the passport, so those errors happen there at
    `machine_read_factor` times the keyed rate. Conditional rates say which records they apply to.

    Attributes:
        transliteration: A name is spelled in another transliteration (MOHAMMED -> MUHAMMAD).
        name_swap: Given names and family name are swapped.
        compound_shortened: Of records whose family name has two parts, only the first is kept.
        typo: A keying error (substitution, deletion, insertion or transposition) in one name.
        given_initials: Given names are reduced to initials.
        given_dropped: Of records whose person has two given names, the second is left out.
        dob_day_month_swap: Of records whose day of birth is 12 or less and differs from the month,
            day and month are swapped.
        dob_defaulted: An unknown date of birth was keyed as 1 January of the birth year.
        dob_missing: The date of birth is empty.
        sex_missing: The sex is empty.
        nationality_missing: The nationality is empty.
        diacritics_stripped: Of keyed records whose name has diacritics, they are stripped.
        diacritics_kept_border: Of border records whose name has diacritics, they are kept (read from
            the visual zone) instead of the ICAO transliteration of the machine-readable zone.
        case_changed: The name is keyed in lower or mixed case.
        extra_spaces: A name has leading, trailing or doubled white space.
        doc_missing_border: A border record has no document number.
        doc_missing_visa: A visa record has no document number.
        doc_missing_permit: A permit record has no document number.
        doc_typo: A keyed document number has one wrong or transposed character.
        machine_read_factor: Name and date error rates on border records relative to keyed ones.
        missed_crossing: A border crossing is not recorded at all.
        second_passport: Of crossings by dual nationals, the second passport is shown.
    """

    transliteration: float = 0.025
    name_swap: float = 0.012
    compound_shortened: float = 0.2
    typo: float = 0.02
    given_initials: float = 0.008
    given_dropped: float = 0.12
    dob_day_month_swap: float = 0.012
    dob_defaulted: float = 0.004
    dob_missing: float = 0.003
    sex_missing: float = 0.004
    nationality_missing: float = 0.003
    diacritics_stripped: float = 0.3
    diacritics_kept_border: float = 0.05
    case_changed: float = 0.02
    extra_spaces: float = 0.015
    doc_missing_border: float = 0.002
    doc_missing_visa: float = 0.01
    doc_missing_permit: float = 0.15
    doc_typo: float = 0.006
    machine_read_factor: float = 0.1
    missed_crossing: float = 0.004
    second_passport: float = 0.35

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                raise SynthError(f"ErrorRates.{field.name} must be a probability in [0, 1]")

    @classmethod
    def none(cls) -> ErrorRates:
        """Rates that inject no error at all (clean records, no missed crossings)."""
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def keyed(self, name: str) -> float:
        """Rate of error `name` on hand-keyed records."""
        return float(getattr(self, name))

    def machine_read(self, name: str) -> float:
        """Rate of error `name` on border records."""
        return float(getattr(self, name)) * self.machine_read_factor

    def as_dict(self) -> dict[str, float]:
        """All rates by field name."""
        return {k: float(v) for k, v in asdict(self).items()}
