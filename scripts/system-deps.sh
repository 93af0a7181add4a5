#!/bin/sh
# Debian packages reelforge uses at run or test time, installed only when missing:
#   fonts-noto-cjk   default font for text overlays (Latin and CJK); without it text falls back to
#                    DejaVu/Pillow's font and CJK characters may show as boxes.
#   redis-server     the render farm's broker and job board; the farm tests start a private one.
#   chromium         the headless browser the studio's tests drive (Playwright, pointed at /usr/bin/chromium;
#                    `playwright install` and its downloaded browsers are not needed).
# FFmpeg itself comes from the imageio-ffmpeg wheel; nothing else is needed from the system.
set -u
# On macOS the system's own fonts serve (PingFang for CJK) and Homebrew has Redis.
if [ "$(uname -s)" = Darwin ]; then
  command -v redis-server >/dev/null 2>&1 || echo "system-deps: no redis-server; for the farm tests: brew install redis" >&2
  [ -e /usr/bin/chromium ] || echo "system-deps: no /usr/bin/chromium; the studio's browser tests will skip" >&2
  exit 0
fi
missing=""
[ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing="$missing fonts-noto-cjk"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -e /usr/bin/chromium ] || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: no apt-get here; please install:$missing" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "system-deps: not root and no sudo here; as root, run: apt-get install$missing" >&2
    exit 0
  fi
  SUDO="sudo"
fi
echo "system-deps: installing$missing" >&2
# One package at a time, so that one that cannot be had (a mirror without chromium, say) does not keep the
# others out; the package lists are refreshed once, at the first package that needs them.
updated=""
for package in $missing; do
  $SUDO apt-get install -y -q "$package" >/dev/null 2>&1 && continue
  if [ -z "$updated" ]; then
    updated=yes
    $SUDO apt-get update -q >/dev/null 2>&1
    $SUDO apt-get install -y -q "$package" >/dev/null 2>&1 && continue
  fi
  echo "system-deps: could not install $package; continuing without it" >&2
done
exit 0
