#!/usr/bin/env bash
# Installs the Debian 12 packages tapegrad builds against, and any packages named as arguments.
# Idempotent: packages already present are not touched, and apt is not called at all when
# nothing is missing.
#
# OpenBLAS and xsimd are named explicitly: a fresh Debian image may carry only the netlib
# reference BLAS (15-18x slower sgemm), and libxtensor-dev only *recommends* xsimd.
set -euo pipefail

packages=(
  cmake g++ make
  libxtensor-dev xtl-dev libxsimd-dev libxtensor-blas-dev libopenblas-dev
  libboost-test-dev nlohmann-json3-dev libcli11-dev libbenchmark-dev python3-numpy
  libopenmpi-dev openmpi-bin  # tapegrad::distributed and its tests under mpirun
  libcpp-httplib-dev pkgconf  # tapegrad-lm serve (pkg-config gives its build flags)
  chromium chromium-driver python3-selenium  # the serve page tested in a real browser
  python3-mido  # an independent reader of the MIDI files tapegrad-melody writes
  graphviz  # renders Tape::to_dot's pictures in the tests
  "$@"  # what a script needs besides: scripts/fuzz.sh adds clang and its runtimes
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "setup: missing packages (${missing[*]}) and not root; install them as root" >&2
    exit 1
  fi
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
