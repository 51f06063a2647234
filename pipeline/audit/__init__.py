"""The privacy log from the pipeline: the signing key, run entries and tree heads (:mod:`pipeline.audit.trail`),
the commands behind `migralink audit` and the auditor's HTML view (:mod:`pipeline.audit.report`)."""
