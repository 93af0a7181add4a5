"""What an operator sees of a running reelforge: JSON log lines, the access log, Prometheus metrics at /metrics
(the API) and on a worker's own port, and /ready, on real server and worker processes."""

from __future__ import annotations

import io
import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine import logs
from tests.apiserver import RedisServer, Server, Worker, free_port


def log_lines(server: Server) -> list[dict]:
    """The server's JSON log lines (its one start-up print is plain text), every one of which must parse."""
    text = (server.data_dir.parent / f"{server.data_dir.name}-server.log").read_text()
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def samples(base: str) -> dict[tuple[str, frozenset], float]:
    """The /metrics exposition as {(sample name, labels): value}, parsed by prometheus_client's own parser."""
    response = httpx.get(base + "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(found: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    """The sum over the samples of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls)


def until(predicate, timeout_s: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"REELFORGE_LOG_FORMAT": "json", "REELFORGE_LOCAL_WORKERS": "1"}
    with Server(tmp_path_factory.mktemp("observe") / "data", env=env) as running:
        yield running


def test_a_render_is_logged_as_json_lines_carrying_its_job_and_counted(server: Server, clients, media) -> None:
    client = clients(server.base).connect()
    [clip] = client.upload(media.pattern)["data"]["files"]
    draft = {"m": {"width": 160, "height": 90}, "t": [{"tt": 0, "sg": [{"src": clip["url"], "d": 1000}]}]}
    done = client.wait(client.export(draft, {"format": "mp4"})["id"])
    assert done["status"] == "completed", done

    with sqlite3.connect(server.data_dir / "reelforge.db") as db:
        [(job_id,)] = db.execute("SELECT id FROM jobs WHERE render_id = ?", (done["id"],)).fetchall()
    lines = log_lines(server)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    about = [line for line in lines if line.get("job_id") == job_id]
    assert {line["logger"] for line in about} >= {"reelforge.jobs"}
    assert any("render started" in line["message"] for line in about)
    assert any("render completed" in line["message"] for line in about)
    assert all(line["worker"] == "local" and line["attempt"] == 1 and line["render_id"] == done["id"]
               for line in about)

    found = samples(server.base)
    assert value(found, "reelforge_renders_completed_total", format="mp4") == 1
    assert value(found, "reelforge_renders_started_total", format="mp4") == 1
    assert value(found, "reelforge_render_duration_seconds_count", format="mp4") == 1
    assert value(found, "reelforge_queue_wait_seconds_count", format="mp4") == 1
    assert value(found, "reelforge_render_realtime_factor_count", format="mp4") == 1
    assert value(found, "reelforge_upload_bytes_total") >= media.pattern.stat().st_size
    assert value(found, "reelforge_queue_depth", queue="local") == 0
    assert value(found, "reelforge_live_workers") == 1
    assert value(found, "reelforge_http_requests_total", method="POST", status="200") >= 3

    chat = client.chat("make it 2 seconds long")
    assert chat.status == 200 and chat.events
    assert value(samples(server.base), "reelforge_chat_turns_total") == 1


def test_the_access_log_has_one_line_per_request_without_its_query(server: Server) -> None:
    marker = f"/health?probe={time.monotonic_ns()}&token=secret-value"
    for _ in range(3):
        assert httpx.get(server.base + marker).status_code == 200
    assert httpx.get(server.base + "/no-such-route").status_code == 404
    time.sleep(0.3)
    lines = [line for line in log_lines(server) if line["logger"] == "reelforge.access"]
    health = [line for line in lines if line["path"] == "/health"]
    assert len(health) >= 3 and all("secret-value" not in json.dumps(line) for line in lines)
    last = health[-1]
    assert last["method"] == "GET" and last["status"] == 200 and last["client"] == "127.0.0.1"
    assert isinstance(last["duration_ms"], float)
    assert [line["status"] for line in lines if line["path"] == "/no-such-route"] == [404]
    found = samples(server.base)
    assert value(found, "reelforge_http_requests_total", route="unmatched", status="404") == 1


def test_refusals_are_counted_by_limit(tmp_path: Path) -> None:
    env = {"REELFORGE_TOKEN_REQUESTS_PER_MINUTE": "1"}
    with Server(tmp_path / "data", env=env) as limited:
        answers = [httpx.post(limited.base + "/api/auth/anonymous-token", headers={"X-Client-Id": f"c{n}"}).status_code
                   for n in range(3)]
        assert 429 in answers
        found = samples(limited.base)
        assert value(found, "reelforge_refusals_total", limit="token_requests_per_minute") == answers.count(429)


