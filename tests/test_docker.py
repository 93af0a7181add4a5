"""The render farm's deployment files in docker/: the compose files, both Dockerfiles and their ignore files.

No Docker engine runs on the development machines, so nothing here builds an image or starts a container.
The files are read as data and checked against what the code expects of them: the commands the CLI knows,
the settings each process reads (api/settings.py, workers/settings.py), the packages pyproject.toml installs,
and the farm's own rules (one media volume at the same path everywhere, Redis that survives a restart,
workers that finish or give back their render when stopped, one GPU per GPU worker).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
GPUS_OVERRIDE = DOCKER / "docker-compose.gpus.yml"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

APP_SERVICES = ("api", "worker-cpu", "worker-gpu")
WORKERS = ("worker-cpu", "worker-gpu")
IMAGE_OF = {"api": "docker/Dockerfile", "worker-cpu": "docker/Dockerfile", "worker-gpu": "docker/Dockerfile.gpu"}
# The farm's commands (api: serve; workers: worker; their health check: farm --ping).
FARM_COMMANDS = {"serve", "worker", "farm"}
# Environment a Dockerfile may set besides REELFORGE_*: Python, pip, apt and the NVIDIA container toolkit.
IMAGE_ENV = {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK",
             "DEBIAN_FRONTEND", "LANG", "LC_ALL", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES",
             "NVIDIA_DISABLE_REQUIRE"}
# python3 of each Ubuntu release a CUDA image is built on.
UBUNTU_PYTHON = {"20.04": "3.8", "22.04": "3.10", "24.04": "3.12"}


# --- compose -------------------------------------------------------------------------------------------------

class _ComposeLoader(yaml.SafeLoader):
    """YAML as Compose reads it: merge keys (`<<`) as in SafeLoader, and Compose's `!override`/`!reset` tags."""


def _untagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


for _tag in ("!override", "!reset"):
    _ComposeLoader.add_constructor(_tag, _untagged)


def load_compose(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_ComposeLoader)      # a SafeLoader: no arbitrary objects


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return load_compose(COMPOSE)["services"]


def environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Named volume or host path -> container path, for the short and the long syntax."""
    out = {}
    for v in service.get("volumes", []):
        source, target = (v.split(":")[:2]) if isinstance(v, str) else (v.get("source"), v["target"])
        out[source] = target
    return out


def duration_s(text: str) -> float:
    """A Compose duration ("10m", "1m30s", "90s") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(text))
    assert parts and "".join(n + u for n, u in parts) == str(text), f"not a Compose duration: {text!r}"
    return sum(float(n) * units[u] for n, u in parts)


# --- Dockerfiles ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse_dockerfile(path: Path) -> list[Instruction]:
    """Instructions with continuation lines joined; comment lines (also inside a continuation) dropped."""
    out: list[Instruction] = []
    pending, start = "", 0
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not pending:
            start = number
        pending += " " + line[:-1] if line.endswith("\\") else " " + line
        if not line.endswith("\\"):
            keyword, _, args = pending.strip().partition(" ")
            out.append(Instruction(keyword.upper(), " ".join(args.split()), start))
            pending = ""
    assert not pending, f"{path.name}: a continuation runs off the end"
    return out


