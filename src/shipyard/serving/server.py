"""``shipyard serve``: bind the socket, start the workers, stop them gracefully.

One worker runs in this process. Several workers are separate processes that
share the listening socket; this process supervises them: SIGTERM or Ctrl-C is
passed on, each worker finishes its in-flight requests and flushes its prediction
log, and a worker that dies is started again. Every worker pins its native thread
pools (OpenMP, BLAS) to ``threads`` so that workers do not fight over the cores.

Workers are forked, not spawned: the supervisor pins the thread pools, imports
what a worker imports (NumPy, scikit-learn, the model format's package, uvicorn and
the serving modules) once, freezes those objects out of the garbage collector
(:func:`gc.freeze`, so that no collection in a worker writes to their pages) and
forks. The workers share those pages copy-on-write instead of each importing them
again: a worker starts in the time it takes to load its models, and costs the
memory it writes to. What must not cross a fork is kept out of the supervisor: it
runs no thread, holds no database connection (``shipyard serve``'s check of the
targets closes its own before the fork), and a forked worker puts the default signal handlers back before
anything else.

A server of one worker serves in this process, and starts the same way without the
fork: the collector off while it reads the project and imports what a worker imports,
then what that made frozen and the collector on again. It serves with the project ``shipyard serve`` opened (the
project file read and the database's schema checked once, not once per step).

This module imports only the standard library at the top: thread limits are set
before NumPy is imported.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import importlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.config import ProjectConfig, ServerConfig
    from shipyard.project import Project

    from .worker import Role

logger = logging.getLogger(__name__)

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
TargetMap = Mapping[str, str | Sequence[str]]
"""{model: alias or version number, or several of them (``serve m@4 m@3``)}."""
GRACEFUL_SECONDS = 30
SWITCH_INTERVAL_S = 0.0005


def bind(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """The listening socket, with TCP_NODELAY (accepted connections inherit it).

    ``listen=False``: bound (the port is ours) but not listening yet, so a connection is
    refused at once; uvicorn listens on it when a worker's startup is done (its models
    loaded). ``shipyard serve`` binds so: a load balancer sees a starting replica refuse
    and sends the request to another one, instead of parking it in the socket's backlog
    until the models are in.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        from shipyard.errors import ShipyardError

        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            hint = "--host must be an address of this machine (127.0.0.1, 0.0.0.0, ::1) or its name"
        else:
            hint = "pick another --port, or stop what is using this one"
        raise ShipyardError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint=hint
        ) from None
    if listen:
        sock.listen(2048)
    sock.set_inheritable(True)
    return sock


_pinned: int | None = None
"""The thread count this process pinned its pools to by :func:`preload` (a forked worker
inherits the pools and this with them)."""


