"""Ingest: the landing contract, partition discovery, validation, quarantine, loading and retention of landing files.

* :mod:`pipeline.ingest.contract` and ``contract.json``: the columns and types each source delivers;
* :mod:`pipeline.ingest.landing`: finding tonight's partitions and reading their files;
* :mod:`pipeline.ingest.validate` (with :mod:`pipeline.ingest.countries`): row checks against the contract;
* :mod:`pipeline.ingest.load`: pseudonymize and store accepted rows, seal the identities, quarantine the rest;
* :mod:`pipeline.ingest.quarantine`: listing, replaying and discarding quarantined rows;
* :mod:`pipeline.ingest.retention`: archiving and purging processed landing files.
"""