@dataclass(frozen=True)
class Image:
    """One stage of a Dockerfile: the ARGs declared before the first FROM, then that stage's instructions."""

    path: Path
    instructions: list[Instruction]
    stages: dict[str, Image] = field(default_factory=dict)   # on the final stage: every stage by name

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def index(self, keyword: str, pattern: str = "") -> int:
        found = [n for n, i in enumerate(self.instructions) if i.keyword == keyword and re.search(pattern, i.args)]
        assert found, f"{self.path.name}: no {keyword} matching {pattern!r}"
        return found[0]

    def args(self) -> dict[str, str]:
        """ARG defaults, the global ones and this stage's."""
        out: dict[str, str] = {}
        for i in self.all("ARG"):
            if "=" in i.args:
                name, value = i.args.split("=", 1)
                out[name] = value.strip("\"'")
        return out

    def base(self) -> str:
        """The stage's FROM image with the ARG defaults declared before it substituted."""
        args: dict[str, str] = {}
        for i in self.instructions:
            if i.keyword == "ARG" and "=" in i.args:
                name, value = i.args.split("=", 1)
                args[name] = value.strip("\"'")
            if i.keyword == "FROM":
                image = i.args.split()[0]
                return re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], image)
        raise AssertionError(f"{self.path.name}: no FROM")

    def env(self) -> dict[str, str]:
        out = {}
        for i in self.all("ENV"):
            for word in shlex.split(i.args):
                name, _, value = word.partition("=")
                out[name] = value
        return out

    def cmd(self) -> list[str]:
        cmds = self.all("CMD")
        assert cmds, f"{self.path.name}: no CMD"
        return json.loads(cmds[-1].args)          # exec form, so the process gets SIGTERM itself

    def runs(self) -> str:
        return "\n".join(i.args for i in self.all("RUN"))

    def copied(self) -> list[str]:
        """What the stage copies from the build context (not `COPY --from=<stage>`)."""
        return [src for i in self.all("COPY") if not re.search(r"--from=", i.args)
                for src in i.args.split()[:-1] if not src.startswith("--")]

    def copies_from(self, stage: str) -> list[tuple[str, str]]:
        """(source, destination) of each `COPY --from=<stage> source destination`."""
        out = []
        for i in self.all("COPY"):
            words = i.args.split()
            if f"--from={stage}" in words:
                paths = [w for w in words if not w.startswith("--")]
                out += [(src, paths[-1]) for src in paths[:-1]]
        return out


def load_image(path: Path) -> Image:
    """The final stage of a Dockerfile (what runs), with every stage by name (`FROM x AS name`, else its number)."""
    every = parse_dockerfile(path)
    starts = [n for n, i in enumerate(every) if i.keyword == "FROM"]
    assert starts, f"{path.name}: no FROM"
    head = every[:starts[0]]
    assert all(i.keyword == "ARG" for i in head), f"{path.name}: only ARG may come before the first FROM"
    stages: dict[str, Image] = {}
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(every)
        words = every[start].args.split()
        name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(number)
        stages[name] = Image(path, head + every[start:end])
    final = list(stages.values())[-1]
    return Image(path, final.instructions, stages)


@pytest.fixture(scope="module")
def images() -> dict[str, Image]:
    return {name: load_image(DOCKER / name) for name in ("Dockerfile", "Dockerfile.gpu")}


# --- the reelforge command -----------------------------------------------------------------------------------

def reelforge_commands() -> dict[str, argparse.ArgumentParser]:
    from engine.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def check_reelforge_argv(argv: list[str]) -> None:
    """argv runs one of the farm's reelforge commands, with arguments its parser accepts."""
    assert argv[0] == "reelforge" and argv[1] in FARM_COMMANDS, f"not a farm command: {argv}"
    known = reelforge_commands()
    assert argv[1] in known, f"`reelforge {argv[1]}` is not registered (entry points: pip install -e .)"
    try:
        known[argv[1]].parse_args(argv[2:])
    except SystemExit:                       # argparse exits on an argument it does not know
        pytest.fail(f"reelforge {argv[1]} does not accept {argv[2:]}")


def app_argvs(services: dict[str, Any], images: dict[str, Image]) -> Iterator[tuple[str, list[str]]]:
    for name in APP_SERVICES:
        service = services[name]
        yield f"{name} command", service.get("command") or images[Path(IMAGE_OF[name]).name].cmd()
        test = service["healthcheck"]["test"]
        if test[1] == "reelforge":
            yield f"{name} healthcheck", test[1:]
    for file, image in images.items():
        yield f"{file} CMD", image.cmd()


# --- tests: compose ------------------------------------------------------------------------------------------

def test_the_farm_has_an_api_redis_and_cpu_and_gpu_workers(services: dict[str, Any]) -> None:
    assert set(services) - {"prometheus"} == {"api", "redis", "worker-cpu", "worker-gpu"}
    assert services["prometheus"]["profiles"] == ["monitoring"]    # the default stack is unchanged
    assert services["redis"]["image"].split(":")[0] == "redis" and services["redis"]["image"] != "redis"  # pinned


