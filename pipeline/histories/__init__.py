"""Histories: the 12/16-month rule (:mod:`pipeline.histories.rule`) and the per-person migration histories built
with it from the linked warehouse (:mod:`pipeline.histories.build`)."""
