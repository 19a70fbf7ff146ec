"""gunicorn settings: `gunicorn -c gunicorn.conf.py` from the repository root starts the service.

Every value comes from inference/settings.py (the environment, docs/operations.md). Workers load the model
themselves after the fork (preload_app off): the master never holds an onnxruntime session or CUDA.
"""
import os
import shutil
import sys
import tempfile

from app.boot import check_before_fork, check_port_free, warn_if_open
from inference.settings import Settings

try:
    settings = Settings.from_env()
except ValueError as exc:
    sys.exit(f"invalid setting: {exc}")

wsgi_app = "app.wsgi:app"
bind = f"[{settings.host}]:{settings.port}" if ":" in settings.host else f"{settings.host}:{settings.port}"
workers = settings.web_concurrency
# Threads per worker for connections, not for compute (THREADS_PER_WORKER sets onnxruntime's):
# keep-alive and slow uploads do not hold a whole worker, and /healthz answers beside a long batch.
# More requests/s than the sync worker under concurrent clients (benchmarks/README.md).
# gthread, with errors gunicorn answers itself (bad Content-Length, headers too large) as JSON and
# listeners closed at once on SIGTERM (app/worker.py).
worker_class = "app.worker.JsonErrorWorker"
threads = 4
# One listening socket per worker (SO_REUSEPORT; gunicorn opens it in the worker after the fork) and
# the kernel hands each new connection to one of them by a hash of its addresses. With one shared
# socket the gthread workers race to accept: the one awake first takes a burst of connections
# whole, keep-alive binds each connection to its worker for life, and the other worker idles
# (benchmarks/README.md). The kernel would also let a second server share the port this way, so
# on_starting refuses to start when something already listens there (app/boot.py).
reuse_port = True
preload_app = False
control_socket_disable = True  # no shared ~/.gunicorn socket: several instances may run side by side
# A request stops at REQUEST_TIMEOUT_S (503), so a worker's heartbeat timeout and the drain on SIGTERM
# only need a margin above it: in-flight requests complete within graceful_timeout.
timeout = int(max(30, settings.request_timeout_s + 20))
graceful_timeout = int(settings.request_timeout_s + 10)
keepalive = 5  # above the proxy's upstream keepalive_timeout (4 s, docker/nginx/nginx.conf.template)
# tmpfs when there is one, for files rewritten often: the heartbeat (a container's overlay disk can
# stall it into false worker timeouts) and the workers' metrics, rewritten after requests.
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None
worker_tmp_dir = SHM
# One access line per request, with its request id and latency, from gunicorn (app/worker.py);
# logconfig_dict below sends it, as `gunicorn.access`, to the same handler as every other line.
logger_class = "app.worker.AccessLogger"
errorlog = "-"
loglevel = settings.log_level
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain",
                            "stream": "ext://sys.stderr"}},
    # One handler on the root: gunicorn's lines (access lines included) and the app's look alike.
    "root": {"level": settings.log_level.upper(), "handlers": ["stderr"]},
    "loggers": {name: {"level": settings.log_level.upper(), "handlers": [], "propagate": True}
                for name in ("gunicorn.error", "gunicorn.access")},
}


def on_starting(server):
    """Before forking: refuse a port in use or a missing or mismatched model with one line, warn
    when no API key guards a port open beyond this machine, and give the workers a fresh folder
    for their metrics."""
    check_port_free(server.cfg.address, server.log)
    check_before_fork(settings, server.log)
    warn_if_open(settings, server.cfg.address, server.log)
    # prometheus_client picks its multiprocess mode when first imported: the workers, which import
    # it after the fork, see this variable. The master must not import it before this line.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fmnist-metrics-", dir=SHM)


def child_exit(server, worker):
    """A dead worker's counters stay in its files (counters never go backwards); only its live
    gauges, if any, are dropped."""
    from prometheus_client import multiprocess  # after on_starting set the folder

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    shutil.rmtree(os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""), ignore_errors=True)
