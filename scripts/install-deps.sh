#!/usr/bin/env bash
# Installs the Debian packages Kiln builds and tests with. Idempotent; needs root (or sudo).
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config
      libcaf-dev librocksdb-dev libboost-json1.81-dev libfmt-dev catch2 libspdlog-dev
      libcli11-dev libcpp-httplib-dev libhowardhinnant-date-dev tzdata libraft-dev libuv1-dev prometheus-cpp-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
