// Writes `<file>.br` and `<file>.gz` beside every console file worth
// compressing, at build time and at the highest levels, so that the server
// sends them as they are (crates/server/src/console.rs) instead of spending
// a request's time compressing. Called by scripts/console-wasm.sh on
// trunk's staging directory. Node's zlib has both encoders: no download.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const [dir] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/precompress.mjs DIR');
  process.exit(2);
}

// Below this a response fits a packet or two either way.
const MIN_BYTES = 1024;
const COMPRESSIBLE = /\.(wasm|js|css|html|svg|json|pack)$/;

function* files(root) {
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const full = path.join(root, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else if (COMPRESSIBLE.test(entry.name)) yield full;
  }
}

let before = 0;
let after = 0;
for (const file of files(dir)) {
  const bytes = readFileSync(file);
  if (bytes.length < MIN_BYTES) continue;
  const br = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  const gz = gzipSync(bytes, { level: 9 });
  // A variant no smaller than the file is not worth a lookup.
  if (br.length < bytes.length) writeFileSync(`${file}.br`, br);
  if (gz.length < bytes.length) writeFileSync(`${file}.gz`, gz);
  before += bytes.length;
  after += Math.min(br.length, bytes.length);
}
console.log(`precompress: ${before} B of console files, ${after} B as brotli`);
