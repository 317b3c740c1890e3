"""Benchmarks of cosmos_remote; each module has a ``main()`` that prints a table and writes results/<name>.json."""
