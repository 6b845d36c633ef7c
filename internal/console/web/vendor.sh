#!/bin/sh
# Copy the front-end libraries listed in vendor.txt from node_modules into
# static/vendor. Run npm ci at the module root first; commit the result.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
modules="$here/../../../node_modules"
[ -d "$modules" ] || { echo "vendor.sh: no $modules: run npm ci at the module root" >&2; exit 1; }
rm -rf "$here/static/vendor"
grep -v '^#' "$here/vendor.txt" | while read -r pkg src dst; do
	[ -n "$pkg" ] || continue
	mkdir -p "$(dirname "$here/static/vendor/$dst")"
	cp "$modules/$pkg/$src" "$here/static/vendor/$dst"
	echo "$pkg/$src -> static/vendor/$dst"
done
