#!/usr/bin/env bash
# `make run`: serves the bundled site in www/ until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/tern}; port=${2:-8080}
echo "tern serving $PWD/www at http://127.0.0.1:$port/ (Ctrl-C stops)"
exec "$bin" serve www --listen "127.0.0.1:$port" --access-log stdout
