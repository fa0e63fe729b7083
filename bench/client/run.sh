#!/usr/bin/env bash
# Client-side CPU of `tern get` against curl (a 1 GiB download over HTTP/1.1 cleartext and TLS,
# and over HTTP/2 with TLS and with prior knowledge) and of `tern bench` against h2load
# (100,000 small requests over 8 connections: HTTP/1.1, and HTTP/2 with 10 streams each), each
# pair interleaved, ROUNDS rounds, the server (tern) pinned to CPU 0 and the clients to CPU 1.
# Prints one line per run (user+sys seconds) and the median ratios tern/peer.
# Usage: bench/client/run.sh [path/to/tern]   (ROUNDS=3 by default)
set -euo pipefail
TERN=${1:-$(dirname "$0")/../../build/tern}
ROUNDS=${ROUNDS:-3}
KINDS=${KINDS:-h1 tls h2 h2c bench bench-h2}
work=$(mktemp -d /tmp/tern-bench-client.XXXXXX)
trap 'kill $srv 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/root"
head -c 1G /dev/zero >"$work/root/1g.bin"
echo "hello, world" >"$work/root/hello.txt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/k.pem" \
  -out "$work/c.pem" -days 2 -subj /CN=localhost 2>/dev/null
port=$((20000 + RANDOM % 20000)); tport=$((port + 1))
taskset -c 0 "$TERN" serve "$work/root" --listen 127.0.0.1:$port --tls-listen 127.0.0.1:$tport \
  --cert "$work/c.pem" --key "$work/k.pem" --workers 1 --error-log "$work/err.log" &
srv=$!
sleep 1
cpu() { # command... -> user+sys seconds of the command
  /usr/bin/time -f "%U %S" -o "$work/t" taskset -c 1 "$@" >/dev/null 2>&1 || true
  awk '{print $1 + $2}' "$work/t"
}
declare -A runs
for ((r = 1; r <= ROUNDS; r++)); do
  for kind in $KINDS; do
    case $kind in
      h1) a=$(cpu "$TERN" get -s -o /dev/null http://127.0.0.1:$port/1g.bin)
          b=$(cpu curl -s -o /dev/null http://127.0.0.1:$port/1g.bin) ;;
      tls) a=$(cpu "$TERN" get --http1.1 -k -s -o /dev/null https://127.0.0.1:$tport/1g.bin)
           b=$(cpu curl --http1.1 -k -s -o /dev/null https://127.0.0.1:$tport/1g.bin) ;;
      h2) a=$(cpu "$TERN" get -k -s -o /dev/null https://127.0.0.1:$tport/1g.bin)
          b=$(cpu curl --http2 -k -s -o /dev/null https://127.0.0.1:$tport/1g.bin) ;;
      h2c) a=$(cpu "$TERN" get --http2-prior-knowledge -s -o /dev/null http://127.0.0.1:$port/1g.bin)
           b=$(cpu curl --http2-prior-knowledge -s -o /dev/null http://127.0.0.1:$port/1g.bin) ;;
      bench) a=$(cpu "$TERN" bench -n 100000 -c 8 http://127.0.0.1:$port/hello.txt)
             b=$(cpu h2load --h1 -n 100000 -c 8 http://127.0.0.1:$port/hello.txt) ;;
      bench-h2) a=$(cpu "$TERN" bench --h2c -n 100000 -c 8 -m 10 http://127.0.0.1:$port/hello.txt)
                b=$(cpu h2load -n 100000 -c 8 -m 10 http://127.0.0.1:$port/hello.txt) ;;
    esac
    echo "round $r $kind: tern $a s, peer $b s, ratio $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}')"
    runs[$kind]+="$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.4f", a/b}') "
  done
done
for kind in $KINDS; do
  med=$(echo ${runs[$kind]} | tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
  echo "median tern/peer $kind: $med"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
