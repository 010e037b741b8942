"""The Dask cluster a run uses: a client for a scheduler address, or a local cluster in its own
temporary folder, without a dashboard, whose workers ignore SIGINT; closing both."""

from __future__ import annotations

import os

from .errors import UsageError


def require_dask() -> None:
    """Refuse --engine dask when Dask is not installed."""
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError("--engine dask needs Dask: pip install 'viber-sessions[dask]'") from None


def client_for(scheduler: str):
    import logging

    from distributed import Client

    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)

    if scheduler == "local":
        cluster = local_cluster(max(1, os.cpu_count() or 1))
        try:
            return Client(cluster), cluster
        except BaseException:              # a signal while the client connects: nothing is left behind
            cluster.close()
            raise
    return Client(scheduler), None


def local_cluster(workers: int, **kw):
    """A local cluster without a dashboard (``dashboard_address=None`` alone still starts the
    scheduler's HTTP server on port 8787, which says "Port 8787 is already in use" when another
    cluster holds it). Its files are kept in a temporary folder removed when it is closed (or at
    exit); its workers ignore SIGINT (:func:`dask_setup`): a terminal's Ctrl-C signals the whole
    process group, each worker would print a traceback, and the client shuts them down anyway."""
    import multiprocessing
    import shutil
    import tempfile
    import weakref

    import dask
    from distributed import LocalCluster

    scratch = tempfile.mkdtemp(prefix="viber-sessions-dask-")
    remove = weakref.finalize(LocalCluster, shutil.rmtree, scratch, True)   # the class lives on: at exit at the latest
    before = set(multiprocessing.active_children())
    try:
        with dask.config.set({"temporary-directory": scratch}):     # the nannies' work space too
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                                   scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                                   local_directory=scratch, preload=[__name__], **kw)
    except BaseException:        # a Ctrl-C while it starts: its worker processes end before their folder goes
        for process in set(multiprocessing.active_children()) - before:
            process.terminate()
            process.join(5)
        remove()
        raise
    closing = cluster.close
    cluster.close = lambda *a, **k: (closing(*a, **k), remove())[0]
    return cluster


def dask_setup(worker) -> None:
    """The preload of a local cluster's workers, run in each worker process's main thread as
    it starts: SIGINT is ignored there."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():        # signal.signal is refused elsewhere
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def close(own: tuple) -> None:
    """Close what :func:`client_for` started (the client, then its local cluster), with SIGINT
    and SIGTERM held until it is done: a signal that cut the closing short left the cluster to
    Dask's exit handler, which waited 10 s for it (a container stopped meanwhile would leave the
    cluster's scratch folder behind)."""
    from .entry import held

    with held():
        for thing in own:
            if thing is not None:
                thing.close()
