"""Reference implementations that tests and benchmarks check the production code against."""
