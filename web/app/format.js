// @ts-check
// format.js: numbers, durations, progress and errors as people read them.
import { WasmholeError } from '../wasmhole.js';

export function fmtBytes(n) {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

export function fmtDuration(s) {
  if (!Number.isFinite(s)) return '';
  if (s < 60) return `${Math.max(1, Math.round(s))} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// Progress: bytes, speed (smoothed) and time left.
export class Meter {
  constructor(bar, numbers) {
    this.bar = bar;
    this.numbers = numbers;
    this.reset();
  }
  reset() {
    this.t0 = 0;
    this.last = null;
    this.speed = 0;
    this.bar.value = 0;
    this.bar.max = 1;
    this.numbers.textContent = '';
  }
  update(done, total) {
    const now = performance.now();
    if (!this.last) {
      this.t0 = now;
      this.last = { t: now, done };
    } else if (now - this.last.t >= 250) {
      const inst = ((done - this.last.done) * 1000) / (now - this.last.t);
      this.speed = this.speed ? 0.7 * this.speed + 0.3 * inst : inst;
      this.last = { t: now, done };
    }
    this.bar.max = Math.max(total, 1);
    this.bar.value = done;
    let s = `${fmtBytes(done)} of ${fmtBytes(total)}`;
    if (this.speed > 0 && done < total) {
      s += ` · ${fmtBytes(this.speed)}/s · ${fmtDuration((total - done) / this.speed)} left`;
    } else if (done >= total && now > this.t0) {
      const secs = (now - this.t0) / 1000;
      if (secs > 0.05) s += ` · ${fmtBytes((total * 1000) / Math.max(now - this.t0, 1))}/s average`;
    }
    this.numbers.textContent = s;
  }
}

const MESSAGES = {
  'wrong-code': 'Wrong code: the other side used a different code. Check it and try again.',
  'bad-code': 'That is not a wormhole code. It looks like 7-guitarist-revenge: a number, then words, joined by dashes.',
  'peer-cancelled': 'The other side cancelled the transfer.',
  'peer-gone': 'The other side disappeared: the connection was lost before the transfer finished.',
  'relay-unreachable': 'Cannot reach the relay. Check your connection, or the relay addresses under "Relay settings".',
  rejected: 'The receiver rejected the offer.',
  crowded: 'Someone else is already using this code. Start again with a new code.',
  unwelcome: 'The relay refused this client.',
  cancelled: 'Cancelled.',
  'save-failed': 'Saving failed.',
  'unpack-failed':
    'The folder could not be unpacked, so nothing of it was kept and the sender was told the transfer failed.',
  'too-large': 'This file is too large to receive in this browser.',
  overrun:
    'The file arrived faster than this browser could save it, and this browser cannot ask the sender to slow down, so the transfer was stopped rather than held in memory. Nothing incomplete was kept. Try again with a faster disk, or in a browser with WebSocketStream (Chrome, Edge).',
  integrity: 'The app failed its integrity check and was not started. Reload the page.',
};

// explain turns any error into a sentence for the page.
export function explain(err) {
  const e = err instanceof WasmholeError ? err : new WasmholeError('error', String((err && err.message) || err));
  const base = MESSAGES[e.code];
  if (base && e.code !== 'save-failed' && e.code !== 'unpack-failed') return base;
  if (base) return `${base} ${e.message}`;
  return `The transfer failed: ${e.message}`;
}
