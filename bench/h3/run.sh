#!/usr/bin/env bash
# bench/h3/run.sh - server CPU cost of tern's HTTP/3 against Caddy's HTTP/3 and
# tern's own HTTP/2 over TLS, in one interleaved run (see bench/README.md, "HTTP/3").
#
# usage: bench/h3/run.sh [-r ROUNDS] [-o NAME] [-w LIST] [-C CLIENT] [-I] [-q] [-s]
#   -r N     rounds (default 3); medians and min-max are taken over rounds
#   -o NAME  result name (default: <UTC date>-h3); writes $H3_RESULTS/NAME.md
#   -w LIST  workloads, comma separated (default small,large,hs)
#   -C NAME  load generator: tern (default: `tern bench --h3` / `--h2`, `tern get` for large)
#            or gtls (gtlsclient for HTTP/3, h2load for HTTP/2); see bench/README.md
#   -I       skip the idle-connection memory test
#   -q       quick smoke test (few requests; numbers meaningless)
#   -s       setup only: install/fetch what is missing, make docroot and cert
# Environment (defaults): BENCH_DATA (/tmp/tern-bench-h3), TERN_BIN (build/tern of this
#   checkout), CADDY_BIN (unpacked from Debian's caddy .deb), SERVER_CPU (0), CLIENT_CPU (1),
#   H3_CLIENT (tern; as -C), TERN_CLIENT_BIN (the client with -C tern: $TERN_BIN),
#   SMALL_REPS (100: 16 x 100 connections of 32 requests; 20 with -C gtls),
#   HS_N (1600 new connections; 320 with -C gtls),
#   LARGE_N (1 download of 100 MB), IDLE_N (2000), IDLE_WAIT (120 s),
#   IDLE_CPUS ($SERVER_CPU,$CLIENT_CPU: memory, not CPU, is measured there),
#   PORT_TERN (18931), PORT_CADDY (18932), PORT_TERN_H1 (18933), H3_RESULTS (bench/results).
# Every client is wrapped in `timeout`; all traffic goes to 127.0.0.1.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
DATA=${BENCH_DATA:-${TMPDIR:-/tmp}/tern-bench-h3}
ROUNDS=3; NAME=$(date -u +%Y-%m-%d)-h3; WORKLOADS=small,large,hs; IDLE=1; QUICK=0; SETUP_ONLY=0
CLIENT=${H3_CLIENT:-tern}
while getopts "r:o:w:C:Iqsh" opt; do
  case $opt in
    r) ROUNDS=$OPTARG ;; o) NAME=$OPTARG ;; w) WORKLOADS=$OPTARG ;; I) IDLE=0 ;;
    C) CLIENT=$OPTARG ;; q) QUICK=1 ;; s) SETUP_ONLY=1 ;; *) sed -n '2,22p' "$0"; exit 2 ;;
  esac
done
case $CLIENT in gtls|tern) ;; *) echo "-C: gtls or tern, not '$CLIENT'" >&2; exit 2 ;; esac
SERVER_CPU=${SERVER_CPU:-0}; CLIENT_CPU=${CLIENT_CPU:-1}
if [ "$QUICK" = 1 ]; then d_reps=2; d_hs=32; d_idle=100
# tern bench is one process for all connections, ~12x less client CPU per request than a
# gtlsclient per connection: 5x the work keeps a run to seconds and puts the short tern-h2
# runs well above the 10 ms clock tick the CPU times are counted in.
elif [ "$CLIENT" = tern ]; then d_reps=100; d_hs=1600; d_idle=2000
else d_reps=20; d_hs=320; d_idle=2000; fi
SMALL_REPS=${SMALL_REPS:-$d_reps}; HS_N=${HS_N:-$d_hs}; LARGE_N=${LARGE_N:-1}
IDLE_N=${IDLE_N:-$d_idle}; IDLE_WAIT=${IDLE_WAIT:-120}; IDLE_CPUS=${IDLE_CPUS:-$SERVER_CPU,$CLIENT_CPU}
PORT_TERN=${PORT_TERN:-18931}; PORT_CADDY=${PORT_CADDY:-18932}; PORT_TERN_H1=${PORT_TERN_H1:-18933}
TERN_BIN=${TERN_BIN:-$repo/build/tern}
TERN_CLIENT_BIN=${TERN_CLIENT_BIN:-$TERN_BIN}
SHARED=${SHARED_BENCH:-$repo/../shared/bench}
CONNS=16; STREAMS=32          # workload (a): 16 connections x 32 streams at a time
CLK_TCK=$(getconf CLK_TCK)
TIMEFORMAT='%R %U %S'

