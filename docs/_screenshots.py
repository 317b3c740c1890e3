"""Take the screenshots of docs/ui.md from a real run: `make screenshots`.

Runs the example DAG on a local Airflow cluster (scheduler, triggerer, dag-processor, api-server) against the local
GCS and BigQuery emulators, then opens the pages docs/ui.md shows in headless Chromium (Debian's ``chromium``, driven
over its DevTools protocol) and saves them as ``docs/images/ui/*.png``. Needs ``apt-get install chromium``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from cosmos_remote.testing import local_gcp
from cosmos_remote.testing.airflow_cluster import AirflowCluster, airflow_cluster
from cosmos_remote.testing.chromium import Page, chromium_path, headless_chromium

REPO: Final = Path(__file__).resolve().parents[1]
OUT: Final = REPO / "docs" / "images" / "ui"
DAG: Final = "jaffle_shop"
PRELOAD: Final = ("cosmos_remote.backends.bigquery.operators", "cosmos_remote.artifacts", "gcsfs")

#: file name -> (task id or None for the run's grid, tab, a text the page shows once it has loaded)
PAGES: Final = {
    "grid.png": (None, "", "orders_incremental"),
    "rendered-templates.png": ("orders.run", "rendered_templates", "artifact_uri"),
    "extra-links.png": ("orders.run", "details", "BigQuery Table"),
    "test-log.png": ("orders.test", "", "passed"),
    "asset-events.png": ("orders.run", "asset_events", "bigquery://"),
}


def _shoot(page: Page, cluster: AirflowCluster, run_id: str) -> None:
    for name, (task_id, tab, shown) in PAGES.items():
        page.open(cluster.ui_url(DAG, run_id, task_id, tab))
        page.wait_for_text(shown, timeout=60)
        time.sleep(1.5)  # the code view highlights and the grid draws after the text is there
        print(f"  {page.screenshot(OUT / name).relative_to(REPO)}")


def main() -> int:
    if chromium_path() is None:
        print("no Chromium: `apt-get install chromium` (Debian), then run `make screenshots` again", file=sys.stderr)
        return 2
    example = REPO / "examples" / "dags" / "jaffle_shop.py"
    with tempfile.TemporaryDirectory(prefix="cosmos-remote-screenshots-") as work, local_gcp(job_latency=3) as gcp:
        dags = Path(work) / "dags"
        dags.mkdir()
        (dags / example.name).symlink_to(example)
        gcp.create_dataset("jaffle_shop")
        env = {**gcp.env, "AIRFLOW__COSMOS_REMOTE__REMOTE_TARGET_PATH": gcp.remote_target_path}
        home = Path(work) / "airflow"
        with airflow_cluster(home=home, dags_folder=dags, parallelism=2, env=env, preload=PRELOAD) as cluster:
            run_id = cluster.trigger(DAG)
            state = cluster.wait(DAG, run_id, timeout=600)
            print(f"run {run_id}: {state}; screenshots:")
            with headless_chromium(width=1440, height=900) as page:
                _shoot(page, cluster, run_id)
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
