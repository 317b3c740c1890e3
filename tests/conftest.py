"""Test-suite wide fixtures: the emulators and an isolated Airflow home come from cosmos_remote's own plugin."""

from __future__ import annotations

pytest_plugins = ["cosmos_remote.testing.pytest_plugin"]