def test_services_build_from_the_repository_root_with_existing_dockerfiles(services: dict[str, Any]) -> None:
    for name, dockerfile in IMAGE_OF.items():
        build = services[name]["build"]
        assert (COMPOSE.parent / build["context"]).resolve() == ROOT, name
        assert build["dockerfile"] == dockerfile and (ROOT / dockerfile).is_file(), name
    # One tag per Dockerfile: two Dockerfiles building the same tag would overwrite each other's image.
    tags: dict[str, set[str]] = {}
    for name, dockerfile in IMAGE_OF.items():
        tags.setdefault(services[name]["image"], set()).add(dockerfile)
    assert all(len(files) == 1 for files in tags.values()), tags


def test_one_media_volume_at_the_same_path_in_the_api_and_every_worker(
        services: dict[str, Any], images: dict[str, Image]) -> None:
    compose = load_compose(COMPOSE)
    paths = {}
    for name in APP_SERVICES:
        target = mounts(services[name]).get("media")
        assert target, f"{name} does not mount the media volume"
        data_dir = environment(services[name]).get("REELFORGE_DATA_DIR") or \
            images[Path(IMAGE_OF[name]).name].env().get("REELFORGE_DATA_DIR")
        assert data_dir == target, f"{name}: REELFORGE_DATA_DIR {data_dir!r} is not where media is mounted ({target})"
        paths[name] = target
    assert len(set(paths.values())) == 1, f"one path for the media everywhere: {paths}"
    assert "media" in compose["volumes"]
    assert "media" not in mounts(services["redis"])
    for image in images.values():            # the image declares and owns that path (a new volume copies its owner)
        assert image.env()["REELFORGE_DATA_DIR"] == paths["api"]
        assert json.loads(image.all("VOLUME")[-1].args) == [paths["api"]]


def test_redis_keeps_its_data_across_restarts(services: dict[str, Any]) -> None:
    redis = services["redis"]
    command = redis["command"]
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    volume = next((s for s, t in mounts(redis).items() if t == "/data"), None)   # the redis image's working dir
    assert volume and volume in load_compose(COMPOSE)["volumes"], "redis /data must be a named volume"
    assert "ports" not in redis, "redis has no password: keep it off the host's network"


def test_api_and_workers_share_one_redis_and_wait_for_it_to_be_healthy(services: dict[str, Any]) -> None:
    urls = {environment(services[name])["REELFORGE_REDIS_URL"] for name in APP_SERVICES}
    assert len(urls) == 1, urls
    url = urlparse(urls.pop())
    assert url.scheme == "redis" and url.hostname == "redis" and (url.port or 6379) == 6379
    for name in APP_SERVICES:
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name


def test_every_service_has_a_health_check_that_can_run_in_its_image(
        services: dict[str, Any], images: dict[str, Image]) -> None:
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", f"{name}: exec form, no shell needed"
    assert services["redis"]["healthcheck"]["test"][1:] == ["redis-cli", "ping"]
    api = services["api"]["healthcheck"]["test"][1:]
    program = api[0]
    assert program in {"python", "python3"} or program in images["Dockerfile"].runs(), f"{program} not in the image"
    port = str(environment(services["api"]).get("REELFORGE_PORT", "8000"))
    assert re.search(rf"https?://(127\.0\.0\.1|localhost):{port}/(health|ready)\b", " ".join(api)), api
    assert any(p.split(":")[-1] == port for p in services["api"]["ports"])
    assert port in images["Dockerfile"].all("EXPOSE")[0].args.split()
    for name in WORKERS:
        assert services[name]["healthcheck"]["test"][1:] == ["reelforge", "farm", "--ping"], name


def test_every_command_is_a_reelforge_farm_command(services: dict[str, Any], images: dict[str, Image]) -> None:
    argvs = dict(app_argvs(services, images))
    assert argvs["api command"][:2] == ["reelforge", "serve"]
    assert "0.0.0.0" in argvs["api command"], "serve listens on 127.0.0.1 by default: unreachable in a container"
    assert argvs["worker-cpu command"] == argvs["worker-gpu command"] == ["reelforge", "worker"]
    assert argvs["Dockerfile CMD"] == argvs["api command"] and argvs["Dockerfile.gpu CMD"] == ["reelforge", "worker"]
    for argv in argvs.values():
        assert argv[0] == "reelforge" and argv[1] in FARM_COMMANDS, argv


