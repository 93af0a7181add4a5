#!/bin/sh
# README's second command and CI's: the virtual environment of scripts/serve.sh (.venv, made or reused) with the
# test extras, the Debian packages of scripts/system-deps.sh, then pytest with any options given here.
case "$0" in */*) here=${0%/*} ;; *) here=. ;; esac
exec sh "$here/serve.sh" --test "$@"
