// npm test: runs test/*.test.mjs one file at a time. Node 20 has a
// WebSocket client only behind --experimental-websocket (newer Node has it
// built in), so the flag is added only when needed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const files = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.test.mjs'))
  .sort()
  .map((f) => path.join(dir, f));
const flags = typeof WebSocket === 'undefined' ? ['--experimental-websocket'] : [];
const child = spawn(
  process.execPath,
  [...flags, '--test', '--test-concurrency=1', '--test-timeout=600000', ...process.argv.slice(2), ...files],
  { stdio: 'inherit' },
);
child.on('exit', (code, sig) => process.exit(sig ? 1 : code));
