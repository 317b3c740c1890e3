"""Factory operators: ``DbtRunAirflowAsyncFactoryOperator(...)`` builds the operator of the profile's warehouse.

The returned task is an instance of **both** the factory class and the backend's concrete operator (for BigQuery,
the provider's ``BigQueryInsertJobOperator``), so ``isinstance`` checks, the UI and extra links see a real provider
operator. Each backend's class is an ordinary subclass defined once in its module (e.g.
``class DbtRunBigQueryOperator(DbtRunAirflowAsyncFactoryOperator, _BigQueryDbtJobOperator)``); the factory only picks
it in ``__new__``. No class is created or mutated at run time.

Example:
    >>> op = DbtRunAirflowAsyncFactoryOperator(task_id="stg_orders.run", node=node, profile_config=profile,
    ...                                        artifacts=artifacts)  # doctest: +SKIP
    >>> isinstance(op, BigQueryInsertJobOperator)  # doctest: +SKIP
    True
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseOperator

from cosmos_remote.backends.contract import OperatorRole
from cosmos_remote.backends.registry import get_backend
from cosmos_remote.config import ProfileConfig

__all__ = [
    "DbtRunAirflowAsyncFactoryOperator",
    "DbtRunHooksAirflowAsyncFactoryOperator",
    "DbtTestAirflowAsyncFactoryOperator",
]


class _AsyncFactory(BaseOperator):
    """Picks the concrete operator class for ``profile_config``'s adapter type when the factory itself is called."""

    _role: ClassVar[OperatorRole]

    def __new__(cls, *args: Any, profile_config: ProfileConfig | None = None, **kwargs: Any) -> Any:
        if "_role" not in cls.__dict__:
            return super().__new__(cls)
        if profile_config is None:
            raise TypeError(f"{cls.__name__} needs profile_config= to choose the warehouse operator")
        concrete = get_backend(profile_config.adapter_type).load_operator(cls._role)
        if not (isinstance(concrete, type) and issubclass(concrete, cls)):
            raise TypeError(
                f"the {cls._role!r} operator {concrete!r} of backend {profile_config.adapter_type!r} must subclass "
                f"{cls.__name__}"
            )
        return super().__new__(concrete)


class DbtRunAirflowAsyncFactoryOperator(_AsyncFactory):
    """Runs one dbt model, snapshot or seed as a deferrable warehouse job; the class depends on the profile type."""

    _role = "run"


class DbtTestAirflowAsyncFactoryOperator(_AsyncFactory):
    """Runs dbt tests as a deferrable warehouse job; the class depends on the profile type."""

    _role = "test"


class DbtRunHooksAirflowAsyncFactoryOperator(_AsyncFactory):
    """Runs a run-level script (``on-run-start`` / ``on-run-end`` hooks) as one deferrable warehouse job."""

    _role = "hooks"
