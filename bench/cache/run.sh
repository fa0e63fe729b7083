#!/usr/bin/env bash
# Cache-hit cost: tern serving a response from its proxy cache (`cache:` on a proxy location)
# against tern serving the same bytes as a static file, in one tern, one worker on CPU 0, the
# clients on CPU 1 (an upstream tern, on CPU 1 too, only answers the warm-up misses). Small:
# N requests of a 586-byte file over 16 keep-alive connections (h2load --h1); large: K
# downloads of a 100 MB file (curl). Interleaved for ROUNDS rounds; the tern process's CPU
# (utime + stime) per request and per MB, and the medians of cache / static.
# Usage: bench/cache/run.sh [path/to/tern]   (ROUNDS=3, N=200000, K=5)
set -euo pipefail
TERN=$(realpath "${1:-$(dirname "$0")/../../build/tern}")
ROUNDS=${ROUNDS:-3}
N=${N:-200000}
K=${K:-5}
work=$(mktemp -d /tmp/tern-bench-cache.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/root"
head -c 586 /dev/zero | tr '\0' 'x' >"$work/root/small.html"
head -c 100000000 /dev/urandom >"$work/root/big.bin"
up=$((22000 + RANDOM % 10000))
px=$((up + 1))
cat >"$work/up.yaml" <<YAML
listen: ["127.0.0.1:$up"]
workers: 1
root: $work/root
error_log: $work/up.err
servers:
  - locations:
      - path: /
        cache_control: "public, max-age=86400"
YAML
cat >"$work/px.yaml" <<YAML
listen: ["127.0.0.1:$px"]
workers: 1
root: $work/root
error_log: $work/px.err
servers:
  - locations:
      - path: /static/
      - path: /cached/
        proxy: {upstreams: ["http://127.0.0.1:$up/"], forwarded: false, x_forwarded: false, via: false}
        cache: {max_size: 256m, max_object_size: 128m}
YAML
taskset -c 1 "$TERN" serve -c "$work/up.yaml" &
pids+=($!)
taskset -c 0 "$TERN" serve -c "$work/px.yaml" &
srv=$!
pids+=($srv)
sleep 1
mkdir -p "$work/root/static"
ln "$work/root/small.html" "$work/root/static/small.html"
ln "$work/root/big.bin" "$work/root/static/big.bin"
base=http://127.0.0.1:$px
for f in small.html big.bin; do # warm the cache; the second answer must be a hit
  curl -sf -o /dev/null "$base/cached/$f"
  status=$(curl -sf -o /dev/null -D - "$base/cached/$f" | tr -d '\r' | grep -i '^cache-status:' || true)
  case "$status" in *hit*) ;; *) echo "cached/$f is not a hit: $status" >&2; exit 1 ;; esac
done
ticks() { awk '{print $14 + $15}' /proc/$srv/stat; }
hz=$(getconf CLK_TCK)
small() { # path -> µs of CPU per request
  local b a out
  b=$(ticks)
  out=$(taskset -c 1 h2load --h1 -n "$N" -c 16 "$base$1" 2>&1)
  a=$(ticks)
  echo "$out" | grep -q "$N succeeded" || { echo "$out" >&2; exit 1; }
  awk -v t=$((a - b)) -v hz="$hz" -v n="$N" 'BEGIN{printf "%.3f", t/hz*1e6/n}'
}
large() { # path -> ms of CPU per MB
  local b a i
  b=$(ticks)
  for ((i = 0; i < K; i++)); do taskset -c 1 curl -sf -o /dev/null "$base$1"; done
  a=$(ticks)
  awk -v t=$((a - b)) -v hz="$hz" -v k="$K" 'BEGIN{printf "%.3f", t/hz*1e3/(k*100)}'
}
declare -A v
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then
    s1=$(small /static/small.html); s2=$(small /cached/small.html)
    l1=$(large /static/big.bin); l2=$(large /cached/big.bin)
  else
    s2=$(small /cached/small.html); s1=$(small /static/small.html)
    l2=$(large /cached/big.bin); l1=$(large /static/big.bin)
  fi
  echo "round $r: small static $s1 µs, cache hit $s2 µs; 100 MB static $l1 ms/MB, cache hit $l2 ms/MB"
  v[small]+="$(awk -v a="$s2" -v b="$s1" 'BEGIN{printf "%.4f", a/b}') "
  v[large]+="$(awk -v a="$l2" -v b="$l1" 'BEGIN{printf "%.4f", a/b}') "
done
med() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{x[NR]=$1} END{print x[int((NR+1)/2)]}'; }
echo "median cache hit / static, 586 B: $(echo ${v[small]} | med); 100 MB: $(echo ${v[large]} | med)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
