#!/usr/bin/env bash
# Does tern bench load a server as h2load does? The same 100,000 small requests over 8
# connections (HTTP/1.1, and HTTP/2 with 10 streams each) from tern bench and from h2load,
# interleaved, ROUNDS rounds, against one tern pinned to CPU 0 (clients on CPU 1): the server's
# CPU per request (from /proc/PID/stat) and the requests per second each client reports, and
# their medians as ratios tern bench / h2load (1.0: the two load the server alike).
# Usage: bench/client/server_cpu.sh [path/to/tern]   (ROUNDS=3, N=100000)
set -euo pipefail
TERN=${1:-$(dirname "$0")/../../build/tern}
ROUNDS=${ROUNDS:-3}
N=${N:-100000}
work=$(mktemp -d /tmp/tern-bench-srvcpu.XXXXXX)
trap 'kill $srv 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/root"
echo "hello, world" >"$work/root/hello.txt"
port=$((20000 + RANDOM % 20000))
taskset -c 0 "$TERN" serve "$work/root" --listen 127.0.0.1:$port --workers 1 \
  --error-log "$work/err.log" &
srv=$!
sleep 1
url=http://127.0.0.1:$port/hello.txt
ticks() { awk '{print $14 + $15}' /proc/$srv/stat; }
hz=$(getconf CLK_TCK)
run() { # label command... -> "label µs-per-request req/s"
  local label=$1 before after out rps
  shift
  before=$(ticks)
  out=$(taskset -c 1 "$@" 2>&1)
  after=$(ticks)
  rps=$(echo "$out" | grep -o '[0-9.]* req/s' | head -1 | grep -o '^[0-9.]*')
  awk -v l="$label" -v t=$((after - before)) -v hz="$hz" -v n="$N" -v r="$rps" \
    'BEGIN{printf "%s %.3f %.0f\n", l, t / hz * 1e6 / n, r}'
}
declare -A cpu rate
for ((r = 1; r <= ROUNDS; r++)); do
  for kind in h1 h2; do
    if [ $kind = h1 ]; then
      a=$(run tern "$TERN" bench -n "$N" -c 8 "$url")
      b=$(run h2load h2load --h1 -n "$N" -c 8 "$url")
    else
      a=$(run tern "$TERN" bench --h2c -n "$N" -c 8 -m 10 "$url")
      b=$(run h2load h2load -n "$N" -c 8 -m 10 "$url")
    fi
    read -r _ ac ar <<<"$a"
    read -r _ bc br <<<"$b"
    echo "round $r $kind: server µs/request under tern bench $ac, under h2load $bc; req/s $ar vs $br"
    cpu[$kind]+="$(awk -v a="$ac" -v b="$bc" 'BEGIN{printf "%.4f", a/b}') "
    rate[$kind]+="$(awk -v a="$ar" -v b="$br" 'BEGIN{printf "%.4f", a/b}') "
  done
done
med() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
for kind in h1 h2; do
  echo "median $kind: server CPU per request tern bench/h2load $(echo ${cpu[$kind]} | med)," \
    "req/s tern bench/h2load $(echo ${rate[$kind]} | med)"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
