// Packs the console's small wasm chunks into one file, `chunks.pack`,
// fetched once, the first time any page needs one of them.
//
// wasm-split cuts code shared by several pages into a chunk per set of
// pages sharing it: ~150 chunks, most under a kilobyte, so a first visit
// to the overview made 65 requests for them. Packed, it makes one; the
// price is that the pack holds chunks of pages not visited yet (measured
// in docs/performance.md). Chunks from LIMIT bytes on stay files of their
// own: they are few, and a page that does not need one should not pay it.
//
// Run by scripts/console-wasm.sh on the split output, after wasm-opt and
// before the build's hash: rewrites __wasm_split.js so that each packed
// chunk's `fetch` becomes a slice of the pack, and removes the chunk files.
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [dir, limitText = '16384'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/pack-chunks.mjs DIR [LIMIT_BYTES]');
  process.exit(2);
}
const LIMIT = Number(limitText);
const loaderPath = path.join(dir, '__wasm_split.js');
let loader = readFileSync(loaderPath, 'utf8');

const number = (file) => Number(file.match(/\d+/)[0]);
const small = readdirSync(dir)
  .filter((file) => /^chunk_\d+\.wasm$/.test(file))
  .sort((a, b) => number(a) - number(b))
  .map((file) => [file, readFileSync(path.join(dir, file))])
  .filter(([, bytes]) => bytes.length < LIMIT);

const index = {};
let offset = 0;
for (const [file, bytes] of small) {
  const fetched = `fetch(new URL("./${file}", import.meta.url))`;
  // The loader's shape is wasm-split's; if it changes, stop the build
  // rather than ship a console that cannot load its pages.
  if (loader.split(fetched).length !== 2) {
    throw new Error(`pack-chunks: __wasm_split.js does not fetch ${file} once as expected`);
  }
  loader = loader.replace(fetched, `__packed("${file}")`);
  index[file] = [offset, bytes.length];
  offset += bytes.length;
}

const prelude = `
// Small chunks travel in one file, chunks.pack (scripts/pack-chunks.mjs).
const __packIndex = ${JSON.stringify(index)};
let __pack;
function __packed(file) {
    if (__pack === undefined) {
        const pack = fetch(new URL("./chunks.pack", import.meta.url)).then((response) => {
            if (!response.ok) throw new Error("chunks.pack: " + response.status);
            return response.arrayBuffer();
        });
        // A failed fetch is not kept: the next page load tries again.
        pack.catch(() => { if (__pack === pack) __pack = undefined; });
        __pack = pack;
    }
    const [offset, length] = __packIndex[file];
    return __pack.then((bytes) => new Response(bytes.slice(offset, offset + length), {
        headers: { "content-type": "application/wasm" },
    }));
}
`;
const firstLineEnd = loader.indexOf('\n') + 1;
loader = loader.slice(0, firstLineEnd) + prelude + loader.slice(firstLineEnd);

writeFileSync(path.join(dir, 'chunks.pack'), Buffer.concat(small.map(([, bytes]) => bytes)));
writeFileSync(loaderPath, loader);
for (const [file] of small) unlinkSync(path.join(dir, file));
console.log(`pack-chunks: ${small.length} chunks under ${LIMIT} B packed, ${offset} B`);
