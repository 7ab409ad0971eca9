#!/usr/bin/env bash
# Installs the Debian 12 packages clipfilter needs to build, test and run.
set -euo pipefail
pkgs=(
  meson ninja-build pkg-config gcc libc6-dev python3
  libglib2.0-dev libopenblas-dev libcjson-dev libdnnl-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  valgrind
  libsqlite3-dev sqlite3 libpq-dev zlib1g-dev postgresql-15 libsoup-3.0-dev libmosquitto-dev
  mosquitto mosquitto-clients openssl
  gobject-introspection libgirepository1.0-dev gir1.2-gstreamer-1.0
  gir1.2-gst-plugins-base-1.0 python3-gi python3-gst-1.0
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  clang libclang-rt-14-dev clang-format indent
  chromium fonts-dejavu-core sqlite3 curl
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
