#!/usr/bin/env bash
# Cross-builds dmon for 64-bit Windows with mingw-w64: dmon.exe, dmonctl.exe, the portable
# plugins and the WMI plugins as DLLs, and the portable unit tests as .exe (run under Wine).
# libyaml, rabbitmq-c and SQLite are built for mingw from Debian source packages, once, and
# cached in .dmon/windows-deps (rebuilt only when their Debian version changes). Boost, fmt and
# spdlog are used header-only from Debian's headers.
#
# usage: scripts/build-windows.sh [BUILD_DIR]     (default build-windows/)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build_dir=${1:-build-windows}
deps=$root/.dmon/windows-deps
prefix=$deps/prefix
jobs=${DMON_JOBS:-2}

packages=(g++-mingw-w64-x86-64-posix gcc-mingw-w64-x86-64-posix mingw-w64-tools wine64 dpkg-dev tcl
          libgtest-dev libboost-dev nlohmann-json3-dev libspdlog-dev libfmt-dev librabbitmq-dev libyaml-dev libsqlite3-dev cmake ninja-build)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[windows] installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi

# Source packages need a deb-src line for the same archive as the binary packages.
if ! grep -rqs "^Types: deb-src\|^deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "[windows] adding deb-src lines for Debian's source packages"
  cat >/etc/apt/sources.list.d/dmon-deb-src.sources <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
fi

mkdir -p "$deps/src" "$prefix/include" "$prefix/lib"
toolchain=(-DCMAKE_TOOLCHAIN_FILE="$root/cmake/mingw-w64.cmake" -DDMON_WINDOWS_PREFIX="$prefix"
           -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" -G Ninja)

# fetch SOURCE_PACKAGE BINARY_PACKAGE -> prints the unpacked folder. The source version is the
# installed binary's; when the security archive lacks that source, the newest one apt has.
fetch() {
  local source=$1 binary=$2 version folder
  version=$(dpkg-query -W -f='${source:Version}' "$binary")
  cd "$deps/src"
  if ! ls -d "$source"-*/ >/dev/null 2>&1 || [ ! -f "$source.version" ] || [ "$(cat "$source.version")" != "$version" ]; then
    rm -rf "$source"-*/ "$source"_*
    if ! apt-get source -qq "$source=$version" >/dev/null 2>&1; then
      # The security archive may list a source it does not serve: try the others, newest first.
      local fetched=""
      for other in $(apt-cache showsrc "$source" | awk '/^Version:/ {print $2}' | sort -rV); do
        if apt-get source -qq "$source=$other" >/dev/null 2>&1; then fetched=$other; break; fi
      done
      [ -n "$fetched" ] || { echo "[windows] error: no source package of $source could be fetched" >&2; exit 1; }
      echo "[windows] $source $version has no source here; built from $fetched" >&2
    fi
    echo "$version" >"$source.version"
  fi
  folder=$(ls -d "$source"-*/ | head -n 1)
  cd "$root"
  echo "$deps/src/${folder%/}"
}

built() { [ -f "$deps/$1.built" ] && [ "$(cat "$deps/$1.built")" = "$(dpkg-query -W -f='${source:Version}' "$2")" ]; }
mark() { dpkg-query -W -f='${source:Version}' "$2" >"$deps/$1.built"; }

if ! built libyaml libyaml-dev; then
  echo "[windows] building libyaml for mingw"
  src=$(fetch libyaml libyaml-dev)
  cmake -S "$src" -B "$deps/build-libyaml" "${toolchain[@]}" -DBUILD_SHARED_LIBS=OFF -DBUILD_TESTING=OFF \
    -DINSTALL_CMAKE_DIR=lib/cmake/yaml >/dev/null
  ninja -C "$deps/build-libyaml" -j "$jobs" install >/dev/null
  mark libyaml libyaml-dev
fi

if ! built rabbitmq-c librabbitmq-dev; then
  echo "[windows] building rabbitmq-c for mingw (without TLS: no OpenSSL for mingw here)"
  src=$(fetch librabbitmq librabbitmq-dev)
  cmake -S "$src" -B "$deps/build-rabbitmq" "${toolchain[@]}" -DENABLE_SSL_SUPPORT=OFF -DBUILD_SHARED_LIBS=OFF \
    -DBUILD_STATIC_LIBS=ON -DBUILD_EXAMPLES=OFF -DBUILD_TOOLS=OFF -DBUILD_TESTS=OFF -DBUILD_API_DOCS=OFF >/dev/null
  ninja -C "$deps/build-rabbitmq" -j "$jobs" install >/dev/null
  mark rabbitmq-c librabbitmq-dev
fi

if ! built sqlite3 libsqlite3-dev; then
  echo "[windows] building SQLite for mingw"
  src=$(fetch sqlite3 libsqlite3-dev)
  mkdir -p "$deps/build-sqlite"
  (cd "$deps/build-sqlite" && "$src/configure" --disable-tcl >/dev/null && make sqlite3.c >/dev/null)
  x86_64-w64-mingw32-gcc-posix -O2 -DSQLITE_THREADSAFE=1 -c "$deps/build-sqlite/sqlite3.c" -o "$deps/build-sqlite/sqlite3.o"
  x86_64-w64-mingw32-ar rcs "$prefix/lib/libsqlite3.a" "$deps/build-sqlite/sqlite3.o"
  cp "$deps/build-sqlite/sqlite3.h" "$deps/build-sqlite/sqlite3ext.h" "$prefix/include/"
  mark sqlite3 libsqlite3-dev
fi

# Header-only libraries from Debian, seen by the cross compiler through the prefix.
for header in boost spdlog fmt nlohmann; do
  [ -e "$prefix/include/$header" ] || ln -s "/usr/include/$header" "$prefix/include/$header"
done

echo "[windows] configuring $build_dir"
cmake -S . -B "$build_dir" "${toolchain[@]}" -DCMAKE_INSTALL_PREFIX="$root/$build_dir/install" \
  -DCMAKE_PREFIX_PATH="$prefix" -DDMON_BUILD_TESTS=ON -DDMON_BUILD_BENCH=OFF \
  -DDMON_GTEST_SOURCE_DIR=/usr/src/googletest >"$deps/configure.log" 2>&1 || { cat "$deps/configure.log" >&2; exit 1; }
echo "[windows] building $build_dir"
ninja -C "$build_dir" -j "$jobs" | sed -u 's/^/[windows] /'
exit "${PIPESTATUS[0]}"
