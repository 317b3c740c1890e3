"""Capture mode for dbt-bigquery: the code that runs inside the dbt process started by the setup task.

Everything in this subpackage imports only the standard library, dbt (dbt-core, dbt-adapters, dbt-bigquery) and
sqlglot, never ``cosmos_remote`` itself: ``cosmos_remote/dbt/_capture_main.py`` loads it by file path (it is the
BigQuery backend's ``capture_package``) with the Python of whichever environment holds dbt, which may not have
cosmos_remote installed. Modules refer to each other with relative imports only.

* :mod:`.sqlscan` -- what a statement reads and writes (sqlglot, BigQuery dialect).
* :mod:`.registry` -- the relations written earlier in the capture, and how a later read of them is answered.
* :mod:`.translate` -- BigQuery SQL for the writes dbt-bigquery does through the API (drop, rename, copy, seeds...).
* :mod:`.state` -- the per-invocation recorder shared by every dbt thread.
* :mod:`.connections` -- the capturing connection manager: every SQL statement, read or captured.
* :mod:`.adapter` -- the capturing adapter (metadata reads, API writes as SQL) and the container that registers it.
* :mod:`.stream` -- hands each finished node to the parent while dbt runs (a ``dbtRunner`` callback).
* :mod:`.invoke` -- runs ``dbtRunner`` and writes the response file the parent process reads.
"""
