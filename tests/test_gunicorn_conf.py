"""gunicorn.conf.py's metrics folder, in a fresh interpreter as gunicorn's master runs it: the
master must not import prometheus_client before on_starting sets PROMETHEUS_MULTIPROC_DIR, or the
workers it forks inherit the single-process mode and /metrics reads nothing. The real gunicorn runs
in tests/integration/test_serve_gunicorn.py; this is the fast check of the order."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

MASTER = """
import json, os, runpy, sys
conf = runpy.run_path("gunicorn.conf.py")
imported_early = "prometheus_client" in sys.modules

class Config:  # no address: nothing to probe or warn about
    address = []


class Arbiter:  # on_starting only logs through it when the model is missing
    log = None
    cfg = Config

conf["on_starting"](Arbiter())
folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
from prometheus_client import values
multiprocess = values.ValueClass is not values.MutexValue
exists = os.path.isdir(folder)
conf["on_exit"](Arbiter())
print(json.dumps({"imported_early": imported_early, "folder": folder, "exists": exists,
                  "multiprocess": multiprocess, "removed": not os.path.exists(folder)}))
"""


def test_master_sets_the_folder_before_prometheus_client_is_imported(trained_model_dir):
    env = {k: v for k, v in os.environ.items() if k.upper() != "PROMETHEUS_MULTIPROC_DIR"}
    out = subprocess.run([sys.executable, "-c", MASTER], cwd=ROOT, env={**env, "MODEL_DIR": str(trained_model_dir)},
                         capture_output=True, text=True, check=True, timeout=60).stdout
    found = json.loads(out.splitlines()[-1])
    assert found["imported_early"] is False
    assert found["exists"] and found["multiprocess"] and found["removed"]
    if os.path.isdir("/dev/shm"):
        assert found["folder"].startswith("/dev/shm/")
