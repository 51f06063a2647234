"""Disclosure control for published tables: noise, rounding and suppression applied to counts before release.

Modules:
    ptable: perturbation tables for the cell key method (bounded, zero-mean noise per original count).
    cellkey: record keys, cell keys computed in DuckDB, and perturbation of counts by their cell key.
    rounding: unbiased random rounding to a base (3 by default), with draws derived from cell keys.
    suppression: primary and secondary suppression of tables tied by additive relations, and the intruder's LP
        that audits a suppression pattern.
    dp: differential privacy: OpenDP's discrete Laplace noise on counts, and exact budget accounting per
        purpose and period.
    errors: ``DisclosureError``, the base of this package's errors.
"""
