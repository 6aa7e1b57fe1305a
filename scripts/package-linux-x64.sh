#!/bin/sh
# Build the self-contained x86-64 Linux release of zbs-reroute: one bundled JS
# file, the Node.js binary, and the shell files and schemas it reads at run
# time. Runs where there is no Node.js and no node_modules (e.g. an SCVM).
# The entry is src/cli/main.ts itself: its `require.main === module` guard runs the CLI.
# See docs/packaging.md.
#
# usage: scripts/package-linux-x64.sh [--node PATH] [--out DIR]
#   --node PATH  node binary to ship (default: the node on PATH; must be x86-64 Linux, v20+)
#   --out DIR    where the release folder and tarball go (default: dist-pkg)
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
node_bin=$(command -v node || true)
out="$root/dist-pkg"
while [ $# -gt 0 ]; do
  case "$1" in
    --node) node_bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--node PATH] [--out DIR]" >&2; exit 2 ;;
  esac
done
if [ -z "$node_bin" ] || [ ! -x "$node_bin" ]; then echo "no node binary to ship (use --node PATH)" >&2; exit 1; fi
case "$(file -L "$node_bin" 2>/dev/null || echo unknown)" in
  *ELF*x86-64*|unknown) ;;
  *) echo "$node_bin is not an x86-64 ELF binary" >&2; exit 1 ;;
esac
esbuild="$root/node_modules/.bin/esbuild"
[ -x "$esbuild" ] || { echo "esbuild not found at $esbuild (npm ci first)" >&2; exit 1; }

version=$(cd "$root" && "$node_bin" -p "require('./package.json').version")
name="zbs-reroute-$version-linux-x64"
stage="$out/$name"
rm -rf "$stage" "$out/$name.tar.gz"
mkdir -p "$stage/lib/cli" "$stage/bin" "$stage/node/bin"

# ssh2's native helpers (cpu-features, sshcrypto.node) are optional: ssh2 falls
# back to pure JS when they cannot be loaded, so they are left out.
"$esbuild" "$root/src/cli/main.ts" --bundle --platform=node --target=node20 --format=cjs \
  --outfile="$stage/lib/cli/reroute.js" --external:cpu-features --external:'*.node' \
  --supported:dynamic-import=false --legal-comments=external --log-level=warning
# The launcher loads the bundle through vm.Script with V8's code cache (it cannot serve
# import(), hence dynamic-import=false above: esbuild turns it into require()).
cp "$root/scripts/release-launcher.js" "$stage/lib/cli/launch.js"

# Shell files shipped to ESXi hosts: scripts and their data only, no tests or test shims.
for d in agent probe apply preflight; do
  mkdir -p "$stage/esxi/$d"
  for f in "$root/esxi/$d"/*; do
    case "$f" in *.test.ts|*.ts|*/test-shims) continue ;; esac
    [ -f "$f" ] && cp -p "$f" "$stage/esxi/$d/"
  done
done
mkdir -p "$stage/schemas" "$stage/examples" "$stage/deploy/systemd"
cp -p "$root"/schemas/*.json "$stage/schemas/"
cp -p "$root"/examples/*.yaml "$stage/examples/"
cp -p "$root/deploy/systemd/reroute-watch.service" "$stage/deploy/systemd/"
# The shipped monitoring (docs/monitoring.md): scrape config, alert rules and their promtool tests, dashboard.
cp -pR "$root/deploy/prometheus" "$root/deploy/grafana" "$stage/deploy/"
cp -p "$root/LICENSE" "$stage/" 2>/dev/null || true
cp -p "$node_bin" "$stage/node/bin/node"

cat > "$stage/bin/reroute" <<'LAUNCH'
#!/bin/sh
# zbs-reroute launcher: the shipped node runs the bundled CLI (symlinks to this file work).
self=$(readlink -f "$0")
here=$(cd "$(dirname "$self")/.." && pwd)
exec "$here/node/bin/node" "$here/lib/cli/launch.js" "$@"
LAUNCH
chmod 0755 "$stage/bin/reroute"

# Warm-up run: the launcher writes lib/cli/reroute.js.v8cache (code cache of the bundle and
# of what validate compiled), shipped so that the first run on the target is fast too.
# Without it (e.g. a node that cannot run here) each user's first run writes it, if it may.
if ! "$stage/bin/reroute" validate -f "$stage/examples/cluster-3node.yaml" >/dev/null 2>&1; then
  echo "warning: warm-up run failed; the release ships without a code cache" >&2
fi

tar -C "$out" -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz"
