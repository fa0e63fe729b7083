#!/usr/bin/env bash
# Client-side CPU of `tern get` against curl (a 1 GiB download over HTTP/1.1 cleartext and TLS,
# and over HTTP/2 with TLS and with prior knowledge) and of `tern bench` against h2load
# (100,000 small requests over 8 connections: HTTP/1.1, and HTTP/2 with 10 streams each), each
# pair interleaved, ROUNDS rounds, the server (tern) pinned to CPU 0 and the clients to CPU 1.
# Kind h3 has no peer (Debian's curl and h2load have no HTTP/3): it is `tern get --http3`
# against tern's own HTTP/2 download of the same 1 GiB (the goal: h3 within 1.5x of h2); its
# line also gives each side's %{http_version} and body bytes, so a short transfer shows.
# Prints one line per run (user+sys seconds) and the median ratios tern/peer.
# Usage: bench/client/run.sh [path/to/tern]   (ROUNDS=3 by default; KINDS selects, e.g. "h2 h3")
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
  /usr/bin/time -f "%U %S" -o "$work/t" taskset -c 1 "$@" >"$work/o" 2>&1 || true
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
      # --alt-svc "": tern serve advertises h3 (Alt-Svc) and tern get, with no version option,
      # would take HTTP/3 from the second run on; curl here has no Alt-Svc cache
      h2) a=$(cpu "$TERN" get -k -s -o /dev/null --alt-svc "" https://127.0.0.1:$tport/1g.bin)
          b=$(cpu curl --http2 -k -s -o /dev/null https://127.0.0.1:$tport/1g.bin) ;;
      h2c) a=$(cpu "$TERN" get --http2-prior-knowledge -s -o /dev/null http://127.0.0.1:$port/1g.bin)
           b=$(cpu curl --http2-prior-knowledge -s -o /dev/null http://127.0.0.1:$port/1g.bin) ;;
      bench) a=$(cpu "$TERN" bench -n 100000 -c 8 http://127.0.0.1:$port/hello.txt)
             b=$(cpu h2load --h1 -n 100000 -c 8 http://127.0.0.1:$port/hello.txt) ;;
      bench-h2) a=$(cpu "$TERN" bench --h2c -n 100000 -c 8 -m 10 http://127.0.0.1:$port/hello.txt)
                b=$(cpu h2load -n 100000 -c 8 -m 10 http://127.0.0.1:$port/hello.txt) ;;
      h3) w='%{http_version} %{size_download}'
          a=$(cpu "$TERN" get --http3 -k -s -o /dev/null -w "$w" https://127.0.0.1:$tport/1g.bin)
          got="h3: $(cat "$work/o")"
          b=$(cpu "$TERN" get -k -s -o /dev/null --alt-svc "" -w "$w" https://127.0.0.1:$tport/1g.bin)
          got="$got, h2: $(cat "$work/o")" ;;
    esac
    echo "round $r $kind: tern $a s, peer $b s, ratio $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}')${got:+ ($got)}"
    got=
    runs[$kind]+="$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.4f", a/b}') "
  done
done
for kind in $KINDS; do
  med=$(echo ${runs[$kind]} | tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}')
  echo "median tern/peer $kind: $med"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
