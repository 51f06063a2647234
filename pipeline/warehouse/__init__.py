"""The warehouse: the DuckDB connection, the schema registry and its migrations, and re-keying.

* :mod:`pipeline.warehouse.connection`: opening the warehouse (read-write with migrations, or read-only),
  transactions, the key check;
* :mod:`pipeline.warehouse.schema`: the migration runner over every package's declared tables;
* :mod:`pipeline.warehouse.tables`: the tables the pipeline owns;
* :mod:`pipeline.warehouse.rekey`: re-deriving every pseudonym under a new key version.
"""
