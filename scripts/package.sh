#!/usr/bin/env bash
# Builds the Debian packages dmon and dmon-dev from a finished build (scripts/build.sh BUILD_DIR:
# the binaries that were tested are the ones packaged), with debhelper, and checks them with
# lintian. Prints the paths of the .deb files.
#
# usage: scripts/package.sh [BUILD_DIR] [OUT_DIR] [REVISION]
#   BUILD_DIR  default build/          OUT_DIR  default BUILD_DIR/packages/
#   REVISION   the Debian revision (default 1): the version is the project's, e.g. 0.1.0-1
# Environment: DMON_MAINTAINER="Name <mail>"; DMON_PACKAGE_NO_LINT=1 to skip lintian.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=$(cd "${1:-build}" && pwd)
out=${2:-$build/packages}
revision=${3:-1}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# Who the packages name as their maintainer: DMON_MAINTAINER="Name <mail>" to sign them as yours.
maintainer=${DMON_MAINTAINER:-dmon maintainers <dmon@example.org>}
version=$(sed -n 's/^project(dmon VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ -n "$version" ] || { echo "[package] error: no version in CMakeLists.txt" >&2; exit 1; }
for tool in dh dpkg-buildpackage lintian fakeroot help2man; do
  command -v "$tool" >/dev/null || { echo "[package] error: $tool missing: scripts/setup.sh --tests installs it" >&2; exit 1; }
done
[ -x "$build/bin/dmon" ] || { echo "[package] error: $build/bin/dmon missing: build first (scripts/build.sh $build)" >&2; exit 1; }

work=$(mktemp -d /tmp/dmon-package.XXXXXX)
trap 'rm -rf "$work"' EXIT
source_dir=$work/dmon-$version
mkdir -p "$source_dir"
cp -r config/debian "$source_dir/debian"
sed -i "s|@MAINTAINER@|$maintainer|" "$source_dir/debian/control"
# The units, named as dh_installsystemd looks for them.
cp config/systemd/dmon-agent.service "$source_dir/debian/dmon.dmon-agent.service"
cp config/systemd/dmon-controller.service "$source_dir/debian/dmon.dmon-controller.service"
cat >"$source_dir/debian/changelog" <<CHANGELOG
dmon ($version-$revision) unstable; urgency=medium

  * Built from $(git rev-parse --short HEAD 2>/dev/null || echo "a source tree") by scripts/package.sh.

 -- $maintainer  $(date -R)
CHANGELOG

# What the build installs, into debian/tmp under /usr, and the files a package adds around it.
echo "[package] installing $build into the package tree"
DESTDIR="$source_dir/debian/tmp" cmake --install "$build" --prefix /usr >/dev/null
tmp=$source_dir/debian/tmp
mkdir -p "$tmp/etc/dmon" "$tmp/usr/share/doc/dmon"
cp config/agent.yaml config/controller.yaml config/standalone.yaml "$tmp/etc/dmon/"
cp README.md "$tmp/usr/share/doc/dmon/"
# Man pages from the programs' own --help, so they cannot drift from it.
mkdir -p "$tmp/usr/share/man/man1"
help2man -N --no-discard-stderr -n "plugin-based monitoring host: an agent or a controller" \
  "$build/bin/dmon" -o "$tmp/usr/share/man/man1/dmon.1"
help2man -N --no-discard-stderr -n "query, watch and control dmon hosts and their stores" \
  "$build/bin/dmonctl" -o "$tmp/usr/share/man/man1/dmonctl.1"

# -nc: no "debian/rules clean" first, which would remove debian/tmp.
echo "[package] dpkg-buildpackage (debhelper) for dmon $version-$revision"
if ! (cd "$source_dir" && dpkg-buildpackage -b -uc -us -d -nc >"$work/build.log" 2>&1); then
  echo "[package] error: dpkg-buildpackage failed:" >&2
  tail -n 40 "$work/build.log" >&2
  exit 1
fi
debs=()
for file in "$work"/dmon_*.deb "$work"/dmon-dev_*.deb; do
  cp "$file" "$out/"
  debs+=("$out/$(basename "$file")")
done

# Errors fail the build; warnings are shown (config/debian/lintian-suppressed says why for the
# few not shown). DMON_PACKAGE_NO_LINT=1 skips it (a second revision of the same files).
if [ "${DMON_PACKAGE_NO_LINT:-0}" = 1 ]; then
  printf '%s\n' "${debs[@]}"
  exit 0
fi
echo "[package] lintian"
lintian --fail-on error --suppress-tags-from-file config/debian/lintian-suppressed "${debs[@]}" | sed 's/^/[lintian] /' || {
  echo "[package] error: lintian found errors" >&2
  exit 1
}
printf '%s\n' "${debs[@]}"
