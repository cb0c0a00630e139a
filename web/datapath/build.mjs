// Bundles the data path for the static site: datapath.js (loaded by
// worker.js with importScripts) and datapath-worker.js (its crypto
// workers), each one classic script with its npm dependencies inside.
// Usage: node build.mjs OUTDIR
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
await build({ ...common, entryPoints: ['datapath.js'], outfile: `${out}/datapath.js` });
await build({ ...common, entryPoints: ['crypto-worker.js'], outfile: `${out}/datapath-worker.js` });
