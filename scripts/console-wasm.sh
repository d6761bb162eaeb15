#!/usr/bin/env bash
# trunk's post_build hook (Trunk.toml): builds the console's wasm split per
# page and writes it, with its JS glue, next to the index.html trunk staged.
#
# trunk's own Rust step cannot split a wasm module (trunk-rs/trunk#1022), and
# one module for the whole console is twice the 250 KB budget of issue 4. So:
#   1. cargo links the console with relocations kept (`--emit-relocs`);
#   2. `wasm-split-cli` (what cargo-leptos runs for `--split`) cuts the module
#      at each `#[lazy_route]` (src/app.rs): a main module with the shell and
#      login, one module per page, and chunks of code several pages share;
#   3. wasm-bindgen generates the glue for the main module only, keeping the
#      linker's exports (memory, table, stack pointer) the page modules import;
#   4. in release, wasm-opt -Oz optimizes every module, one per core at a time;
#   5. the small chunks go into one file, fetched once (scripts/pack-chunks.mjs);
#   6. every file is also written as brotli and gzip (scripts/precompress.mjs).
# Everything lands in pkg/<content hash>/; index.html loads the main module
# from there, and `__wasm_split.js` fetches a page's modules, relative to
# itself, the first time that page is shown.
set -euo pipefail
: "${TRUNK_STAGING_DIR:?run by trunk as a post_build hook (see Trunk.toml)}"
cd "${TRUNK_SOURCE_DIR:-$(dirname "$0")/..}"

name=setpoint-console
target_dir=${CARGO_TARGET_DIR:-target}
if [[ "${TRUNK_PROFILE:-debug}" == release ]]; then
  profile=console # size-optimized, Cargo.toml
  profile_dir=console
else
  profile=dev
  profile_dir=debug
fi

# The link argument goes to the final crate only, so dependencies keep the
# artifacts every other wasm build (browser tests, clippy) shares.
cargo rustc --quiet -p "$name" --bin "$name" --target wasm32-unknown-unknown \
  --profile "$profile" -- -C link-arg=--emit-relocs

work="$target_dir/console-split/$profile_dir"
rm -rf "$work"
wasm-split-cli --target web --out-name "$name" \
  "$target_dir/wasm32-unknown-unknown/$profile_dir/$name.wasm" "$work"
wasm-bindgen --target web --no-typescript --keep-lld-exports \
  --out-dir "$work/bindgen" --out-name "$name" "$work/$name.wasm"
rm "$work/$name.wasm"
mv "$work/bindgen/$name.js" "$work/bindgen/${name}_bg.wasm" "$work/"
rmdir "$work/bindgen"

if [[ "${TRUNK_PROFILE:-debug}" == release ]]; then
  # npm's binaryen 132 (scripts/setup.sh); it reads each module's
  # target_features section, so no feature flags are needed. It warns about
  # a name subsection it does not know and then drops the section: noise.
  find "$work" -name '*.wasm' -print0 |
    xargs -0 -P "$(nproc)" -I{} wasm-opt -Oz --strip-debug --strip-producers {} -o {} 2>&1 |
    { grep -v "unknown name subsection" || true; }
fi

# The small chunks shared by several pages, in one file fetched once.
node scripts/pack-chunks.mjs "$work" 16384

# One directory per build, named by its content: the server caches it for
# good, and a tab open across a rebuild gets a 404 for the old build's
# modules instead of a new module under an old name (crates/server/src/console.rs).
hash=$(cat "$work"/*.wasm "$work"/*.js "$work"/chunks.pack | sha256sum | cut -c1-16)
mkdir -p "$TRUNK_STAGING_DIR/pkg/$hash"
cp "$work"/*.wasm "$work"/*.js "$work"/chunks.pack "$TRUNK_STAGING_DIR/pkg/$hash/"
sed -i "s#\"/$name\(_bg\.wasm\|\.js\)\"#\"/pkg/$hash/$name\1\"#g" "$TRUNK_STAGING_DIR/index.html"
grep -q "/pkg/$hash/${name}_bg.wasm" "$TRUNK_STAGING_DIR/index.html" ||
  { echo "console-wasm.sh: index.html does not load /$name.js and /${name}_bg.wasm" >&2; exit 1; }

# Every file also as brotli and gzip, compressed once here at the highest
# levels; the server picks one by Accept-Encoding (crates/server/src/console.rs).
node scripts/precompress.mjs "$TRUNK_STAGING_DIR"
