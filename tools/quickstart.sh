#!/usr/bin/env bash
# tools/quickstart.sh — the README's two Quick start commands.
#   tools/quickstart.sh demo   install packages, build (release), run `tracebox demo`
#   tools/quickstart.sh test   install packages, build (asan, -Werror), run the tests
# Packages come from Debian; apt-get runs through sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config python3 sqlite3
          libsqlite3-dev libcurl4-openssl-dev libcjson-dev libcmocka-dev
          zlib1g-dev libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev)

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "quickstart: installing ${missing[*]}" >&2
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

case "${1:-}" in
demo)
    install_packages
    cmake --preset release >/dev/null
    cmake --build --preset release -j"$(nproc)" >/dev/null
    ./build/release/tracebox demo
    ;;
test)
    install_packages
    # the Node binding's tests use the real @openai/agents-core from npm
    if command -v npm >/dev/null 2>&1; then
        npm ci --prefix bindings/node --no-audit --no-fund --loglevel=error ||
            echo "quickstart: npm ci failed; the Node binding tests will be skipped" >&2
    fi
    cmake --preset ci
    cmake --build --preset ci -j"$(nproc)"
    ctest --preset ci -j2
    # fork() with threads in the parent, again without sanitizers: GCC 12's
    # libasan does not lock its allocator around fork(), so under ASan a
    # child can hang in malloc for ASan's own reason (those cases skip
    # themselves there)
    # the release build installs under Debian's multiarch libdir
    # (lib/x86_64-linux-gnu), which package_install then checks
    multiarch=$(gcc -print-multiarch 2>/dev/null || true)
    cmake --preset release ${multiarch:+-DCMAKE_INSTALL_LIBDIR=lib/$multiarch}
    cmake --build --preset release -j"$(nproc)"
    ctest --preset release -R 'test_fork|bindings_python|package_install'
    ;;
*)
    echo "usage: tools/quickstart.sh demo|test" >&2
    exit 2
    ;;
esac
