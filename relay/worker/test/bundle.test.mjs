// The Worker bundle as `wrangler deploy` would upload it (--dry-run: no
// account, nothing sent), checked against the Workers size limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { WORKER, buildWorker, tmpdir } from './harness.mjs';

// Workers Free plan: 3 MB after compression (Paid: 10 MB).
const FREE_PLAN_LIMIT = 3_000_000;

test('the bundle fits the Workers Free plan size limit', async () => {
  await buildWorker();
  const out = await tmpdir('wasmhole-worker-bundle-');
  try {
    const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' };
    for (const k of Object.keys(env)) if (k.startsWith('CLOUDFLARE_')) delete env[k];
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [path.join(WORKER, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', out],
      { cwd: WORKER, env, maxBuffer: 1 << 24 },
    );
    const m = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(stdout + stderr);
    assert.ok(m, stdout + stderr);
    const [total, gzip] = [Number(m[1]) * 1024, Number(m[2]) * 1024];
    console.log(
      `# bundle: ${Math.round(total)} bytes, ${Math.round(gzip)} bytes gzip (limit ${FREE_PLAN_LIMIT} Free, 10 MB Paid)`,
    );
    assert.ok(gzip < FREE_PLAN_LIMIT, `bundle is ${gzip} bytes compressed`);
    // The Go core travels as a separate wasm module (compiled at upload,
    // instantiated per Durable Object), next to the bundled shim that
    // carries Go's wasm_exec.js.
    const files = await fsp.readdir(out);
    assert.ok(
      files.some((f) => f.endsWith('relay.wasm')),
      files.join(' '),
    );
    const js = fs.readFileSync(path.join(out, 'index.js'), 'utf8');
    assert.match(js, /globalThis\.Go = class/);
  } finally {
    await fsp.rm(out, { recursive: true, force: true });
  }
});
