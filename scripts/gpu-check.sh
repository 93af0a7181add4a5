#!/usr/bin/env bash
# The GPU check: on a GPU host, print nvidia-smi and `reelforge encoders --json`, then render the
# timeline benchmark's real-footage draft (MP4) and a 10 s 1080p clip (GIF) on the CPU path and on
# every GPU path the host allows, with wall time, core-seconds, SSIM against the CPU path and each
# render's encoder/decoder provenance. One JSON file: $OUT/gpu-check.json (default ./gpu-check-out).
# What it runs and what the JSON holds: docs/farm.md, "The GPU check"; the Python: benchmarks/gpu_check.py.
#
#   scripts/gpu-check.sh [--tiny] [--budget-s 420] [--draft-seconds 30] [--draft-size 1920x1080]
#                        [--clip-seconds 10] [--skip draft|gif] [--work DIR]
#   scripts/gpu-check.sh --prepare [FFMPEG]   (where pip reaches PyPI: put what a bare host lacks in .whl/)
#
# Python: $PYTHON, else .venv/bin/python, else python3. Where the engine's packages are missing (a bare GPU
# host with no registry), they are installed from .whl/ (made by --prepare) into a folder under /tmp;
# .whl/ffmpeg.tar.xz, when present, is the FFmpeg to use unless REELFORGE_FFMPEG_PATH is already set.
# Exit status: 0 with the JSON written, also when a GPU path fails (the failure is in the JSON); non-zero
# only when the check itself breaks.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
WHEELS=.whl

if [[ "${1:-}" == "--prepare" ]]; then
  # Run where pip reaches PyPI: puts in .whl/ what a bare GPU host lacks, for CPython 3.12 on x86-64 (the device
  # image's python3): the engine's packages its image does not have, and an FFmpeg as ffmpeg.tar.xz (bin/ffmpeg
  # and the shared libraries it links beyond glibc, found through an rpath of $ORIGIN/../lib). FFMPEG (the
  # second argument) defaults to the wheel's, which is too big to carry (48 MB compressed, and PyAV's wheel
  # 36 MB, over the device tool's 64 MiB): pass a build like the GPU image's (docs/farm.md, "The GPU check").
  ffmpeg_exe="${2:-$("$PYTHON" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')}"
  rm -rf "$WHEELS" && mkdir -p "$WHEELS"
  plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
  # the versions this environment has (the ones the tests ran with)
  mapfile -t pins < <("$PYTHON" - <<'PY'
from importlib.metadata import version
for name in ("av", "pydantic", "pydantic-core", "pydantic-settings", "python-dotenv", "annotated-types",
             "typing-inspection", "typing-extensions", "ffmpeg-python", "future"):
    print(f"{name}=={version(name)}")
PY
  )
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${plat[@]}" -d "$WHEELS" "${pins[@]}"
  # imageio-ffmpeg without its binary (a wheel built from its source release): it finds the carried FFmpeg
  # through IMAGEIO_FFMPEG_EXE
  "$PYTHON" -m pip wheel -q --no-deps --no-binary :all: -w "$WHEELS" \
    "imageio-ffmpeg==$("$PYTHON" -c 'from importlib.metadata import version; print(version("imageio-ffmpeg"))')"
  pack=$(mktemp -d) && mkdir -p "$pack/ffmpeg/bin" "$pack/ffmpeg/lib"
  cp "$ffmpeg_exe" "$pack/ffmpeg/bin/ffmpeg"
  ldd "$ffmpeg_exe" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' |
    grep -Ev '/(libc|libm|libmvec|libpthread|libdl|librt|libresolv|libgcc_s|libstdc\+\+|libz|ld-linux[^/]*)\.so' |
    xargs -r cp -L -t "$pack/ffmpeg/lib"
  if compgen -G "$pack/ffmpeg/lib/*" >/dev/null; then
    patchelf --force-rpath --set-rpath '$ORIGIN/../lib' "$pack/ffmpeg/bin/ffmpeg"
  fi
  tar -C "$pack" -cf - ffmpeg | xz -T0 -9 >"$WHEELS/ffmpeg.tar.xz"
  rm -rf "$pack"
  ls -la "$WHEELS" && du -sh "$WHEELS"
  exit 0
fi

if ! "$PYTHON" -c "import av, pydantic_settings, ffmpeg, imageio_ffmpeg, PIL, numpy" 2>/dev/null; then
  if compgen -G "$WHEELS/*.whl" >/dev/null; then
    site=/tmp/gpu-check-site
    echo "gpu-check: installing the engine's missing packages from $WHEELS into $site"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
      "$WHEELS"/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "gpu-check: $PYTHON lacks the engine's packages and there is no $WHEELS/ (scripts/gpu-check.sh --prepare)" >&2
  fi
fi
if [[ -f "$WHEELS/ffmpeg.tar.xz" && -z "${REELFORGE_FFMPEG_PATH:-}" ]]; then
  rm -rf /tmp/gpu-check-ffmpeg && mkdir -p /tmp/gpu-check-ffmpeg
  tar -C /tmp/gpu-check-ffmpeg -xJf "$WHEELS/ffmpeg.tar.xz"
  export REELFORGE_FFMPEG_PATH=/tmp/gpu-check-ffmpeg/ffmpeg/bin/ffmpeg
fi
if [[ -n "${REELFORGE_FFMPEG_PATH:-}" ]]; then
  export IMAGEIO_FFMPEG_EXE="${IMAGEIO_FFMPEG_EXE:-$REELFORGE_FFMPEG_PATH}"   # the benchmark helpers' FFmpeg too
fi

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$PYTHON" -m benchmarks.gpu_check --out "${OUT:-./gpu-check-out}" "$@"
