"""The ``migralink`` command line: runs, keys and status (:mod:`pipeline.cli.main`), quarantine and retention
(:mod:`pipeline.cli.ops`), linkage and histories commands (:mod:`pipeline.cli.linkage`), shared options
(:mod:`pipeline.cli.common`). Thin wrappers over the library functions the DAGs call too."""