@pytest.mark.parametrize("which", ["api command", "worker-cpu command", "worker-cpu healthcheck", "worker-gpu command",
                                   "worker-gpu healthcheck", "Dockerfile CMD", "Dockerfile.gpu CMD"])
def test_commands_parse_with_the_reelforge_cli(which: str, services: dict[str, Any], images: dict[str, Image]) -> None:
    argvs = dict(app_argvs(services, images))
    assert which in argvs, f"{which} is not a reelforge command"
    check_reelforge_argv(argvs[which])


def settings_read_by(service: str) -> set[str]:
    """The REELFORGE_* variables the process a service runs reads: the API's settings, or a worker's."""
    from api.settings import ApiSettings
    from workers.settings import WorkerSettings

    settings = ApiSettings if service == "api" else WorkerSettings
    return {f"REELFORGE_{field.upper()}" for field in settings.model_fields}


def test_environment_names_are_settings_reelforge_reads(services: dict[str, Any], images: dict[str, Image]) -> None:
    for name in APP_SERVICES:
        unknown = set(environment(services[name])) - settings_read_by(name)
        assert not unknown, f"{name}: no setting reads {sorted(unknown)}"
    assert not set(environment(services["redis"]))
    for file, image in images.items():
        users = [name for name, dockerfile in IMAGE_OF.items() if Path(dockerfile).name == file]
        names = set(image.env())
        for user in users:       # an image's variables reach every service built from it
            assert not {n for n in names if n.startswith("REELFORGE_")} - settings_read_by(user), (file, user)
        assert not {n for n in names if not n.startswith("REELFORGE_")} - IMAGE_ENV, file


def test_the_gpu_worker_reserves_one_nvidia_gpu_under_the_gpu_profile(services: dict[str, Any]) -> None:
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert all("profiles" not in services[name] for name in ("api", "redis", "worker-cpu")), "CPU hosts start these"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["count"] == 1
    assert {"gpu", "video", "compute", "utility"} <= set(device["capabilities"])   # NVENC/NVDEC need "video"
    assert environment(gpu).get("REELFORGE_WORKER_QUEUES") in (None, "gpu")
    assert environment(services["worker-cpu"])["REELFORGE_WORKER_QUEUES"] == "cpu"
    assert "deploy" not in services["worker-cpu"]


def test_workers_get_time_to_finish_a_render_when_stopped(services: dict[str, Any]) -> None:
    for name, service in services.items():
        assert service["restart"] in {"always", "unless-stopped", "on-failure"}, name
    for name in WORKERS:
        worker = services[name]
        # Celery's warm shutdown finishes the render in hand; Docker's default 10 s would kill most renders.
        assert duration_s(worker["stop_grace_period"]) >= 120, name
        assert worker["init"] is True, f"{name}: an init reaps FFmpeg children and forwards SIGTERM"


def test_the_multi_gpu_override_pins_one_distinct_gpu_per_worker() -> None:
    override = load_compose(GPUS_OVERRIDE)["services"]
    pinned = []
    for name, service in override.items():
        assert name.startswith("worker-gpu"), name
        if name != "worker-gpu":
            assert service["extends"] == {"file": COMPOSE.name, "service": "worker-gpu"}
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert "count" not in device and len(device["device_ids"]) == 1, name
        assert {"gpu", "video", "compute", "utility"} <= set(device["capabilities"])
        pinned += device["device_ids"]
    assert len(pinned) >= 2 and len(set(pinned)) == len(pinned), pinned
    assert "devices: !override" in GPUS_OVERRIDE.read_text(), "without !override Compose appends to count: 1"


# --- tests: Dockerfiles --------------------------------------------------------------------------------------

def test_the_cpu_image_is_python_3_11_slim_serving_the_api(images: dict[str, Image]) -> None:
    image = images["Dockerfile"]
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", image.base()), image.base()
    assert image.cmd() == ["reelforge", "serve", "--host", "0.0.0.0"]
    assert image.all("EXPOSE")[0].args.split() == ["8000"]


