#!/usr/bin/env bash
# Builds the Windows installer (dmon-VERSION-x64.msi) from a finished Windows build
# (scripts/build-windows.sh BUILD_DIR) with wixl, Debian's WiX compiler (msitools).
# Prints the path of the .msi.
#
# usage: scripts/package-windows.sh [WINDOWS_BUILD_DIR] [OUT_DIR]
#   WINDOWS_BUILD_DIR default build-windows/     OUT_DIR default WINDOWS_BUILD_DIR/packages/
#   DMON_MSI_VERSION  the product version (default: the project's; the upgrade test builds a newer one)
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build-windows}" && pwd)
out=${2:-$build/packages}
mkdir -p "$out"
out=$(cd "$out" && pwd)
command -v wixl >/dev/null || { echo "[msi] error: wixl missing: scripts/setup.sh --tests installs it" >&2; exit 1; }
[ -f "$build/bin/dmon.exe" ] || { echo "[msi] error: $build/bin/dmon.exe missing: scripts/build-windows.sh $build first" >&2; exit 1; }
version=${DMON_MSI_VERSION:-$(sed -n 's/^project(dmon VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)}

work=$(mktemp -d /tmp/dmon-msi.XXXXXX)
trap 'rm -rf "$work"' EXIT
# wixl takes sources relative to the .wxs (it refuses absolute paths): everything is staged.
mkdir -p "$work/bin" "$work/plugins" "$work/config"
cp "$build/bin/dmon.exe" "$build/bin/dmonctl.exe" "$work/bin/"
cp "$build"/lib/dmon/*.dll "$work/plugins/"
cp config/agent-windows.yaml "$work/config/"
cp config/windows/dmon.wxs "$work/"
# One component per plugin DLL, whatever the build made.
{
  echo '<?xml version="1.0" encoding="utf-8"?>'
  echo '<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi"><Fragment>'
  echo '  <DirectoryRef Id="PLUGINDIR">'
  for dll in "$build"/lib/dmon/*.dll; do
    name=$(basename "$dll" .dll)
    echo "    <Component Id=\"plugin_$name\" Guid=\"*\" Win64=\"yes\"><File Id=\"plugin_$name.dll\" Name=\"$name.dll\" Source=\"plugins/$name.dll\" KeyPath=\"yes\"/></Component>"
  done
  echo '  </DirectoryRef>'
  echo '  <ComponentGroup Id="Plugins">'
  for dll in "$build"/lib/dmon/*.dll; do
    echo "    <ComponentRef Id=\"plugin_$(basename "$dll" .dll)\"/>"
  done
  echo '  </ComponentGroup>'
  echo '</Fragment></Wix>'
} >"$work/plugins.wxs"

msi=$out/dmon-$version-x64.msi
(cd "$work" && wixl -a x64 -D Version="$version" -D BinDir=bin -D ConfigDir=config \
  -o "$msi" dmon.wxs plugins.wxs) >&2
echo "$msi"
