// Bundles the data path for the static site: datapath.js (loaded by
// worker.js with importScripts) and datapath-worker.js (its crypto
// workers), each one classic script with its npm dependencies inside.
// With --page it bundles the page's modules instead: web/app.js and
// web/app/*.js into OUTDIR/app.js, one ES module. A browser fetches at most
// six files at once from an HTTP/1.1 host, and thirteen modules held back
// the first paint. The JS API, wasmhole.js, stays a module of its own, so
// the page and anyone importing web/wasmhole.js share one instance; the QR
// encoder, web/qrcode.js with the npm package qr inside, is one too, which
// the page imports only when it shows a code.
// Usage: node build.mjs OUTDIR [--page]
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const out = process.argv[2];
if (!out) throw new Error('usage: node build.mjs OUTDIR');
const common = {
  bundle: true,
  format: 'iife',
  target: 'es2020',
  minify: true,
  legalComments: 'eof',
  logLevel: 'warning',
  define: { 'import.meta.url': 'self.location.href' },
};
if (process.argv[3] === '--page') {
  /** @type {import('esbuild').Plugin} */
  const api = {
    name: 'wasmhole-api-external',
    setup(b) {
      // Imported as '../wasmhole.js' and '../qrcode.js' from web/app/; beside
      // the bundle they are './wasmhole.js' and './qrcode.js'.
      b.onResolve({ filter: /(^|\/)(wasmhole|qrcode)\.js$/ }, (a) => ({
        path: `./${a.path.split('/').pop()}`,
        external: true,
      }));
    },
  };
  await build({
    bundle: true,
    format: 'esm',
    target: 'es2020',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
    entryPoints: ['../app.js'],
    outfile: `${out}/app.js`,
    plugins: [api],
  });
  await build({
    ...common,
    format: 'esm',
    entryPoints: ['../qrcode.js'],
    outfile: `${out}/qrcode.js`,
    // web/qrcode.js imports 'qr', installed here rather than above web/.
    nodePaths: [fileURLToPath(new URL('node_modules', import.meta.url))],
  });
} else {
  await build({ ...common, entryPoints: ['datapath.js'], outfile: `${out}/datapath.js` });
  await build({ ...common, entryPoints: ['crypto-worker.js'], outfile: `${out}/datapath-worker.js` });
}
