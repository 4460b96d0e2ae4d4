#!/bin/sh
# Install this build tree under a temporary prefix (cmake --install
# --prefix) and build a program against it twice: with pkg-config, and with
# CMake's find_package (shared and static targets). Each program must run
# and print the library's version. Usage: verify_install.sh BUILD_DIR
set -eu
build=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cmake --install "$build" --prefix "$dir/inst" >/dev/null
pc=$(find "$dir/inst" -name tracebox.pc)
libdir=$(dirname "$(dirname "$pc")")
echo "installed; tracebox.pc at ${pc#"$dir"/}"
# the libdir the build was configured with (a multiarch one in CI) is where
# the library and its .pc landed
want=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
[ "$libdir" = "$dir/inst/$want" ] || { echo "libdir $libdir, configured $want" >&2; exit 1; }
cat > "$dir/m.c" <<'C'
#include <tracebox.h>
#include <stdio.h>
int main(void) { printf("tracebox %s\n", tb_version()); return 0; }
C
# pkg-config
flags=$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags --libs tracebox)
cc "$dir/m.c" $flags -Wl,-rpath,"$libdir" -o "$dir/m_pc"
"$dir/m_pc"
# find_package
mkdir "$dir/fp"
cat > "$dir/fp/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.20)
project(use C)
find_package(tracebox REQUIRED)
add_executable(use_shared $dir/m.c)
target_link_libraries(use_shared PRIVATE tracebox::tracebox)
set_target_properties(use_shared PROPERTIES BUILD_RPATH "$libdir")
add_executable(use_static $dir/m.c)
target_link_libraries(use_static PRIVATE tracebox::tracebox_static)
CM
cmake -S "$dir/fp" -B "$dir/fpb" -DCMAKE_PREFIX_PATH="$dir/inst" >/dev/null
cmake --build "$dir/fpb" >/dev/null
"$dir/fpb/use_shared"
"$dir/fpb/use_static"
echo "pkg-config and find_package (shared and static) build and run"
