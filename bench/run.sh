#!/bin/sh
# Runs the rampart vs nginx (and optionally stdlib, caddy) comparison; arguments go to benchrun
# (e.g. ./bench/run.sh -targets rampart,nginx,caddy,stdlib -rounds 3 -out BENCHMARKS.md). See bench/README.md.
set -eu
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
# The report names the command as it was typed.
export BENCHRUN_ARGV0="${BENCHRUN_ARGV0:-./bench/run.sh}"
exec go run ./bench/cmd/benchrun "$@"