# ------------------------------------------------------------------ setup --
setup() {
  local need=() t
  for t in gtlsclient:ngtcp2-client h2load:nghttp2-client openssl:openssl curl:curl \
           python3:python3 taskset:util-linux timeout:coreutils ss:iproute2 dpkg-deb:dpkg; do
    command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}" >&2
    apt-get install -y "${need[@]}" >&2 || { echo "apt-get install ${need[*]} failed" >&2; return 1; }
  fi
  mkdir -p "$DATA"; DATA=$(cd "$DATA" && pwd)
  mkdir -p "$DATA/docroot" "$DATA/tls" "$DATA/conf" "$DATA/run" "$DATA/raw" "$DATA/caddy"
  if [ -z "${CADDY_BIN:-}" ]; then
    CADDY_BIN=$DATA/caddy/root/usr/bin/caddy
    if [ ! -x "$CADDY_BIN" ]; then  # Debian's package, unpacked only: no service, no install
      (cd "$DATA/caddy" && rm -f caddy_*.deb && apt-get download caddy >&2 && dpkg-deb -x caddy_*.deb root) \
        || { echo "could not fetch caddy (apt-get download caddy)" >&2; return 1; }
    fi
  fi
  if [ -x "$SHARED/setup.sh" ]; then   # the shared harness's docroot and EC P-256 cert
    BENCH_DATA=$DATA "$SHARED/setup.sh" >/dev/null || return 1
  else                                 # stand-alone: the same files, made here
    local d=$DATA/docroot
    [ -s "$d/small.html" ] || { printf '<!DOCTYPE html>\n<html><head><title>small</title></head><body>\n'
      for t in 1 2 3 4 5 6 7; do printf '<p>A small static page for the HTTP/3 benchmark, line %s.</p>\n' "$t"; done
      printf '</body></html>\n'; } > "$d/small.html"
    [ "$(stat -c %s "$d/100m.bin" 2>/dev/null)" = 104857600 ] || head -c 104857600 /dev/urandom > "$d/100m.bin"
    chmod 755 "$DATA" "$d"; chmod 644 "$d"/*
    [ -s "$DATA/tls/cert.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$DATA/tls/key.pem" -out "$DATA/tls/cert.pem" -days 3650 -subj /CN=localhost \
      -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null || return 1
  fi
  # 32 names for the same small file (hard links: same inode, no symlink to follow), so that
  # every gtlsclient stream downloads into its own file and the 200s can be counted by size.
  local k
  for ((k = 0; k < STREAMS; k++)); do
    printf -v t '%s/docroot/s%02d.html' "$DATA" "$k"
    [ "$t" -ef "$DATA/docroot/small.html" ] || ln -f "$DATA/docroot/small.html" "$t"
  done
  cat > "$DATA/conf/Caddyfile" <<EOF
{
	admin off
	auto_https off
	servers {
		protocols h1 h2 h3
	}
}
https://127.0.0.1:$PORT_CADDY {
	bind 127.0.0.1
	tls $DATA/tls/cert.pem $DATA/tls/key.pem
	root * $DATA/docroot
	file_server
}
EOF
  [ -x "$TERN_BIN" ] || { echo "no tern binary at $TERN_BIN (meson setup build --buildtype=release && ninja -C build)" >&2; return 1; }
  if [ "$CLIENT" = tern ]; then
    "$TERN_CLIENT_BIN" -V 2>&1 | grep -q 'http3: yes' \
      || { echo "$TERN_CLIENT_BIN has no HTTP/3 (tern -V): build with QUIC, or use -C gtls" >&2; return 1; }
  fi
}
setup || exit 1
[ "$SETUP_ONLY" = 1 ] && { echo "setup done: $DATA (caddy: $CADDY_BIN)"; exit 0; }
SMALL_SIZE=$(stat -c %s "$DATA/docroot/small.html"); LARGE_SIZE=$(stat -c %s "$DATA/docroot/100m.bin")
RAW=$DATA/raw/$NAME; RESULTS=${H3_RESULTS:-$repo/bench/results}
rm -rf "$RAW"; mkdir -p "$RAW" "$RESULTS"
DL=/dev/shm/tern-h3-bench-$$        # downloads land in RAM and are deleted after each check
mkdir -p "$DL"
LOG=$RAW/run.log
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$LOG" >&2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null

# ------------------------------------------------------- process accounting --
tree_pids() { local c; echo "$1"; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree_pids "$c"; done; }
tree_ticks() { # pid -> utime+stime (+ reaped children) of the process tree, clock ticks
  local sum=0 p f
  for p in $(tree_pids "$1"); do
    f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    f=${f##*) }; set -- $f
    sum=$((sum + ${12} + ${13} + ${14} + ${15}))
  done
  echo "$sum"
}
tree_rss() { # pid -> RSS of the tree in KiB
  local s=0 p r
  for p in $(tree_pids "$1"); do r=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null); s=$((s + ${r:-0})); done
  echo "$s"
}
cpu_busy() { awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6 }' /proc/stat; }

# ---------------------------------------------------------------- servers --
declare -A SPID
port_busy() { ss -Htuln "( sport = :$1 )" 2>/dev/null | grep -q .; }  # listening TCP or bound UDP
start_server() { # tern|caddy
  local s=$1 rd=$DATA/run/$1 p k
  rm -rf "$rd"; mkdir -p "$rd"
  case $s in
    tern)  for p in "$PORT_TERN" "$PORT_TERN_H1"; do port_busy "$p" && { log "ERROR: port $p in use"; return 1; }; done
           (cd "$rd" && exec taskset -c "$SERVER_CPU" "$TERN_BIN" serve "$DATA/docroot" \
              --listen "127.0.0.1:$PORT_TERN_H1" --tls-listen "127.0.0.1:$PORT_TERN" \
              --cert "$DATA/tls/cert.pem" --key "$DATA/tls/key.pem" --workers 1 --access-log off) \
              > "$rd/stdout.log" 2>&1 &
           p=$PORT_TERN ;;
    caddy) port_busy "$PORT_CADDY" && { log "ERROR: port $PORT_CADDY in use"; return 1; }
           (cd "$rd" && exec env HOME="$rd" XDG_CONFIG_HOME="$rd" XDG_DATA_HOME="$rd" \
              taskset -c "$SERVER_CPU" "$CADDY_BIN" run --config "$DATA/conf/Caddyfile" --adapter caddyfile) \
              > "$rd/stdout.log" 2>&1 &
           p=$PORT_CADDY ;;
  esac
  SPID[$s]=$!
  for ((k = 0; k < 100; k++)); do
    kill -0 "${SPID[$s]}" 2>/dev/null || { log "ERROR: $s exited at start, see $rd/stdout.log"; SPID[$s]=""; return 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && ss -Huan "( sport = :$p )" | grep -q . && break
    sleep 0.1
  done
  log "started $s pid ${SPID[$s]} on cpu $SERVER_CPU (port $p tcp+udp)"
}
stop_server() {
  local s=$1 pid=${SPID[$1]:-} k
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((k = 0; k < 50; k++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  wait "$pid" 2>/dev/null; SPID[$s]=""
}
IDLE_PIDFILE=$RAW/idle.pids
kill_idle_clients() { local p x; [ -f "$IDLE_PIDFILE" ] && while read -r p x; do kill -TERM "$p" 2>/dev/null; done < "$IDLE_PIDFILE"; rm -f "$IDLE_PIDFILE"; }
cleanup() { kill_idle_clients; stop_server tern; stop_server caddy; rm -rf "$DL"; }
trap cleanup EXIT
trap 'log interrupted; exit 130' INT TERM

# ---------------------------------------------------------------- clients --
# targets: tern-h3 and caddy-h3 (gtlsclient), tern-h2 (h2load, ALPN h2 over TLS, same tern process)
server_of() { case $1 in caddy-*) echo caddy ;; *) echo tern ;; esac; }
port_of() { case $1 in caddy-*) echo "$PORT_CADDY" ;; *) echo "$PORT_TERN" ;; esac; }
uris() { local k; for ((k = 0; k < STREAMS; k++)); do printf 'https://127.0.0.1:%s/s%02d.html ' "$1" "$k"; done; }
export DL
# one gtlsclient connection: args = dir-suffix port uri... ; prints "rc N"
GTLS_ONE='d=$DL/$1; p=$2; shift 2; mkdir -p "$d"; timeout -k 2 30 gtlsclient -q --exit-on-all-streams-close --download "$d" 127.0.0.1 "$p" "$@" >/dev/null 2>&1; echo "rc $?"'

# -C tern: `tern bench` (one process, all connections in one event loop), one JSON line per
# invocation; the small run is repeated as h2load's is so that every 32 requests pay one new
# connection, like a gtlsclient process. It asks for one URL over and over (it has no list of
# paths), small.html, where gtlsclient asks for 32 hard links of it: the same file to the server.
TB_PROTO() { case $1 in *-h3) echo --h3 ;; *) echo --h2 ;; esac; }
run_client_tern() { # workload target port
  local w=$1 t=$2 port=$3 k proto; proto=$(TB_PROTO "$t")
  case $w in
    small) echo $((CONNS * SMALL_REPS * STREAMS)) > "$RAW/expect"
      for ((k = 0; k < SMALL_REPS; k++)); do
        timeout -k 2 60 taskset -c "$CLIENT_CPU" "$TERN_CLIENT_BIN" bench "$proto" -k --json \
          -c "$CONNS" -m "$STREAMS" -n $((CONNS * STREAMS)) "https://127.0.0.1:$port/small.html"
      done ;;
    hs) echo "$HS_N" > "$RAW/expect"   # --reconnect: a new connection (full handshake) per request
      timeout -k 2 300 taskset -c "$CLIENT_CPU" "$TERN_CLIENT_BIN" bench "$proto" -k --json --reconnect \
        -c "$CONNS" -n "$HS_N" "https://127.0.0.1:$port/small.html" ;;
    large) echo "$LARGE_N" > "$RAW/expect"  # tern get, so that the body is compared byte for byte
      [ "$proto" = --h3 ] && proto=--http3 || proto=--http2
      for ((k = 1; k <= LARGE_N; k++)); do
        mkdir -p "$DL/l$k"
        timeout -k 2 120 taskset -c "$CLIENT_CPU" "$TERN_CLIENT_BIN" get "$proto" --alt-svc "" -k -s \
          -o "$DL/l$k/100m.bin" "https://127.0.0.1:$port/100m.bin"; echo "rc $?"
      done ;;
  esac
}
run_client() { # workload target -> tool output on stdout; expected count in $RAW/expect
  local w=$1 t=$2 port k; port=$(port_of "$t")
  [ "$CLIENT" = tern ] && { run_client_tern "$w" "$t" "$port"; return; }
  case $t:$w in
    *-h3:small) echo $((CONNS * SMALL_REPS * STREAMS)) > "$RAW/expect"
      seq "$((CONNS * SMALL_REPS))" | taskset -c "$CLIENT_CPU" xargs -P "$CONNS" -I{} \
        bash -c "$GTLS_ONE" _ {} "$port" $(uris "$port") ;;
    *-h3:hs) echo "$HS_N" > "$RAW/expect"
      seq "$HS_N" | taskset -c "$CLIENT_CPU" xargs -P "$CONNS" -I{} \
        bash -c "$GTLS_ONE" _ {} "$port" "https://127.0.0.1:$port/small.html" ;;
    *-h3:large) echo "$LARGE_N" > "$RAW/expect"
      for ((k = 1; k <= LARGE_N; k++)); do
        taskset -c "$CLIENT_CPU" bash -c "$GTLS_ONE" _ "l$k" "$port" "https://127.0.0.1:$port/100m.bin"
      done ;;
    tern-h2:small) echo $((CONNS * SMALL_REPS * STREAMS)) > "$RAW/expect"
      for ((k = 0; k < SMALL_REPS; k++)); do  # 16 new connections x 32 concurrent streams, as one gtlsclient wave
        timeout -k 2 60 taskset -c "$CLIENT_CPU" h2load -t1 -c"$CONNS" -m"$STREAMS" -n$((CONNS * STREAMS)) \
          --npn-list=h2 $(uris "$port") | grep -E '^(status codes|traffic|requests):'
      done ;;
    tern-h2:hs) echo "$HS_N" > "$RAW/expect"
      for ((k = 0; k < HS_N / CONNS; k++)); do
        timeout -k 2 60 taskset -c "$CLIENT_CPU" h2load -t1 -c"$CONNS" -n"$CONNS" --npn-list=h2 \
          "https://127.0.0.1:$port/small.html" | grep -E '^(status codes|traffic|requests):'
      done ;;
    tern-h2:large) echo "$LARGE_N" > "$RAW/expect"
      timeout -k 2 120 taskset -c "$CLIENT_CPU" h2load -t1 -c1 -m1 -n"$LARGE_N" --npn-list=h2 \
        "https://127.0.0.1:$port/100m.bin" | grep -E '^(status codes|traffic|requests):' ;;
  esac
}
verify() { # workload target outfile -> "ok bytes": responses that really arrived whole with 2xx
  local w=$1 t=$2 out=$3 ok bytes
  if [ "$CLIENT" = tern ]; then
    if [ "$w" = large ]; then
      ok=0; for f in "$DL"/l*/100m.bin; do
        [ -f "$f" ] && cmp -s "$f" "$DATA/docroot/100m.bin" && ok=$((ok + 1)); done
      bytes=$((ok * LARGE_SIZE)); grep -v -c '^rc 0$' "$out" > "$out.badrc"
    else  # 2xx responses that completed; body bytes must be exactly that many small files
      read -r ok bytes <<< "$(jq -rs --argjson sz "$SMALL_SIZE" '(map(.status."2xx") | add // 0) as $n
        | (map(.bytes.data) | add // 0) as $d | if $d == $n * $sz then "\($n) \($d)"
          else "\([$n, ($d / $sz | floor)] | min) \($d)" end' < <(grep '^{' "$out") 2>/dev/null)"
      ok=${ok:-0}; bytes=${bytes:-0}
    fi
    echo "$ok $bytes"; return
  fi
  case $t in
    *-h3) case $w in
            large) ok=0; for f in "$DL"/l*/100m.bin; do
                     [ -f "$f" ] && cmp -s "$f" "$DATA/docroot/100m.bin" && ok=$((ok + 1)); done
                   bytes=$((ok * LARGE_SIZE)) ;;
            *) ok=$(find "$DL" -type f -size "${SMALL_SIZE}c" | wc -l); bytes=$((ok * SMALL_SIZE)) ;;
          esac
          grep -v -c '^rc 0$' "$out" > "$out.badrc" ;;
    *)    ok=$(awk '/^status codes:/{s += $3} END{print s + 0}' "$out")
          if [ "$w" = large ]; then  # h2load's total traffic (bytes in parentheses), headers and frames included
            bytes=$(sed -n 's/^traffic: [^(]*(\([0-9]*\)) total.*/\1/p' "$out" | awk '{s += $1} END{print s + 0}')
          else bytes=$((ok * SMALL_SIZE)); fi ;;
  esac
  echo "$ok $bytes"
}

