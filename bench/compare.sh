#!/usr/bin/env bash
# Compares the gateway's CPU per request at two commits, in paired rounds of
# bench/cmd/profile. Each pair runs both builds back to back, in turn old
# first and new first, so that a change in the machine's load moves both
# figures of a pair alike; the median of the pairs' differences is the
# estimate, not one lucky round. "." stands for the working tree.
#
#   bench/compare.sh [-rounds N] OLD NEW [bench/cmd/profile flags...]
#   bench/compare.sh -rounds 12 HEAD~1 . -proto h2 -connections 16 -duration 3s
#
# See bench/README.md ("Where the time goes").
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"

rounds=10
if [ "${1:-}" = -rounds ]; then
	rounds=$2
	shift 2
fi
if [ $# -lt 2 ]; then
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
old=$1 new=$2
shift 2

tmp=$(mktemp -d)
cleanup() {
	for side in old new; do
		[ -d "$tmp/$side" ] && git worktree remove --force "$tmp/$side" >/dev/null 2>&1 || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

# build SIDE REF: bench/cmd/profile as of REF ("." is the working tree).
build() {
	local dir=.
	if [ "$2" != . ]; then
		git worktree add -q --detach "$tmp/$1" "$2"
		dir=$tmp/$1
	fi
	(cd "$dir" && go build -o "$tmp/profile-$1" ./bench/cmd/profile)
	echo "$1: $2 ($(git rev-parse --short "${2/#./HEAD}")$([ "$2" = . ] && ! git diff --quiet HEAD && echo ', with uncommitted changes'))"
}
build old "$old"
build new "$new"

# measure SIDE: the gateway's CPU µs per request, whole and in user space.
measure() {
	local out
	out=$("$tmp/profile-$1" "${flags[@]}" 2>&1) || {
		echo "$out" >&2
		exit 1
	}
	sed -n 's/^gateway CPU: .*, \([0-9.]*\) µs per request (\([0-9.]*\) in user space.*/\1 \2/p' <<<"$out"
}

flags=("$@")
echo "profile flags: ${flags[*]:-(defaults)}; $rounds pairs, µs per request (user space)"
diffs=()
for i in $(seq 1 "$rounds"); do
	if [ $((i % 2)) = 1 ]; then
		read -r o ou <<<"$(measure old)"
		read -r n nu <<<"$(measure new)"
	else
		read -r n nu <<<"$(measure new)"
		read -r o ou <<<"$(measure old)"
	fi
	d=$(awk -v a="$o" -v b="$n" 'BEGIN { printf "%+.1f", b - a }')
	diffs+=("$d")
	printf 'pair %2d: old %6.1f (%5.1f)  new %6.1f (%5.1f)  new-old %s\n' "$i" "$o" "$ou" "$n" "$nu" "$d"
done
printf '%s\n' "${diffs[@]}" | sort -g | awk '
	{ v[NR] = $1; if ($1 < 0) lower++ }
	END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "median new-old: %+.1f µs per request; new lower in %d of %d pairs\n", m, lower, NR
	}'