def test_the_gpu_image_is_a_cuda_image_with_a_python_pyproject_allows(images: dict[str, Image]) -> None:
    image = images["Dockerfile.gpu"]
    found = re.fullmatch(r"nvidia/cuda:12\.\d+\.\d+-(base|runtime)-ubuntu(\d\d\.\d\d)", image.base())
    assert found, image.base()
    requires = SpecifierSet(PYPROJECT["project"]["requires-python"])
    installed = re.findall(r"\bpython(3\.\d+)\b", image.runs())       # python3.11 etc. from apt
    python = installed[0] if installed else UBUNTU_PYTHON[found.group(2)]
    assert python in requires, f"{found.group(2)}'s python {python} does not satisfy requires-python {requires}"
    assert image.cmd() == ["reelforge", "worker"]
    assert {"compute", "video", "utility"} <= set(image.env()["NVIDIA_DRIVER_CAPABILITIES"].split(","))


@pytest.mark.parametrize("file", ["Dockerfile", "Dockerfile.gpu"])
def test_images_install_the_app_with_pip_and_the_cjk_fonts(file: str, images: dict[str, Image]) -> None:
    image = images[file]
    runs = image.runs()
    assert re.search(r"\bpip install( -[-\w=]+)* \.(\s|$)", runs), "the app installs with `pip install .`"
    assert not re.search(r"pip install[^&]* (-e|--editable)\b", runs), "an image installs the app, not a link to it"
    apt = next(i.args for i in image.all("RUN") if "apt-get install" in i.args)
    assert "fonts-noto-cjk" in apt and "--no-install-recommends" in apt and "rm -rf /var/lib/apt/lists" in apt
    assert not re.search(r"apt-get install[^&]*\bffmpeg\b", runs), "FFmpeg comes from the imageio-ffmpeg wheel"


@pytest.mark.parametrize("file", ["Dockerfile", "Dockerfile.gpu"])
def test_dependencies_install_before_the_sources_are_copied(file: str, images: dict[str, Image]) -> None:
    image = images[file]
    first_copy = image.index("COPY", r"^(?!.*--from=)")       # from the build context, not another stage
    assert image.instructions[first_copy].args.split()[:-1] == ["pyproject.toml"], "the deps layer: pyproject.toml only"
    deps = image.index("RUN", r"pip install -r")
    sources = image.index("COPY", r"\bengine\b")
    app = image.index("RUN", r"pip install( -[-\w=]+)* \.(\s|$)")
    assert first_copy < deps < sources < app
    # Every package pyproject.toml installs is copied in, and the README its build reads.
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()
                and any(fnmatch.fnmatchcase(p.name, pattern) for pattern in include)}
    assert packages and packages <= set(image.copied()), sorted(packages - set(image.copied()))
    assert PYPROJECT["project"]["readme"] in image.copied()


def test_both_images_run_as_the_same_non_root_user_who_owns_the_data_dir(images: dict[str, Image]) -> None:
    users = {}
    for file, image in images.items():
        user = image.all("USER")[-1].args
        created = re.search(r"useradd\b[^&]*--uid (\d+)[^&]*", image.runs())
        group = re.search(r"groupadd\b[^&]*--gid (\d+)", image.runs())
        assert created and group, f"{file}: create the user with fixed ids"
        assert user == f"{created.group(1)}:{group.group(1)}" and created.group(1) != "0", f"{file}: USER {user}"
        data_dir = image.env()["REELFORGE_DATA_DIR"]
        assert re.search(rf"chown [\w:-]+ {re.escape(data_dir)}\b", image.runs()), f"{file}: {data_dir} not chowned"
        # Changes to a path after VOLUME declares it are discarded, and USER must come after the root-only steps.
        chown = image.index("RUN", rf"chown [\w:-]+ {re.escape(data_dir)}\b")
        assert chown < image.index("VOLUME") < image.index("USER")
        assert image.index("USER") > max(n for n, i in enumerate(image.instructions) if i.keyword == "RUN")
        users[file] = user
    assert len(set(users.values())) == 1, f"both images write the shared volume: {users}"
    assert images["Dockerfile"].copied() == images["Dockerfile.gpu"].copied(), "the same app in both images"


