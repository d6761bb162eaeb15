#!/usr/bin/env bash
# Builds Unleash Edge 19.15.1 — the peer of bench/ofrep.sh — from crates.io
# with no internet beyond the registries, once (about 7 minutes), and prints
# the path of its binary.
#
# Its build script downloads Swagger UI's release zip unless
# SWAGGER_UI_DOWNLOAD_URL points at one; npm's swagger-ui-dist@5.17.14 holds
# the same files, repacked here with the top folder the script expects
# (swagger-ui-5.17.14/dist/). `--locked` because a newer dependency fails to
# compile; no default features because they only add TLS back ends.
#
# Never part of the test command: a benchmark's peer, not a test's.
set -euo pipefail

version=19.15.1
swagger=5.17.14
root=${UNLEASH_EDGE_ROOT:-$HOME/.cache/setpoint-bench/unleash-edge-$version}
bin="$root/bin/unleash-edge"
if [[ -x $bin ]]; then
  echo "$bin"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "swagger-ui-dist@$swagger" >/dev/null)
python3 - "$work" "$swagger" <<'PY'
import sys, tarfile, zipfile, pathlib
work, version = pathlib.Path(sys.argv[1]), sys.argv[2]
tgz = next(work.glob("swagger-ui-dist-*.tgz"))
with tarfile.open(tgz) as tar, zipfile.ZipFile(work / f"v{version}.zip", "w") as out:
    for member in tar.getmembers():
        if member.isfile() and member.name.startswith("package/"):
            name = f"swagger-ui-{version}/dist/" + member.name[len("package/"):]
            out.writestr(name, tar.extractfile(member).read())
PY
echo "building unleash-edge $version into $root (about 7 minutes, once)" >&2
SWAGGER_UI_DOWNLOAD_URL="file://$work/v$swagger.zip" \
  cargo install --quiet --locked unleash-edge --version "$version" --no-default-features --root "$root" >&2
echo "$bin"