measure() { # round workload target
  local r=$1 w=$2 t=$3 s pid out c0 c1 b0 b1 tm ok bytes exp
  s=$(server_of "$t"); pid=${SPID[$s]}
  if ! kill -0 "$pid" 2>/dev/null; then
    log "WARNING: $s died; restarting"; echo "$r $w $t" >> "$RAW/restarts.txt"; start_server "$s" || return
    pid=${SPID[$s]}
  fi
  out=$RAW/r${r}_${w}_${t}.txt
  rm -rf "${DL:?}"/*
  b0=$(cpu_busy "$SERVER_CPU"); c0=$(tree_ticks "$pid")
  { time run_client "$w" "$t" > "$out" 2>&1; } 2> "$out.time"
  c1=$(tree_ticks "$pid"); b1=$(cpu_busy "$SERVER_CPU")
  read -r ok bytes <<< "$(verify "$w" "$t" "$out")"
  rm -rf "${DL:?}"/*
  exp=$(cat "$RAW/expect"); tm=$(tail -n1 "$out.time")
  # round workload target server_cpu_s wall_s client_user_s client_sys_s ok expected bytes servercore_busy_s
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$w" "$t" \
    "$(awk -v a="$c0" -v b="$c1" -v h="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/h}')" \
    "$(echo "$tm" | tr ' ' '\t')" "$ok" "$exp" "$bytes" \
    "$(awk -v a="$b0" -v b="$b1" -v h="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/h}')" >> "$RAW/results.tsv"
  [ "$ok" = "$exp" ] || log "WARNING: r$r $w $t: $ok of $exp responses complete (see $out)"
  log "r$r $w $t: ${ok}/${exp} ok, $(echo "$tm" | awk '{print $1}')s"
  sleep 1
}

# idle: a fresh server, IDLE_N gtlsclient processes that each make one request and stay
# connected (--timeout=120s, no --exit-on-all-streams-close) until tern's 30 s QUIC idle timeout
# closes them. Starting thousands of gtlsclient processes takes longer than 30 s on a loaded
# machine (and neither --key-update nor --delay-stream makes gtlsclient send anything later that
# would keep the connection open), so every second the script counts the connections held
# (client still running and its response arrived) and reads the server's RSS; it stops once all
# are held, when the count falls (the first ones timed out) or after IDLE_WAIT s, and reports the
# sample with the most connections held.
idle_test() { # server
  local s=$1 port pid m0 m st k n held best=0 bestm=0 t0 xp
  port=$( [ "$s" = caddy ] && echo "$PORT_CADDY" || echo "$PORT_TERN")
  start_server "$s" || return
  pid=${SPID[$s]}
  rm -rf "${DL:?}"/*; timeout 10 gtlsclient -q --exit-on-all-streams-close 127.0.0.1 "$port" \
    "https://127.0.0.1:$port/small.html" >/dev/null 2>&1   # one warm-up request
  sleep 1; m0=$(tree_rss "$pid"); : > "$IDLE_PIDFILE"; st=$(date +%s)
  seq "$IDLE_N" | taskset -c "$IDLE_CPUS" xargs -P 8 -I{} bash -c 'mkdir -p "$DL/$1"
    timeout -k 2 150 gtlsclient -q --timeout=120s --download "$DL/$1" \
      127.0.0.1 "$2" "https://127.0.0.1:$2/small.html" >/dev/null 2>&1 & echo "$! $1" >> "$3"' _ {} "$port" "$IDLE_PIDFILE" &
  xp=$!
  for ((t0 = 0; t0 < IDLE_WAIT; t0++)); do
    sleep 1
    held=0
    while read -r k n; do
      [ -f "$DL/$n/small.html" ] && kill -0 "$k" 2>/dev/null && held=$((held + 1))
    done < "$IDLE_PIDFILE"
    m=$(tree_rss "$pid")
    echo "$((t0 + 1)) $held $m" >> "$RAW/idle_$s.samples"
    if [ "$held" -gt "$best" ]; then best=$held; bestm=$m; fi
    [ "$held" -ge "$IDLE_N" ] && break
    [ "$best" -gt 100 ] && [ "$held" -lt $((best - best / 20)) ] && break   # connections are timing out
  done
  kill "$xp" 2>/dev/null; wait "$xp" 2>/dev/null   # stop spawning (if not done)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$IDLE_N" "$best" "$best" "$m0" "$bestm" $(( $(date +%s) - st )) >> "$RAW/idle.tsv"
  log "idle $s: at most $best of $IDLE_N connections held, RSS ${m0} -> ${bestm} KiB"
  kill_idle_clients; sleep 1; stop_server "$s"; rm -rf "${DL:?}"/*
}

# ------------------------------------------------------------------- main --
{
  echo "name=$NAME"; echo "date_utc=$(date -u '+%Y-%m-%d %H:%M:%S')"; echo "host_cpus=$(nproc)"
  echo "cpu_model=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)"; echo "kernel=$(uname -r)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"; echo "server_cpu=$SERVER_CPU"; echo "client_cpu=$CLIENT_CPU"
  echo "rounds=$ROUNDS"; echo "workloads=$WORKLOADS"; echo "small_reps=$SMALL_REPS"; echo "conns=$CONNS"
  echo "streams=$STREAMS"; echo "hs_n=$HS_N"; echo "large_n=$LARGE_N"; echo "idle_n=$IDLE_N"; echo "quick=$QUICK"
  echo "client=$CLIENT"
  [ "$CLIENT" = tern ] && echo "ver_client=$("$TERN_CLIENT_BIN" --version) ($TERN_CLIENT_BIN)"
  echo "small_size=$SMALL_SIZE"; echo "large_size=$LARGE_SIZE"
  echo "ver_tern=$("$TERN_BIN" --version) ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null))"
  echo "ver_caddy=$("$CADDY_BIN" version 2>&1 | head -1) (Debian $(dpkg-deb -f "$DATA"/caddy/caddy_*.deb Version 2>/dev/null))"
  echo "ver_gtlsclient=ngtcp2-client $(dpkg-query -W -f '${Version}' ngtcp2-client 2>/dev/null)"
  echo "ver_h2load=$(h2load --version 2>&1 | head -1)"
} > "$RAW/meta.txt"
: > "$RAW/results.tsv"; : > "$RAW/idle.tsv"

start_server tern || exit 1
start_server caddy || exit 1
# probes: each target answers 200 with the right protocol
for t in tern-h3 caddy-h3; do
  p=$(port_of "$t")
  if [ "$CLIENT" = tern ]; then
    st=$(timeout 10 "$TERN_CLIENT_BIN" get --http3 -k -s -o /dev/null -w '%{response_code}' "https://127.0.0.1:$p/small.html")
  else
    st=$(timeout 10 gtlsclient --no-quic-dump --no-http-dump --exit-on-all-streams-close 127.0.0.1 "$p" \
         "https://127.0.0.1:$p/small.html" 2>&1 | awk '/:status:/{print $NF}' | tr -d ']')
  fi
  echo "probe_$t=h3 ${st:-none}" >> "$RAW/meta.txt"; log "probe $t: HTTP/3 status ${st:-none}"
done
st=$(timeout 10 curl -sk --http2 -o /dev/null -w '%{http_version} %{http_code}' "https://127.0.0.1:$PORT_TERN/small.html")
echo "probe_tern-h2=$st" >> "$RAW/meta.txt"; log "probe tern-h2: $st"
# warm-up (page cache, lazy init)
cat "$DATA/docroot/100m.bin" > /dev/null
for t in tern-h3 caddy-h3 tern-h2; do SMALL_REPS=1 run_client small "$t" > /dev/null 2>&1; rm -rf "${DL:?}"/*; done

TARGETS=(tern-h3 caddy-h3 tern-h2)
IFS=, read -r -a WL <<< "$WORKLOADS"
for ((r = 1; r <= ROUNDS; r++)); do
  log "=== round $r/$ROUNDS (loadavg $(cut -d' ' -f1-3 /proc/loadavg))"
  for w in "${WL[@]}"; do
    for ((k = 0; k < ${#TARGETS[@]}; k++)); do
      measure "$r" "$w" "${TARGETS[(k + r - 1) % ${#TARGETS[@]}]}"
    done
  done
done
stop_server tern; stop_server caddy
if [ "$IDLE" = 1 ]; then idle_test tern; idle_test caddy; fi
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW/meta.txt"
cleanup; trap - EXIT
python3 "$here/report.py" "$RAW" "$RESULTS/$NAME.md" && log "wrote $RESULTS/$NAME.md (raw: $RAW)"
