"""The night: the settings (:mod:`pipeline.nightly.settings`), the link step's bookkeeping
(:mod:`pipeline.nightly.linking`) and the step functions the CLI and the DAGs both call
(:mod:`pipeline.nightly.steps`)."""