def test_ready_names_the_check_that_fails(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Server(data) as running:
        ok = httpx.get(running.base + "/ready")
        assert ok.status_code == 200 and ok.json()["data"]["failed"] == []
        holder = sqlite3.connect(data / "reelforge.db", timeout=1, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")         # another process holds the database: no write can start
        try:
            locked = httpx.get(running.base + "/ready", timeout=10)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert locked.status_code == 503
        body = locked.json()
        assert body["data"]["failed"] == ["sqlite"] and "sqlite" in body["message"]
        assert "locked" in body["data"]["checks"]["sqlite"]["detail"]
        assert httpx.get(running.base + "/health").status_code == 200          # alive all the same
        assert httpx.get(running.base + "/ready").status_code == 200

    free_mb = shutil.disk_usage(tmp_path).free / 1e6
    with Server(data, env={"REELFORGE_READY_MIN_FREE_MB": str(int(free_mb * 10))}) as short:
        full = httpx.get(short.base + "/ready")
        assert full.status_code == 503 and full.json()["data"]["failed"] == ["disk"]
        assert "REELFORGE_READY_MIN_FREE_MB" in full.json()["data"]["checks"]["disk"]["detail"]


def test_json_lines_carry_the_job_context_and_text_lines_show_it() -> None:
    stream = io.StringIO()
    config = logs.config_dict("json")
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        with logs.job_context(job_id="job_1", worker="w1", attempt=2):
            logging.getLogger("reelforge.test").info("rendering %s", "it")
        logging.getLogger("reelforge.test").info("outside")
        logging.getLogger("some.library").info("not shown")
        inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
        assert inside["message"] == "rendering it" and inside["level"] == "INFO"
        assert (inside["job_id"], inside["worker"], inside["attempt"]) == ("job_1", "w1", 2)
        assert "job_id" not in outside

        text = logs.TextFormatter().format(logging.makeLogRecord({"name": "reelforge.x", "msg": "m",
                                                                  "levelname": "INFO", "job_id": "job_2"}))
        assert text.endswith("reelforge.x: m [job_id=job_2]")
        with pytest.raises(ValueError, match="log format"):
            logs.config_dict("xml")
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False,
                                   "loggers": {"reelforge": {"level": "NOTSET", "propagate": True}}})


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs Debian's redis-server")
def test_a_farm_worker_serves_its_metrics_and_the_farm_api_is_ready_with_it(tmp_path: Path, clients,
                                                                             media) -> None:
    (tmp_path / "redis").mkdir()
    with RedisServer(tmp_path / "redis") as redis_server:
        port = free_port()
        env = {"REELFORGE_REDIS_URL": redis_server.url, "REELFORGE_DATA_DIR": str(tmp_path / "data"),
               "REELFORGE_WORKER_METRICS_PORT": str(port), "REELFORGE_LOG_FORMAT": "json"}
        (tmp_path / "data").mkdir()
        with Server(tmp_path / "data", env=env) as api:
            waiting = httpx.get(api.base + "/ready")
            assert waiting.status_code == 503 and waiting.json()["data"]["failed"] == ["workers"]
            worker = Worker("obs-w1", env, tmp_path / "worker.log").start()
            try:
                assert until(lambda: _get(f"http://127.0.0.1:{port}/metrics"), 60)
                assert until(lambda: httpx.get(api.base + "/ready").status_code == 200, 30)
                found = samples(api.base)
                assert value(found, "reelforge_live_workers") == 1
                assert {dict(labels)["queue"] for (name, labels) in found if name == "reelforge_queue_depth"} == {
                    "pending", "cpu", "gpu"}

                client = clients(api.base).connect()
                [clip] = client.upload(media.pattern)["data"]["files"]
                draft = {"m": {"width": 160, "height": 90}, "t": [{"tt": 0, "sg": [{"src": clip["url"], "d": 1000}]}]}
                done = client.wait(client.export(draft, {"format": "mp4"})["id"])
                assert done["status"] == "completed", done
                on_worker = samples(f"http://127.0.0.1:{port}")
                assert value(on_worker, "reelforge_worker_renders_total", worker="obs-w1", outcome="completed") == 1
                assert value(on_worker, "reelforge_worker_render_duration_seconds_count", outcome="completed") == 1
                found = samples(api.base)
                assert value(found, "reelforge_renders_completed_total", format="mp4", encoder="libx264") == 1
                assert value(found, "reelforge_render_duration_seconds_count", format="mp4") == 1
            finally:
                worker.stop()
        with sqlite3.connect(tmp_path / "data" / "reelforge.db") as db:
            [(job_id,)] = db.execute("SELECT id FROM jobs WHERE render_id = ?", (done["id"],)).fetchall()
        lines = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines()
                 if line.startswith("{")]
        assert any(line["logger"] == "reelforge.worker" and line.get("worker") == "obs-w1"
                   and f":{port}/metrics" in line["message"] for line in lines)
        about = [line for line in lines if line.get("job_id") == job_id]
        assert any("render started" in line["message"] for line in about)
        assert all(line["worker"] == "obs-w1" and line["attempt"] == 1 for line in about)
        settled = [line for line in log_lines(api) if line.get("job_id") == job_id and "completed" in line["message"]]
        assert settled and settled[-1]["worker"] == "obs-w1" and settled[-1]["attempt"] == 1