# The Linux driver NVENC needs, by the nv-codec-headers release (its major.minor) FFmpeg is built against:
# their README's "minimum required driver". Add a row when moving to another release, and say it in deploy.md.
NVENC_MIN_DRIVER = {"12.1": "530.41.03"}
CONFIGURE_FLAGS = {"--enable-gpl", "--enable-ffnvcodec", "--enable-nvenc", "--enable-nvdec", "--enable-cuvid",
                   "--enable-cuda-llvm", "--enable-libx264", "--enable-libdav1d", "--disable-autodetect"}
# the engine's encoders that are FFmpeg wrappers of outside libraries, and the library each needs
LIBRARY_OF_ENCODER = {"libx264": "libx264", "libvpx-vp9": "libvpx", "libvpx": "libvpx", "libopus": "libopus",
                      "libwebp_anim": "libwebp", "libwebp": "libwebp", "libmp3lame": "libmp3lame"}
# Ubuntu 24.04's runtime package for each library (the CUDA image's release)
RUNTIME_PACKAGE = {"libx264": "libx264-164", "libvpx": "libvpx9", "libopus": "libopus0", "libwebp": "libwebp7",
                   "libmp3lame": "libmp3lame0", "libdav1d": "libdav1d7"}


def configure_flags(stage: Image) -> set[str]:
    run = next(i.args for i in stage.all("RUN") if i.args.startswith("./configure"))
    return set(run.split("&&")[0].split()[1:])


def test_the_gpu_image_builds_an_ffmpeg_for_drivers_from_530_with_nvenc_nvdec_and_cuda_filters(
        images: dict[str, Image]) -> None:
    image = images["Dockerfile.gpu"]
    assert "ffmpeg" in image.stages, "a build stage `FROM ... AS ffmpeg`"
    build = image.stages["ffmpeg"]
    # the same Ubuntu release as the CUDA image, so the shared libraries it links exist in the final stage
    release = re.search(r"ubuntu(\d\d\.\d\d)$", image.base())
    assert release and build.base() == f"ubuntu:{release.group(1)}", (build.base(), image.base())
    args = build.args()
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", args["FFMPEG_VERSION"]), "a release, pinned"
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", args["NV_CODEC_HEADERS_VERSION"])
    for name in ("FFMPEG_SHA256", "NV_CODEC_HEADERS_SHA256"):
        assert re.fullmatch(r"[0-9a-f]{64}", args[name]), f"{name}: a SHA-256, not a placeholder"
    runs = build.runs()
    # release tarballs, each checked against its pinned SHA-256 before it is unpacked
    assert "https://ffmpeg.org/releases/ffmpeg-${FFMPEG_VERSION}.tar.xz" in runs
    assert "nv-codec-headers/releases/download/n${NV_CODEC_HEADERS_VERSION}/" in runs
    for tarball, sha in (("ffmpeg.tar.xz", "FFMPEG_SHA256"), ("nv-codec-headers.tar.gz", "NV_CODEC_HEADERS_SHA256")):
        check = re.search(rf'echo "\$\{{{sha}\}} +{re.escape(tarball)}" \| sha256sum -c -', runs)  # (spaces collapsed)
        unpack = re.search(rf"tar -x\w*f {re.escape(tarball)}", runs)
        assert check and unpack and check.start() < unpack.start(), tarball
    assert "clang" in next(i.args for i in build.all("RUN") if "apt-get install" in i.args), "--enable-cuda-llvm"
    flags = configure_flags(build)
    assert CONFIGURE_FLAGS <= flags, sorted(CONFIGURE_FLAGS - flags)
    assert "--prefix=/opt/ffmpeg" in flags
    assert not {"--enable-nonfree", "--enable-cuda-nvcc", "--enable-libnpp"} & flags, "a redistributable GPL build"
    # the build fails unless what the GPU paths use came out of it
    for needed in ("h264_nvenc", "scale_cuda", "hwaccels"):
        assert needed in runs, needed
    major_minor = ".".join(args["NV_CODEC_HEADERS_VERSION"].split(".")[:2])
    assert major_minor in NVENC_MIN_DRIVER, f"nv-codec-headers {major_minor}: add its minimum driver above"
    assert int(NVENC_MIN_DRIVER[major_minor].split(".")[0]) <= 535, "NVENC on the R535 branch and newer"


