#!/usr/bin/env bash
# Installs the Debian 12 packages Quilt needs (only the missing ones), then
# configures and builds into build/. Safe to run again. Arguments name the
# targets to build (default: everything, tests included).
set -euo pipefail
cd "$(dirname "$0")/.."

# dpkg-dev: dpkg-shlibdeps, which cpack -G DEB uses for the package's
# Depends (packaging/CMakeLists.txt, tests/integration/test_install.py).
# clang and libclang-rt-14-dev (its sanitizer and libFuzzer runtimes, which
# -fsanitize=fuzzer links) are for the fuzz targets of scripts/test.sh;
# graphviz draws the pictures (scripts/sim-picture.sh). file: cpack's DEB
# generator refuses to run without it. systemd: for systemd-analyze, with
# which tests/integration/test_install.py verifies quiltd@.service (it
# works in a container or chroot where systemd is not running; installing
# the package starts nothing there). python3-matplotlib draws a simulation's
# timeline (scripts/sim-timeline.py). libmicrohttpd-dev serves [http]
# (SPEC §15; docs/ARCHITECTURE.md says why this library); chromium loads
# the node's page in tests/integration/test_http_browser.py.
packages=(g++ cmake make pkg-config libcaf-dev cppzmq-dev libzmq3-dev
          libtomlplusplus-dev catch2 nlohmann-json3-dev libreadline-dev libcli11-dev
          libssl-dev openssl python3 python3-zmq clang libclang-rt-14-dev
          graphviz dpkg-dev file systemd python3-matplotlib
          libmicrohttpd-dev chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build -j"$(nproc)" "${targets[@]}"