def _get(url: str) -> httpx.Response | None:
    try:
        response = httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return None
    return response if response.status_code == 200 else None


# --- the deployment's monitoring files ----------------------------------------------------------------------

def exported_names() -> set[str]:
    """Every sample name the API and a GPU worker export (GPU readings faked: no NVML on the test machines)."""
    from api.metrics import ApiMetrics
    from engine.encode.gpu import GpuDiscovery, GpuInfo
    from workers.metrics import WorkerMetrics

    api = ApiMetrics()
    api.watch(lambda: ({"pending": 0}, 1))
    api.render_started("mp4", "libx264", 0.5)
    api.refused("exports_per_minute")
    api.requests.labels("/health", "GET", "200").inc()
    gpu = GpuInfo(nvml_index=0, name="NVIDIA L4", uuid="GPU-1", memory_total_mb=23034, memory_used_mb=512,
                  nvenc=True, nvenc_sessions=2, nvenc_note="")
    worker = WorkerMetrics("w1", lambda: GpuDiscovery((gpu,), ""), utilisation=lambda _index: 37)
    worker.rendered("completed", 3.0)
    row = type("Row", (), {"status": "completed", "format": "mp4", "result": {"encoder": "libx264",
                                                                              "duration_s": 2, "elapsed_s": 1},
                           "error": None, "started_ms": 1000, "completed_ms": 2000})()
    api.render_settled(row)
    row.status, row.error = "failed", "cancelled"
    api.render_settled(row)
    return {s.name for registry in (api.registry, worker.registry) for family in registry.collect()
            for s in family.samples}


def test_a_gpu_worker_exports_nvml_readings_per_gpu() -> None:
    from engine.encode.gpu import GpuDiscovery, GpuInfo
    from workers.metrics import WorkerMetrics

    gpu = GpuInfo(nvml_index=1, name="NVIDIA L4", uuid="GPU-abc", memory_total_mb=1000, memory_used_mb=250,
                  nvenc=True, nvenc_sessions=3, nvenc_note="")
    metrics = WorkerMetrics("w1", lambda: GpuDiscovery((gpu,), ""), utilisation=lambda index: 40 + index)
    port = metrics.serve(free_port(), addr="127.0.0.1")
    try:
        found = samples(f"http://127.0.0.1:{port}")
    finally:
        metrics.close()
    labels = {"worker": "w1", "gpu": "1", "uuid": "GPU-abc"}
    assert value(found, "reelforge_gpu_utilisation_percent", **labels) == 41
    assert value(found, "reelforge_gpu_memory_used_bytes", **labels) == 250 * 1024 * 1024
    assert value(found, "reelforge_gpu_nvenc_sessions", **labels) == 3
    cpu_only = WorkerMetrics("w2", lambda: GpuDiscovery((), "pynvml not installed"))
    assert not [f for f in cpu_only.registry.collect() if f.name.startswith("reelforge_gpu")]


def test_the_dashboard_and_prometheus_read_what_reelforge_exports() -> None:
    import re

    import yaml

    from tests.test_docker import COMPOSE, DOCKER, load_compose
    from workers.settings import WorkerSettings

    names = exported_names()
    dashboard = json.loads((DOCKER / "grafana-dashboard.json").read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"\breelforge_\w+", target["expr"])}
    assert queried and queried <= names, sorted(queried - names)
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("renders per minute", "duration", "queue depth", "live workers", "gpu utilisation"):
        assert topic in titles, topic

    scrape = yaml.safe_load((DOCKER / "prometheus.yml").read_text())["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    assert jobs["reelforge-api"]["static_configs"][0]["targets"] == ["api:8000"]
    workers = jobs["reelforge-workers"]["dns_sd_configs"][0]
    assert set(workers["names"]) == {"worker-cpu", "worker-gpu"}
    assert workers["port"] == WorkerSettings.model_fields["worker_metrics_port"].default
    prometheus = load_compose(COMPOSE)["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]


def test_ffmpeg_s_last_stderr_lines_are_logged_when_it_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import imageio_ffmpeg

    from engine.errors import FFmpegFailed
    from engine.run import FFmpegCommand, run_ffmpeg

    command = FFmpegCommand(("-f", "lavfi", "-i", "color=c=red:s=64x64:d=0.2"),
                            ("-vf", "no_such_filter_here", str(tmp_path / "out.mp4")))
    with caplog.at_level(logging.WARNING, logger="reelforge.ffmpeg"), pytest.raises(FFmpegFailed) as failed:
        run_ffmpeg(command, ffmpeg=imageio_ffmpeg.get_ffmpeg_exe(), work_dir=tmp_path, timeout_s=30)
    [record] = [r for r in caplog.records if r.name == "reelforge.ffmpeg"]
    assert "no_such_filter_here" in record.getMessage() and record.returncode == failed.value.returncode
