#!/usr/bin/env bash
# `make run`: serves the bundled site in www/ over HTTP (HTTP/1.x and h2c) and HTTPS (HTTP/1.1
# and HTTP/2) until Ctrl-C. A self-signed certificate is made on the first run.
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
echo "tern serving $PWD/www"
echo "  http://127.0.0.1:$port/"
echo "  https://127.0.0.1:$tls_port/  (self-signed: $certdir/cert.pem)"
echo "Ctrl-C stops"
exec "$bin" serve www --listen "127.0.0.1:$port" --tls-listen "127.0.0.1:$tls_port" \
  --cert "$certdir/cert.pem" --key "$certdir/key.pem" --access-log stdout
