"""A farm worker's Prometheus metrics, served on its own small HTTP port (``REELFORGE_WORKER_METRICS_PORT``,
default 9464; 0: none) at ``/metrics``.

Renders by outcome and their duration are counted as the worker ends each one; the GPUs' utilisation,
memory and NVENC sessions are read from NVML when Prometheus scrapes (nothing about GPUs is exported
on a host without NVML). Each worker has its own registry, never the global one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.encode.gpu import GpuDiscovery

log = logging.getLogger("reelforge.worker")
DURATION_BUCKETS: Final = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600)


def gpu_utilisation(nvml_index: int) -> int | None:
    """NVML's GPU utilisation in percent for one device, or None when NVML cannot say."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(nvml_index)
            return int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        finally:
            pynvml.nvmlShutdown()
    except Exception:       # no NVML, no driver, or a device that does not report it
        return None


class _Gpus(Collector):
    """GPU gauges read at scrape time from ``discover`` (engine.encode.gpu.discover_gpus as the worker calls it)."""

    def __init__(self, worker: str, discover: Callable[[], GpuDiscovery],
                 utilisation: Callable[[int], int | None] = gpu_utilisation) -> None:
        self.worker, self.discover, self.utilisation = worker, discover, utilisation

    def collect(self) -> Iterator[Metric]:
        try:
            gpus = self.discover().gpus
        except Exception as exc:
            log.warning("metrics: could not read the GPUs: %s", exc)
            return
        if not gpus:
            return
        labels = ["worker", "gpu", "uuid", "name"]
        util = GaugeMetricFamily("reelforge_gpu_utilisation_percent", "GPU utilisation (NVML)", labels=labels)
        used = GaugeMetricFamily("reelforge_gpu_memory_used_bytes", "GPU memory in use (NVML)", labels=labels)
        total = GaugeMetricFamily("reelforge_gpu_memory_total_bytes", "GPU memory (NVML)", labels=labels)
        sessions = GaugeMetricFamily("reelforge_gpu_nvenc_sessions", "NVENC encode sessions running (NVML)",
                                     labels=labels)
        for gpu in gpus:
            values = [self.worker, str(gpu.nvml_index), gpu.uuid, gpu.name]
            if (percent := self.utilisation(gpu.nvml_index)) is not None:
                util.add_metric(values, percent)
            used.add_metric(values, gpu.memory_used_mb * 1024 * 1024)
            total.add_metric(values, gpu.memory_total_mb * 1024 * 1024)
            sessions.add_metric(values, gpu.nvenc_sessions)
        yield from (util, used, total, sessions)


class WorkerMetrics:
    def __init__(self, worker: str, discover: Callable[[], GpuDiscovery] | None = None,
                 utilisation: Callable[[int], int | None] = gpu_utilisation) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.worker = worker
        self.renders = Counter("reelforge_worker_renders", "renders this worker ended, by outcome (completed, "
                               "failed, cancelled, died, chunked, skipped)", ["worker", "outcome"],
                               registry=self.registry)
        self.duration = Histogram("reelforge_worker_render_duration_seconds", "how long this worker rendered a job",
                                  ["worker", "outcome"], buckets=DURATION_BUCKETS, registry=self.registry)
        if discover is not None:
            self.registry.register(_Gpus(worker, discover, utilisation))
        self._server: Any = None

    def rendered(self, outcome: str, seconds: float | None = None) -> None:
        self.renders.labels(self.worker, outcome).inc()
        if seconds is not None:
            self.duration.labels(self.worker, outcome).observe(max(0.0, seconds))

    def serve(self, port: int, addr: str = "0.0.0.0") -> int | None:
        """Serve /metrics on ``port`` (0: not at all); the port it listens on, or None."""
        if not port:
            return None
        self._server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
