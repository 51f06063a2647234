"""Data-quality gates: checks on the data as a whole (volumes, shares, completeness) that hold a night whose
landing partitions look wrong before anything is linked or published. `volume` — statistically sound bands for
daily volumes per feed (:mod:`pipeline.quality.volume`)."""
