#!/bin/sh
# From a fresh checkout to a running server in one command (README's first), on Debian 12, Ubuntu 24.04 and
# other Linux and macOS: Debian's and Ubuntu's python3 refuse `pip install` (PEP 668), so reelforge goes into
# a virtual environment of its own, .venv in the repository, made here or reused.
#
#   sh scripts/serve.sh [SERVE OPTIONS]          set up, then `reelforge serve SERVE OPTIONS` (--host, --port, ...)
#   sh scripts/serve.sh --check                  set up, then check that `reelforge --help` runs, and stop
#   sh scripts/serve.sh --test [PYTEST OPTIONS]  set up with the test extras, run scripts/system-deps.sh, then
#                                                pytest (scripts/test.sh; README's second command, CI's)
#   Before those: --venv DIR   the virtual environment (default: .venv in the repository)
#                 --python EXE the Python that makes it (default: python3; it must be 3.11 or newer)
#
# Set-up: `python3 -m venv` (when it fails, as on Debian and Ubuntu without python3-venv, python3.X-venv is
# installed with apt-get, through sudo when not root), then `pip install -e .` with the versions CI tests
# (constraints.txt). A later run whose pyproject.toml and constraints.txt are unchanged installs nothing and
# starts at once; the install is editable, so edits to the code need no reinstall either.
set -u

say() { echo "serve.sh: $*" >&2; }
die() { say "$*"; exit 1; }

case "$0" in */*) here=${0%/*} ;; *) here=. ;; esac
ROOT=$(cd "$here/.." && pwd) || exit 1
VENV=$ROOT/.venv
PY=python3
MODE=serve
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) [ $# -ge 2 ] || die "--venv needs a directory"; VENV=$2; shift 2 ;;
    --venv=*) VENV=${1#--venv=}; shift ;;
    --python) [ $# -ge 2 ] || die "--python needs an interpreter"; PY=$2; shift 2 ;;
    --python=*) PY=${1#--python=}; shift ;;
    --check) MODE=check; shift ;;
    --test) MODE=test; shift; break ;;     # the rest goes to pytest
    *) break ;;                            # the rest goes to `reelforge serve`
  esac
done
case "$VENV" in /*) ;; *) VENV=$(pwd)/$VENV ;; esac

# --- a Python that reelforge runs on -------------------------------------------------------------------------
if ! command -v "$PY" >/dev/null 2>&1; then
  die "no $PY found. reelforge needs Python 3.11 or newer with its venv module: on Debian or Ubuntu
  sudo apt-get install python3 python3-venv
on macOS  brew install python@3.12  (or the installer from python.org); then run this again,
or name an interpreter with: sh scripts/serve.sh --python /path/to/python3.12"
fi
version=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) \
  || die "$PY does not run (\"$PY -c 'import sys'\" failed); name another with --python"
major=${version%%.*}
minor=${version#*.}
if [ "$major" -lt 3 ] || { [ "$major" -eq 3 ] && [ "$minor" -lt 11 ]; }; then
  die "$PY is Python $version; reelforge needs 3.11 or newer. Install one (Ubuntu 22.04: sudo apt-get install
python3.11 python3.11-venv; macOS: brew install python@3.12) and run: sh scripts/serve.sh --python python3.11"
fi

# --- the virtual environment --------------------------------------------------------------------------------
venv_works() { "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }

remove_broken_venv() {
  # Only a directory that venv made (it writes pyvenv.cfg first) is ever removed.
  if [ -e "$VENV" ]; then
    [ -f "$VENV/pyvenv.cfg" ] || die "$VENV exists and is not a virtual environment; move it away or use --venv DIR"
    rm -rf "$VENV"
  fi
}

install_venv_package() {
  # Debian and Ubuntu ship venv's pip bootstrap (ensurepip) apart: python3.11-venv on Debian 12, python3.12-venv
  # on Ubuntu 24.04 (python3-venv pulls in the default one). Like scripts/system-deps.sh: apt-get, sudo if not root.
  pkg=python$version-venv
  command -v apt-get >/dev/null 2>&1 \
    || die "\"$PY -m venv\" failed and there is no apt-get here; install Python's venv module for $PY and run this again"
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "\"$PY -m venv\" failed; as root, run: apt-get install $pkg; then run this again"
    sudo=sudo
  fi
  say "\"$PY -m venv\" failed: installing $pkg with ${sudo:+sudo }apt-get"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$pkg" >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q >/dev/null 2>&1 \
      && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$pkg" >/dev/null
  } || {
    pkg=python3-venv
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$pkg" >/dev/null
  } || die "could not install python$version-venv (nor python3-venv) with apt-get; install Python's venv module for $PY and run this again"
}

if ! venv_works; then
  remove_broken_venv
  say "creating the virtual environment $VENV (Python $version)"
  if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
    remove_broken_venv
    install_venv_package
    "$PY" -m venv "$VENV" || { remove_broken_venv; die "\"$PY -m venv $VENV\" failed (above)"; }
  fi
  venv_works || die "the virtual environment $VENV has no pip; remove it and run this again"
fi

# --- reelforge in it ----------------------------------------------------------------------------------------
# The stamp records what was installed: a hash of pyproject.toml and constraints.txt, and whether with the test
# extras. A serve or a check is happy with either install; a test run needs the extras.
extras=""
[ "$MODE" = test ] && extras="[test]"
constraints=""
[ -f "$ROOT/constraints.txt" ] && constraints=$ROOT/constraints.txt
stamp=$VENV/.reelforge-install
want=$("$VENV/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(b"".join(
    open(n, "rb").read() for n in sys.argv[1:] if n)).hexdigest())' "$ROOT/pyproject.toml" "$constraints") || die "cannot read $ROOT/pyproject.toml"
have=$(cat "$stamp" 2>/dev/null || true)
if [ "$have" = "$want $extras" ] || { [ -z "$extras" ] && [ "$have" = "$want [test]" ]; } \
   && [ -x "$VENV/bin/reelforge" ]; then
  :
else
  say "installing reelforge$extras into $VENV (pip install -e, versions from constraints.txt)"
  rm -f "$stamp"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check ${constraints:+-c "$constraints"} \
      -e "$ROOT$extras" || die "pip install failed (above); fix that and run this again"
  echo "$want $extras" > "$stamp"
  say "done; the commands are in $VENV/bin (reelforge, python), or run: . ${VENV#"$(pwd)/"}/bin/activate"
fi

export VIRTUAL_ENV="$VENV"
PATH=$VENV/bin:$PATH
export PATH
case "$MODE" in
  check)
    "$VENV/bin/reelforge" --help >/dev/null || die "$VENV/bin/reelforge --help failed (above)"
    say "ready: $VENV/bin/reelforge ($("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])'))"
    ;;
  test)
    sh "$ROOT/scripts/system-deps.sh"
    cd "$ROOT" || exit 1
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  serve)
    exec "$VENV/bin/reelforge" serve "$@"
    ;;
esac
