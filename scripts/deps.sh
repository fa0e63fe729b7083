#!/usr/bin/env bash
# Installs the Debian 12 packages tern needs when they are missing.
#   scripts/deps.sh build   what `make` / `make run` need
#   scripts/deps.sh test    that plus what `make test` needs
# As root it runs apt-get; otherwise it prints the exact apt-get line and fails.
set -euo pipefail
what=${1:-build}
build_pkgs=(gcc make meson ninja-build pkg-config libyaml-dev zlib1g-dev libbrotli-dev libzstd-dev libssl-dev openssl libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev libpcre2-dev libcrypt-dev libhiredis-dev)
test_pkgs=(clang libclang-rt-14-dev python3 python3-pytest python3-pytest-xdist python3-h2 python3-cryptography systemd groff-base curl nghttp2-client brotli zstd chromium ngtcp2-client ngtcp2-server nginx h2o apache2-utils redis-server prometheus)
pkgs=("${build_pkgs[@]}")
[ "$what" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "tern needs these Debian packages; run as root:" >&2
  echo "  apt-get update && $line" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
