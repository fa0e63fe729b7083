#!/usr/bin/env bash
# `make run`: serves the bundled site in www/ over HTTP (HTTP/1.x and h2c) and HTTPS (HTTP/1.1
# and HTTP/2) until Ctrl-C, with the connection_info endpoint at /.well-known/tern/connection that
# the front page reads. A self-signed certificate is made on the first run.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/tern}; port=${2:-8080}; tls_port=${3:-8443}
certdir=${TERN_CERT_DIR:-$PWD/build/tls}
mkdir -p "$certdir"
if [ ! -s "$certdir/cert.pem" ] || [ ! -s "$certdir/key.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -keyout "$certdir/key.pem" -out "$certdir/cert.pem" 2>/dev/null
  chmod 600 "$certdir/key.pem"
  echo "made a self-signed certificate: $certdir/cert.pem"
fi
# The configuration it serves: the site, its ports and certificate, and the connection_info
# endpoint that the front page reads to say how it was fetched.
conf=$(dirname "$certdir")/run.yaml
yq() { # a YAML double-quoted string
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}
cat >"$conf" <<EOF
# written by scripts/run.sh for \`make run\` (rewritten on every run)
listen: [127.0.0.1:$port]
tls_listen: [127.0.0.1:$tls_port]
tls: {cert: $(yq "$certdir/cert.pem"), key: $(yq "$certdir/key.pem")}
access_log: stdout
servers:
  - root: $(yq "$PWD/www")
    locations:
      - path: /
      - path: /.well-known/tern/connection
        connection_info: true
EOF
echo "tern serving $PWD/www ($conf)"
echo "  http://127.0.0.1:$port/"
echo "  https://127.0.0.1:$tls_port/  (self-signed: $certdir/cert.pem)"
if "$bin" -V 2>/dev/null | grep -q 'http3: yes'; then
  echo "  HTTP/3 on UDP $tls_port: gtlsclient -q --download . 127.0.0.1 $tls_port https://127.0.0.1:$tls_port/"
fi
echo "Ctrl-C stops"
exec "$bin" serve -c "$conf"
