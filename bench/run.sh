#!/bin/sh
# Runs the rampart vs nginx (and optionally stdlib, caddy) comparison; arguments go to benchrun
# (e.g. ./bench/run.sh -duration 30s -connections 128). See bench/README.md.
set -eu
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
exec go run ./bench/cmd/benchrun "$@"
