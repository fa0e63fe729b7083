#!/usr/bin/env bash
# Reverse proxy cost: tern's `proxy`, nginx's proxy_pass with keep-alive upstream connections
# and HAProxy (Debian's 2.6), each in front of the same upstream (the shared harness's
# "ceiling" responder: a fixed 586-byte answer per request), each with one worker on CPU 0,
# h2load --h1 and the upstream on CPU 1. For ROUNDS interleaved rounds, N small requests over
# 16 keep-alive connections: the proxy's CPU per request (from /proc/PID/stat) and req/s, and
# the medians of tern / nginx and tern / HAProxy.
# Usage: bench/proxy/run.sh [path/to/tern]   (ROUNDS=3, N=200000)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
TERN=$(realpath "${1:-$here/../../build/tern}")
ROUNDS=${ROUNDS:-3}
N=${N:-200000}
shared=$(realpath "$here/../../../shared/bench")
work=$(mktemp -d /tmp/tern-bench-proxy.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
cc -O2 -o "$work/ceiling" "$shared/tools/ceiling.c"
head -c 586 /dev/zero | tr '\0' 'x' >"$work/small.html"
up=$((21000 + RANDOM % 10000))
taskset -c 1 "$work/ceiling" $up "$work/small.html" 127.0.0.1 &
pids+=($!)

p_tern=$((up + 1)) p_nginx=$((up + 2)) p_haproxy=$((up + 3))
mkdir -p "$work/root" "$work/nginx"
cat >"$work/tern.yaml" <<EOF
listen: ["127.0.0.1:$p_tern"]
workers: 1
root: $work/root
error_log: $work/tern.err
servers:
  - locations:
      - path: /
        proxy: {upstreams: [http://127.0.0.1:$up], forwarded: false, x_forwarded: false, via: false}
EOF
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream up { server 127.0.0.1:$up; keepalive 32; }
  server {
    listen 127.0.0.1:$p_nginx;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
cat >"$work/haproxy.cfg" <<EOF
global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend f
  bind 127.0.0.1:$p_haproxy
  default_backend b
backend b
  server s1 127.0.0.1:$up
EOF
declare -A pid port
taskset -c 0 "$TERN" serve -c "$work/tern.yaml" &
pid[tern]=$!
pids+=(${pid[tern]})
port[tern]=$p_tern
taskset -c 0 nginx -c "$work/nginx.conf" -p "$work/nginx" -e "$work/nginx/error.log" &
pid[nginx]=$!
pids+=(${pid[nginx]})
port[nginx]=$p_nginx
names=(tern nginx)
if command -v haproxy >/dev/null; then
  taskset -c 0 haproxy -f "$work/haproxy.cfg" -db &
  pid[haproxy]=$!
  pids+=(${pid[haproxy]})
  port[haproxy]=$p_haproxy
  names+=(haproxy)
fi
sleep 1
for n in "${names[@]}"; do
  curl -sf -o /dev/null "http://127.0.0.1:${port[$n]}/" || { echo "$n does not answer" >&2; exit 1; }
done
# nginx's master forks the worker that does the work: count the whole process group
ticks() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' /proc/$p/stat)))
  done
  echo $total
}
hz=$(getconf CLK_TCK)
declare -A cpu rate
for ((r = 1; r <= ROUNDS; r++)); do
  line="round $r:"
  for ((k = 0; k < ${#names[@]}; k++)); do
    n=${names[$(((k + r) % ${#names[@]}))]}
    before=$(ticks ${pid[$n]})
    out=$(taskset -c 1 h2load --h1 -n "$N" -c 16 "http://127.0.0.1:${port[$n]}/" 2>&1)
    after=$(ticks ${pid[$n]})
    ok=$(echo "$out" | grep -o '[0-9]* succeeded' | grep -o '^[0-9]*')
    [ "$ok" = "$N" ] || { echo "$n: $out" >&2; exit 1; }
    rps=$(echo "$out" | grep -o '[0-9.]* req/s' | head -1 | grep -o '^[0-9.]*')
    us=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$N" 'BEGIN{printf "%.3f", t/hz*1e6/n}')
    cpu[$n]+="$us "
    rate[$n]+="$rps "
    line+=" $n ${us} µs/req ${rps} req/s;"
  done
  echo "$line"
done
med() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
for n in "${names[@]}"; do
  echo "median $n: $(echo ${cpu[$n]} | med) µs/request, $(echo ${rate[$n]} | med) req/s"
done
t=$(echo ${cpu[tern]} | med)
for n in "${names[@]:1}"; do
  echo "proxy CPU per request tern/$n: $(awk -v a="$t" -v b="$(echo ${cpu[$n]} | med)" 'BEGIN{printf "%.2f", a/b}')"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
