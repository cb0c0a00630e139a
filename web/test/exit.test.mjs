// The worker's report of a Go program that exited (a panic): the page is
// told the panic's line, not only that the client stopped. The wrapper
// around wasm_exec.js's fs.writeSync and exitReason run here against a
// stand-in fs, as the worker runs them (engines.test.mjs has no way to
// make the real client panic).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from './harness.mjs';

const src = fs.readFileSync(path.join(REPO, 'web/worker.js'), 'utf8');
const body = src.match(/let goFatal = '';[\s\S]*?\nfunction exitReason\(\) \{[\s\S]*?\n}\n/)[0];

function load() {
  const logged = [];
  const fakeFs = {
    writeSync(fd, buf) {
      logged.push([fd, new TextDecoder().decode(buf)]);
      return buf.length;
    },
  };
  const exitReason = new Function('globalThis', `${body}; return exitReason;`)({ fs: fakeFs });
  const write = (fd, s) => fakeFs.writeSync(fd, new TextEncoder().encode(s));
  return { exitReason, write, logged };
}

test('an exit without a panic says only that the client stopped', () => {
  const { exitReason, write } = load();
  write(1, 'panic: on stdout is not a crash\n');
  assert.equal(exitReason(), 'the wasm client stopped');
});

test("a panic's line is the reason, even written in pieces, and everything is still logged", () => {
  const { exitReason, write, logged } = load();
  write(2, 'some log line\npan');
  write(2, 'ic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.f()\n');
  assert.equal(exitReason(), 'the wasm client stopped: panic: runtime error: index out of range [3] with length 3');
  assert.equal(logged.length, 2);
});

test('a fatal error is a reason too, kept through a long stack after it', () => {
  const { exitReason, write } = load();
  write(2, 'fatal error: all goroutines are asleep - deadlock!\n');
  for (let i = 0; i < 20000; i++) write(2, `goroutine ${i} [chan receive]:\nmain.main()\n\t/src/main.go:10 +0x1\n`);
  assert.equal(exitReason(), 'the wasm client stopped: fatal error: all goroutines are asleep - deadlock!');
});