def pin_threads(threads: int) -> None:
    """Limit native thread pools (before NumPy loads; threadpoolctl for anything already loaded)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:  # pragma: no cover - comes with scikit-learn
        pass


def run_worker(
    project_dir: str,
    targets: TargetMap,
    sock: socket.socket,
    *,
    threads: int,
    log_level: int,
    metrics_dir: str | None,
    worker: str | None = None,
    role: Role = "lone",
    project: Project | None = None,
    config: ProjectConfig | None = None,
) -> None:
    """Serve on ``sock`` until SIGTERM/SIGINT (the body of every worker).

    ``role``: ``lone`` for a server of one worker, else ``primary`` for the first worker
    of the pool (it runs background monitoring) and ``secondary`` for the others.
    ``project``: the project to serve, already open (a lone worker serves the one its
    command opened, stores and all); else ``config``, the project file already parsed (a
    forked worker's, from its supervisor); else the project file in ``project_dir`` is read.
    """
    if _pinned != threads:  # preload() pinned them, and loaded every library a worker needs
        pin_threads(threads)
    # The event loop and the model's thread share the GIL: with the default 5 ms switch
    # interval a busy loop keeps the model waiting up to 5 ms at each of its GIL
    # hand-overs, and a 50 ms budget melts; 0.5 ms keeps the model's calls short.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=log_level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
        )
    import asyncio

    import uvicorn

    from shipyard.project import Project, open_project

    from .app import ServingApp
    from .exposure import is_loopback
    from .metrics import SharedMetrics

    worker = worker or os.urandom(6).hex()
    # lazy: the database is first queried by the worker's start, which waits for it
    if project is None and config is not None:
        project = Project(Path(project_dir), config, lazy_stores=True)
    elif project is None:
        project = open_project(Path(project_dir), lazy_stores=True)
    shared = SharedMetrics(Path(metrics_dir) if metrics_dir else None, worker)
    app = ServingApp(project, targets, worker=worker, role=role, shared=shared)
    app.cross_site.local = is_loopback(str(sock.getsockname()[0]))
    from .connections import ConnectionGuard, descriptor_limit, limits_for, protocol_class

    # time limits per connection state and a cap that leaves the worker its own files
    limits = limits_for(app.settings, descriptor_limit())
    guard = ConnectionGuard(limits, app.metrics)
    uvicorn_config = uvicorn.Config(
        app,
        loop="uvloop" if _has("uvloop") else "asyncio",
        http=protocol_class(guard, "httptools" if _has("httptools") else "h11"),
        ws="none",
        lifespan="on",
        access_log=False,
        log_level=max(log_level, logging.WARNING),
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        timeout_keep_alive=limits.keep_alive_s,  # type: ignore[arg-type]  # a float works
        backlog=limits.backlog,
        server_header=False,
    )
    server = _Server(uvicorn_config, app)
    try:
        if uvicorn_config.loop == "asyncio":
            asyncio.run(server.serve(sockets=[sock]))
        else:
            _run_uvloop(server, sock)
    finally:
        project.close()


QUIET_S = 0.5


def _server_class() -> Any:
    import contextlib
    import threading

    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn's server with a drain before the stop, and a clean exit after it.

        On the first SIGTERM/SIGINT the app stops being ready (``/readyz`` 503, so a
        load balancer takes it out) but keeps accepting and answering until no
        request has come for ``QUIET_S`` seconds (at most ``server.drain_s``);
        only then does uvicorn close the socket and finish what is in flight. A
        second signal stops at once. uvicorn would raise the signal again after
        its shutdown (a death "by signal"); a drained stop exits 0 instead.
        """

        app_state: Any = None

        def handle_exit(self, sig: int, frame: Any) -> None:
            app = self.app_state
            if app is None or app.shutting_down or self.should_exit:
                super().handle_exit(sig, frame)
                return
            app.begin_drain()
            threading.Thread(target=self._drain_then_exit, args=(sig, frame), daemon=True).start()

        def _drain_then_exit(self, sig: int, frame: Any) -> None:
            app = self.app_state
            deadline = time.monotonic() + app.settings.drain_s
            while time.monotonic() < deadline and time.monotonic() - app.last_request < QUIET_S:
                time.sleep(0.05)
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return GracefulServer


def _Server(config: Any, app: Any) -> Any:
    server = _server_class()(config)
    server.app_state = app
    return server


def _run_uvloop(server: Any, sock: socket.socket) -> None:
    import uvloop

    uvloop.run(server.serve(sockets=[sock]))


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def serve(
    project_dir: Path,
    targets: TargetMap,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    threads: int = 1,
    log_level: int = logging.WARNING,
    on_listen: Callable[[str], None] | None = None,
    public: bool = False,
    project: Project | None = None,
) -> None:
    """Serve ``targets`` ({model: alias or version, or several}) until stopped; ``on_listen``
    gets the URL.

    A ``host`` other than a loopback address needs ``server.require_token`` or, as a
    deliberate decision, ``public`` (or ``server.public``): see :mod:`.exposure`.
    ``project``: the project in ``project_dir`` already opened by the caller (``shipyard
    serve`` has read its file and reached its stores to check the targets): the server
    takes it over (and closes it) instead of reading the file and checking the database
    again — a lone worker serves with it; a pool's supervisor closes its stores before
    forking and hands its workers the parsed file.
    """
    with collector_paused():
        if project is None:
            from shipyard.project import open_project

            project = open_project(project_dir, lazy_stores=True)
        try:
            _serve(project, targets, host, port, workers, threads, log_level, on_listen, public)
        finally:
            project.close()


def _serve(
    project: Project,
    targets: TargetMap,
    host: str,
    port: int,
    workers: int,
    threads: int,
    log_level: int,
    on_listen: Callable[[str], None] | None,
    public: bool,
) -> None:
    exposed(project.root, host, public=public, settings=project.config.server)
    from .connections import raise_descriptor_limit

    raise_descriptor_limit()  # before the workers start: they inherit it
    sock = bind(host, port, listen=False)  # listens once a worker has loaded its models
    bound = sock.getsockname()[1]
    url = f"http://{host}:{bound}" if ":" not in host else f"http://[{host}]:{bound}"
    if on_listen is not None:
        on_listen(url)
    try:
        if workers == 1:
            # what a pool's supervisor does before it forks, here in the process that serves:
            # import with the collector off, then keep what was imported out of its passes
            preload(project.root, targets, threads, config=project.config)
            gc.freeze()
            gc.enable()
            run_worker(
                str(project.root),
                targets,
                sock,
                threads=threads,
                log_level=log_level,
                metrics_dir=None,
                project=project,
            )
        else:
            project.close()  # no database connection may cross the fork
            _supervise(project.root, targets, sock, workers, threads, log_level, project.config)
    finally:
        sock.close()


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The garbage collector off while a server starts, as it was again after.

    A start imports some 2,000 modules and loads its models: hundreds of thousands of
    objects, nearly all of which live as long as the process. With the collector on,
    every few hundred of them start a collection, and the oldest generation is scanned
    again each time it grows by a quarter: a start spent about a sixth of its CPU time so.
    Whoever goes on to serve in this process freezes what was made (:func:`gc.freeze`,
    out of every later pass) and turns the collector on before it serves.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def exposed(
    project_dir: Path, host: str, *, public: bool, settings: ServerConfig | None = None
) -> str | None:
    """Refuse an accidental open server (or a required token that is not set); the notice
    of what is open when it is on purpose. ``settings``: the project file's ``server``
    section, if it has been read already."""
    from .auth import Tokens
    from .exposure import check_exposure, is_loopback

    if settings is None:
        from shipyard.config import find_project_file, load_config

        settings = load_config(find_project_file(Path(project_dir))).server
    Tokens.from_environment(os.environ, required=settings.require_token)  # before "serving …"
    if is_loopback(host):
        return None
    return check_exposure(
        host,
        require_token=settings.require_token,
        public=public or settings.public,
        admin_token=bool(os.environ.get("SHIPYARD_ADMIN_TOKEN")),
    )


WORKER_MODULES = (
    "numpy",
    "sklearn.base",
    "uvicorn",
    "shipyard.project",
    "shipyard.serving.app",
    "shipyard.serving.connections",
    "shipyard.serving.exposure",
    "shipyard.serving.metrics",
)
"""What every worker imports before it serves (its models' formats come on top)."""
FORMAT_MODULES = {
    "skops": "shipyard.models.skops_io:import_skops_io",  # its trusted types from the cache
    "onnx": "onnxruntime",
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "pickle": "joblib",
}
"""The module a format's load imports (``models.<name>.format``; unset means skops), or
``module:function`` that imports it."""


def preload(
    project_dir: Path, targets: TargetMap, threads: int, *, config: ProjectConfig | None = None
) -> list[str]:
    """Import in this process what every worker imports, after pinning the thread pools;
    the modules imported (a format whose package is missing is left to the worker,
    which says what to install). ``config``: the project file, if it has been read."""
    global _pinned
    pin_threads(threads)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    if config is None:
        from shipyard.config import find_project_file, load_config

        config = load_config(find_project_file(Path(project_dir)))
    models = config.models
    wanted = list(WORKER_MODULES)
    for name in targets:
        declared = models.get(name)
        module = FORMAT_MODULES.get((declared.format if declared else None) or "skops")
        if module is not None and module not in wanted:
            wanted.append(module)
    imported = []
    for spec in wanted:
        module, _, function = spec.partition(":")
        try:
            loaded = importlib.import_module(module)
            if function:
                getattr(loaded, function)()
        except ImportError:
            continue
        imported.append(module)
    _pinned = threads  # the libraries imported now are pinned by the variables set above
    return imported


def _forked_worker(*args: Any, **kwargs: Any) -> None:
    """A forked worker: the signal handlers of a new process first (not the supervisor's),
    the garbage collector on again, then :func:`run_worker`."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    gc.enable()
    run_worker(*args, **kwargs)


FORK_AWARE_THREADS = ("jemalloc_bg_thd", "polars-ooc-clea", "fsspecIO")
"""Threads that may be running at the fork: jemalloc's background purgers (polars' and
pyarrow's allocators, started when they are imported; jemalloc's fork handlers keep
its state whole), polars' spill-file cleaner (the workers do not spill) and fsspec's
event loop for S3 (fsspec makes a new loop and new clients in a forked child)."""


def foreign_threads() -> list[str]:
    """The names of this process's other threads that are not known to be fork-aware
    (Linux; none elsewhere)."""
    try:
        tasks = [t for t in Path("/proc/self/task").iterdir() if int(t.name) != os.getpid()]
        names = [(t / "comm").read_text().strip() for t in tasks]
    except OSError:  # pragma: no cover - not Linux, or a thread that just ended
        return []
    return [name for name in names if name not in FORK_AWARE_THREADS]


def _supervise(
    project_dir: Path,
    targets: TargetMap,
    sock: socket.socket,
    workers: int,
    threads: int,
    log_level: int,
    config: ProjectConfig,
) -> None:
    gc.disable()  # no collection until the fork: freed holes would scatter over shared pages
    imported = preload(project_dir, targets, threads, config=config)
    logger.info("imported %s once for %d forked workers", ", ".join(imported), workers)
    threads_now = foreign_threads()
    if threads_now:  # a lock one of them holds at the fork stays held in the worker
        logger.warning(
            "the supervisor runs threads before forking its workers: %s", ", ".join(threads_now)
        )
    # what the workers inherit is left out of their collections: pages stay shared. No
    # collection first: it took a tenth of a second to free a few thousand objects, whose
    # holes the workers' allocations would then fill, copying shared pages
    gc.freeze()
    context = multiprocessing.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="shipyard-metrics-") as metrics_dir:

        def start(index: int) -> Any:
            process = context.Process(
                target=_forked_worker,
                args=(str(project_dir), targets, sock),
                kwargs={
                    "threads": threads,
                    "log_level": log_level,
                    "metrics_dir": metrics_dir,
                    "worker": f"w{index}-{os.urandom(4).hex()}",
                    "role": "primary" if index == 0 else "secondary",
                    "config": config,
                },
                name=f"shipyard-worker-{index}",
                daemon=False,
            )
            process.start()
            return process

        processes = [start(i) for i in range(workers)]
        stopping = False

        def stop(signum: int, _frame: Any) -> None:
            nonlocal stopping
            stopping = True
            for process in processes:
                if process.is_alive() and process.pid:
                    os.kill(process.pid, signal.SIGTERM)

        previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not stopping:
                time.sleep(0.2)
                for index, process in enumerate(processes):
                    if not process.is_alive() and not stopping:
                        logger.error(
                            "worker %d exited (code %s); starting it again", index, process.exitcode
                        )
                        # its gauges go (they were its present state); its counters stay,
                        # folded into the retired file, so totals never drop
                        for path in Path(metrics_dir).glob(f"worker-w{index}-*.json"):
                            path.unlink(missing_ok=True)
                        _retire_counters(Path(metrics_dir), f"w{index}-")
                        processes[index] = start(index)
            deadline = time.monotonic() + GRACEFUL_SECONDS + 10
            for process in processes:
                process.join(max(0.1, deadline - time.monotonic()))
                if process.is_alive():
                    logger.error("worker %s did not stop in time; killing it", process.name)
                    process.kill()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            gc.unfreeze()
            gc.enable()


def _retire_counters(folder: Path, prefix: str) -> None:
    """Fold a dead worker's counter file into the retired one (see ``metric_cells.retire``)."""
    from .metric_cells import retire

    try:
        retire(folder, prefix)
    except OSError as exc:  # its file stays and still counts: only the folder grows
        logger.error("could not fold the counters of a dead worker in %s: %s", folder, exc)
