#!/usr/bin/env bash
# Site-rules cost (#14): a request through a location matched by a regular expression, with two
# response fields set and a rate limit (one that never refuses), against a plain static request
# of the same 586-byte file, in one tern, one worker on CPU 0, h2load on CPU 1 (N requests over
# 16 keep-alive connections, HTTP/1.1 and HTTP/2 with 10 streams each). Interleaved for ROUNDS rounds; the tern
# process's CPU (utime + stime) per request, and the medians of rules / plain.
# Usage: bench/site/run.sh [path/to/tern]   (ROUNDS=3, N=200000)
set -euo pipefail
TERN=$(realpath "${1:-$(dirname "$0")/../../build/tern}")
ROUNDS=${ROUNDS:-3}
N=${N:-200000}
work=$(mktemp -d /tmp/tern-bench-site.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/root/plain" "$work/root/rx"
head -c 586 /dev/zero | tr '\0' 'x' >"$work/root/plain/small.html"
ln "$work/root/plain/small.html" "$work/root/rx/small.html"
port=$((22000 + RANDOM % 10000))
cat >"$work/tern.yaml" <<YAML
listen: ["127.0.0.1:$port"]
workers: 1
error_log: $work/err
servers:
  - root: $work/root
    locations:
      - path: /plain/
      - regex: "^/rx/([a-z]+)\\\\.html$"
        headers: {set: {X-Frame-Options: DENY, X-Content-Type-Options: nosniff}}
        rate_limit: {rate: 1000000/s, burst: 1000000}
YAML
taskset -c 0 "$TERN" serve -c "$work/tern.yaml" &
srv=$!
pids+=($srv)
sleep 1
base=http://127.0.0.1:$port
curl -sf -D - -o /dev/null "$base/rx/small.html" | tr -d '\r' | grep -qi '^x-frame-options: DENY' ||
  { echo "the regex location did not answer with its fields" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' /proc/$srv/stat; }
hz=$(getconf CLK_TCK)
cost() { # wire path -> µs of CPU per request
  local b a out wire=(-m 10)
  [ "$1" = h1 ] && wire=(--h1 -m 1) # no pipelining: a connection's 1000th request closes it
  b=$(ticks)
  out=$(taskset -c 1 h2load "${wire[@]}" -n "$N" -c 16 "$base$2" 2>&1)
  a=$(ticks)
  echo "$out" | grep -q "$N succeeded" || { echo "$out" >&2; exit 1; }
  awk -v t=$((a - b)) -v hz="$hz" -v n="$N" 'BEGIN{printf "%.3f", t/hz*1e6/n}'
}
declare -A v
for ((r = 1; r <= ROUNDS; r++)); do
  for wire in h1 h2; do
    if ((r % 2)); then
      p=$(cost $wire /plain/small.html); x=$(cost $wire /rx/small.html)
    else
      x=$(cost $wire /rx/small.html); p=$(cost $wire /plain/small.html)
    fi
    echo "round $r $wire: plain $p µs, regex + 2 fields + rate limit $x µs"
    v[$wire]+="$(awk -v a="$x" -v b="$p" 'BEGIN{printf "%.4f", a/b}') "
  done
done
med() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{x[NR]=$1} END{print x[int((NR+1)/2)]}'; }
echo "median rules / plain: HTTP/1.1 $(echo ${v[h1]} | med); HTTP/2 $(echo ${v[h2]} | med)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
