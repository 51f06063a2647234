"""Statistics: the standard tables with their vintages (:mod:`pipeline.statistics.tables`) and their HTML report
(:mod:`pipeline.statistics.report`). The publish step will live beside them."""