def test_the_built_ffmpeg_has_every_library_the_engine_encodes_with(images: dict[str, Image]) -> None:
    profiles = (ROOT / "engine" / "encode" / "profiles.py").read_text()
    used = {name for name in re.findall(r'"(lib[\w-]+)"', profiles) if name in LIBRARY_OF_ENCODER}
    assert {"libx264", "libvpx-vp9", "libopus", "libwebp_anim"} <= used, used
    image = images["Dockerfile.gpu"]
    flags = configure_flags(image.stages["ffmpeg"])
    runtime = next(i.args for i in image.all("RUN") if "apt-get install" in i.args)
    # libdav1d decodes AV1 sources: FFmpeg's own av1 decoder only drives hardware decoders
    for library in {LIBRARY_OF_ENCODER[encoder] for encoder in used} | {"libdav1d"}:
        assert f"--enable-{library}" in flags, library
        assert f"{library}-dev" in image.stages["ffmpeg"].runs(), f"{library}: its headers in the build stage"
        assert RUNTIME_PACKAGE[library] in runtime.split(), f"{library}: its shared library in the final stage"


def test_the_gpu_image_points_the_engine_at_the_built_ffmpeg(images: dict[str, Image]) -> None:
    image = images["Dockerfile.gpu"]
    assert ("/opt/ffmpeg", "/opt/ffmpeg") in image.copies_from("ffmpeg")
    assert image.env()["REELFORGE_FFMPEG_PATH"] == "/opt/ffmpeg/bin/ffmpeg"
    copy = image.index("COPY", r"--from=ffmpeg")
    smoke = image.index("RUN", r"^/opt/ffmpeg/bin/ffmpeg -hide_banner -version$")
    assert copy < smoke, "the final stage runs the binary once, so a missing shared library fails the build"
    assert images["Dockerfile"].env().get("REELFORGE_FFMPEG_PATH") is None, "the CPU image keeps the wheel's"


def test_the_deploy_doc_states_the_driver_each_image_needs(images: dict[str, Image]) -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    version = images["Dockerfile.gpu"].stages["ffmpeg"].args()["NV_CODEC_HEADERS_VERSION"]
    assert NVENC_MIN_DRIVER[".".join(version.split(".")[:2])] in doc
    assert version in doc and "610.00" in doc and "REELFORGE_FFMPEG_PATH" in doc


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore patterns leave `path` out (the last matching pattern wins; a match on a parent
    directory counts). Simpler than BuildKit's matcher, and enough for the patterns used here."""
    parents = ["/".join(path.split("/")[:n]) for n in range(1, path.count("/") + 2)]
    ignored = False
    for pattern in patterns:
        negated, pattern = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
        bare = pattern.removeprefix("**/")
        if any(fnmatch.fnmatchcase(p, pattern) or (bare != pattern and fnmatch.fnmatchcase(p.split("/")[-1], bare))
               for p in parents):
            ignored = not negated
    return ignored


@pytest.mark.parametrize("file", ["Dockerfile", "Dockerfile.gpu"])
def test_the_build_context_holds_what_the_image_copies_and_nothing_heavy(file: str, images: dict[str, Image]) -> None:
    ignore = DOCKER / f"{file}.dockerignore"        # BuildKit reads <Dockerfile>.dockerignore before the root one
    patterns = [line.strip() for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")]
    for source in images[file].copied():
        assert (ROOT / source).exists(), source
        files = [source] if (ROOT / source).is_file() else \
            [str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*.py") if "__pycache__" not in p.parts]
        assert files and not [f for f in files if dockerignored(f, patterns)], f"{source} is left out of the context"
    for heavy in (".venv/bin/python", ".git/HEAD", "reelforge-data/state.db", "tests/test_docker.py",
                  "engine/__pycache__/cli.cpython-311.pyc"):
        assert dockerignored(heavy, patterns), heavy


def test_the_deploy_doc_names_files_that_exist() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    named = set(re.findall(r"\bdocker/(?:Dockerfile[\w.]*|[\w.-]+\.yml)", doc))
    assert {"docker/docker-compose.yml", "docker/Dockerfile", "docker/Dockerfile.gpu"} <= named
    assert not [n for n in named if not (ROOT / n).exists()], named
