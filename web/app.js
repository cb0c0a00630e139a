// app.js: the wasmhole page. Everything it does goes through the JS API in
// wasmhole.js; this file is only UI: forms, the code display, progress,
// completion, and turning errors into sentences.
import { Wasmhole, WasmholeError } from './wasmhole.js';

const $ = (id) => document.getElementById(id);
const CLI_DEFAULT_MAILBOX = 'ws://relay.magic-wormhole.io:4000/v1';
const SETTINGS_KEY = 'wasmhole.relays';

// ---- configuration ------------------------------------------------------

// Relay addresses: URL query (?mailbox=&transit=&transit-tcp=) over saved
// settings over config.json (next to index.html) over the page's own origin.
async function loadConfig() {
  let file = {};
  try {
    const res = await fetch(new URL('config.json', document.baseURI), { cache: 'no-store' });
    if (res.ok) file = await res.json();
  } catch { /* no config.json: same-origin defaults */ }
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || '{}') || {}; } catch { saved = {}; }
  const q = new URLSearchParams(location.search);
  const pick = (key, param) => q.get(param) || saved[key] || file[key] || '';
  const wsOrigin = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host;
  const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
  return {
    mailbox: pick('mailbox', 'mailbox') || `${wsOrigin}/v1`,
    transit: pick('transit', 'transit') || `${wsOrigin}/transit`,
    // "none" turns the TCP address off (a relay without a TCP port).
    transitTCP: (pick('transitTCP', 'transit-tcp') || `${host}:4001`).replace(/^none$/, ''),
    cliTransitHelper: file.cliTransitHelper || '',
    file, saved,
  };
}

function clientOptions(cfg) {
  const relay = { websocket: [cfg.transit] };
  if (cfg.transitTCP) relay.tcp = [cfg.transitTCP];
  return { mailboxURL: cfg.mailbox, relays: [relay] };
}

// The command the other person types. --relay-url unless our mailbox is
// the CLI's default; --transit-helper only when the CLI cannot learn our
// relay's TCP address from the relay hint we send (none is configured).
export function cliCommand(cfg, code) {
  const parts = ['wormhole'];
  if (cfg.mailbox !== CLI_DEFAULT_MAILBOX) parts.push('--relay-url', cfg.mailbox);
  if (!cfg.transitTCP && cfg.cliTransitHelper) parts.push('--transit-helper', cfg.cliTransitHelper);
  parts.push('receive', code);
  return parts.join(' ');
}

// ---- formatting -----------------------------------------------------------

function fmtBytes(n) {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do { v /= 1000; i++; } while (v >= 1000 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

function fmtDuration(s) {
  if (!Number.isFinite(s)) return '';
  if (s < 60) return `${Math.max(1, Math.round(s))} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// Progress: bytes, speed (smoothed) and time left.
class Meter {
  constructor(bar, numbers) { this.bar = bar; this.numbers = numbers; this.reset(); }
  reset() { this.t0 = 0; this.last = null; this.speed = 0; this.bar.value = 0; this.bar.max = 1; this.numbers.textContent = ''; }
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

// ---- status messages --------------------------------------------------

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
  'unpack-failed': 'The folder could not be unpacked, so nothing of it was kept and the sender was told the transfer failed.',
  'too-large': 'This file is too large to receive in this browser.',
  integrity: 'The app failed its integrity check and was not started. Reload the page.',
};

function explain(err) {
  const e = err instanceof WasmholeError ? err : new WasmholeError('error', String((err && err.message) || err));
  const base = MESSAGES[e.code];
  if (base && e.code !== 'save-failed' && e.code !== 'unpack-failed') return base;
  if (base) return `${base} ${e.message}`;
  return `The transfer failed: ${e.message}`;
}

function setStatus(el, kind, text) {
  el.replaceChildren();
  if (!text) return;
  const p = document.createElement('p');
  p.className = kind;
  p.textContent = text;
  el.append(p);
}

// ---- QR code --------------------------------------------------------------

const SVG_NS = 'http://www.w3.org/2000/svg';

function drawQR(svg, qr) {
  svg.replaceChildren();
  if (!qr) return;
  const quiet = 4;
  const n = qr.size + 2 * quiet;
  svg.setAttribute('viewBox', `0 0 ${n} ${n}`);
  svg.setAttribute('shape-rendering', 'crispEdges');
  let d = '';
  for (let y = 0; y < qr.size; y++) {
    for (let x = 0; x < qr.size; x++) {
      if (qr.modules[y * qr.size + x]) d += `M${x + quiet} ${y + quiet}h1v1h-1z`;
    }
  }
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', d);
  svg.append(path);
}

// The receive link: this page with the code in the fragment, which never
// reaches any server.
function shareLink(code) {
  const u = new URL(location.href);
  u.hash = code;
  return u.href;
}

async function copy(text, statusEl, what) {
  try {
    await navigator.clipboard.writeText(text);
    setStatus(statusEl, 'info', `${what} copied.`);
  } catch {
    setStatus(statusEl, 'info', `Copying is not allowed here; select the ${what.toLowerCase()} and copy it.`);
  }
}

// ---- collecting what to send ---------------------------------------------

// Walks a dropped FileSystemEntry tree into [{path, file} | {path, dir}].
async function walkEntry(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((res, rej) => entry.file(res, rej));
    out.push({ path: prefix + entry.name, file });
    return;
  }
  if (!entry.isDirectory) return;
  const reader = entry.createReader();
  const children = [];
  for (;;) {
    const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
    if (!batch.length) break;
    children.push(...batch);
  }
  if (!children.length) out.push({ path: `${prefix}${entry.name}/`, dir: true });
  for (const c of children) await walkEntry(c, `${prefix}${entry.name}/`, out);
}

// A selection is {kind: "file", file} or {kind: "dir", name, entries}.
function selectionFromFiles(files) {
  const list = Array.from(files);
  if (!list.length) return null;
  const rel = list[0].webkitRelativePath;
  if (rel) {
    // A folder picked with <input webkitdirectory>: paths start with its name.
    const root = rel.split('/')[0];
    return { kind: 'dir', name: root,
      entries: list.map((f) => ({ path: f.webkitRelativePath.slice(root.length + 1), file: f })) };
  }
  if (list.length === 1) return { kind: 'file', file: list[0] };
  return { kind: 'dir', name: `files-${new Date().toISOString().slice(0, 10)}`,
    entries: list.map((f) => ({ path: f.name, file: f })) };
}

async function selectionFromDrop(dt) {
  const items = Array.from(dt.items || []).filter((i) => i.kind === 'file');
  const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null)).filter(Boolean);
  if (entries.length === 1 && entries[0].isDirectory) {
    const out = [];
    await walkEntry(entries[0], '', out);
    const root = entries[0].name;
    return { kind: 'dir', name: root,
      entries: out.map((e) => ({ ...e, path: e.path.slice(root.length + 1) })).filter((e) => e.path) };
  }
  if (entries.some((e) => e.isDirectory)) {
    const out = [];
    for (const e of entries) await walkEntry(e, '', out);
    return { kind: 'dir', name: `files-${new Date().toISOString().slice(0, 10)}`, entries: out };
  }
  return selectionFromFiles(dt.files);
}

function describeSelection(sel) {
  if (sel.kind === 'file') return `${sel.file.name} (${fmtBytes(sel.file.size)})`;
  const files = sel.entries.filter((e) => !e.dir);
  const bytes = files.reduce((a, e) => a + e.file.size, 0);
  return `Folder “${sel.name}”: ${files.length} file${files.length === 1 ? '' : 's'}, ${fmtBytes(bytes)}`;
}

// ---- the page ---------------------------------------------------------------

async function main() {
  const cfg = await loadConfig();
  let wh;
  try {
    wh = await Wasmhole.load({ client: clientOptions(cfg) });
  } catch (err) {
    const boot = $('boot');
    boot.textContent = `wasmhole could not start: ${explain(err)}`;
    boot.hidden = false;
    return;
  }
  window.wasmhole = wh; // for the console and the browser tests
  document.documentElement.dataset.ready = 'true';
  setupSettings(cfg);
  setupSend(wh, cfg);
  setupReceive(wh, cfg);
}

function setupSettings(cfg) {
  $('set-mailbox').value = cfg.saved.mailbox || '';
  $('set-mailbox').placeholder = cfg.mailbox;
  $('set-transit').value = cfg.saved.transit || '';
  $('set-transit').placeholder = cfg.transit;
  $('set-transit-tcp').value = cfg.saved.transitTCP || '';
  $('set-transit-tcp').placeholder = cfg.transitTCP || 'none';
  $('settings-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = { mailbox: $('set-mailbox').value.trim(), transit: $('set-transit').value.trim(),
      transitTCP: $('set-transit-tcp').value.trim() };
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(v));
    location.reload();
  });
  $('settings-reset').addEventListener('click', () => {
    localStorage.removeItem(SETTINGS_KEY);
    location.reload();
  });
}

function setupSend(wh, cfg) {
  const form = $('send-form');
  const status = $('send-status');
  const meter = new Meter($('send-bar'), $('send-numbers'));
  let selection = null;
  let transfer = null;

  const showSelection = () => {
    $('selection').hidden = !selection;
    $('clear-selection').hidden = !selection;
    $('selection').textContent = selection ? describeSelection(selection) : '';
  };
  $('files').addEventListener('change', (e) => { selection = selectionFromFiles(e.target.files); showSelection(); });
  $('folder').addEventListener('change', (e) => { selection = selectionFromFiles(e.target.files); showSelection(); });
  $('clear-selection').addEventListener('click', () => {
    selection = null;
    $('files').value = '';
    $('folder').value = '';
    showSelection();
    $('files').focus();
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    try {
      selection = await selectionFromDrop(e.dataTransfer);
    } catch (err) {
      setStatus(status, 'error', `Could not read what was dropped: ${err.message || err}`);
      return;
    }
    showSelection();
  });

  const setBusy = (busy) => {
    for (const el of form.elements) el.disabled = busy;
    $('send-controls').hidden = !busy && !transfer;
    $('send-cancel').hidden = !busy;
    $('send-again').hidden = busy;
  };
  const reset = () => {
    transfer = null;
    $('send-code').hidden = true;
    $('send-progress').hidden = true;
    $('send-controls').hidden = true;
    $('send-verifier').hidden = true;
    meter.reset();
    for (const el of form.elements) el.disabled = false;
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('text').value;
    if (!selection && !text) {
      setStatus(status, 'error', 'Choose files or a folder, or type a text, first.');
      $('files').focus();
      return;
    }
    reset();
    setBusy(true);
    setStatus(status, 'info', 'Connecting to the relay…');
    const opts = {
      onCode: (code) => showCode(wh, cfg, code, status),
      onStatus: (s) => {
        if (s === 'waiting') setStatus(status, 'info', 'Waiting for the receiver… Give them the code.');
        if (s === 'transferring') {
          $('send-progress').hidden = false;
          setStatus(status, 'info', 'Sending…');
        }
        if (s === 'reconnecting') setStatus(status, 'info', 'Connection lost, reconnecting…');
      },
      onProgress: (sent, total) => meter.update(sent, total),
    };
    try {
      if (selection && selection.kind === 'file') transfer = await wh.sendFile(selection.file, opts);
      else if (selection) transfer = await wh.sendDirectory(selection.name, selection.entries, opts);
      else transfer = await wh.sendText(text, opts);
      $('send-controls').hidden = false;
      await transfer.done;
      setStatus(status, 'ok', selection
        ? 'Sent. The receiver confirmed that every byte arrived intact (SHA-256 matched).'
        : 'Sent. The receiver got the text.');
    } catch (err) {
      setStatus(status, 'error', explain(err));
      $('send-code').hidden = true;
    }
    setBusy(false);
  });

  $('send-cancel').addEventListener('click', async () => {
    if (transfer) await transfer.cancel().catch(() => {});
  });
  $('send-again').addEventListener('click', () => {
    reset();
    setStatus(status, '', '');
    $('files').focus();
  });
  $('send-verify').addEventListener('click', async () => {
    if (!transfer) return;
    const v = $('send-verifier');
    v.hidden = false;
    v.textContent = 'Verifier: waiting for the receiver…';
    try {
      v.textContent = `Verifier: ${await transfer.verifier()}`;
    } catch (err) {
      v.textContent = `No verifier: ${explain(err)}`;
    }
  });
  $('copy-code').addEventListener('click', () => copy($('code').value, status, 'Code'));
  $('copy-link').addEventListener('click', () => copy($('share-link').href, status, 'Link'));
  $('copy-command').addEventListener('click', () => copy($('cli-command').textContent, status, 'Command'));
}

async function showCode(wh, cfg, code, status) {
  const input = $('code');
  input.value = code;
  input.size = Math.max(code.length, 8);
  const link = shareLink(code);
  $('share-link').href = link;
  $('cli-command').textContent = cliCommand(cfg, code);
  $('send-code').hidden = false;
  drawQR($('qr'), await wh.qr(link).catch(() => null));
  setStatus(status, 'info', 'Waiting for the receiver… Give them the code.');
}

// ---- receive ------------------------------------------------------------

function setupCompletion(wh, input, list) {
  let options = [];
  let active = -1;
  let seq = 0;
  // Closing also drops any completion still on its way, which would
  // otherwise reopen the list (Escape right after a keystroke).
  const close = () => {
    seq++;
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  };
  const render = () => {
    list.replaceChildren();
    options.slice(0, 50).forEach((o, i) => {
      const li = document.createElement('li');
      li.id = `code-opt-${i}`;
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', String(i === active));
      li.textContent = o;
      li.addEventListener('mousedown', (e) => { e.preventDefault(); choose(o); });
      list.append(li);
    });
    const open = options.length > 0 && !(options.length === 1 && options[0] === input.value);
    list.hidden = !open;
    input.setAttribute('aria-expanded', String(open));
    if (active >= 0) {
      input.setAttribute('aria-activedescendant', `code-opt-${active}`);
      const el = $(`code-opt-${active}`);
      if (el) el.scrollIntoView({ block: 'nearest' });
    } else {
      input.removeAttribute('aria-activedescendant');
    }
  };
  const refresh = async () => {
    const mine = ++seq;
    const v = input.value;
    const got = v.includes('-') ? await wh.complete(v).catch(() => []) : [];
    if (mine !== seq) return; // a newer keystroke won
    options = got;
    active = -1;
    render();
  };
  // Choosing a word adds the dash for the next one while the code has
  // fewer than two words (the CLI's default length).
  const choose = (value) => {
    const words = value.split('-').length - 1;
    input.value = words < 2 ? `${value}-` : value;
    input.setSelectionRange(input.value.length, input.value.length);
    if (words >= 2) {
      options = [];
      close();
    } else {
      refresh();
    }
  };
  input.addEventListener('input', refresh);
  input.addEventListener('blur', () => setTimeout(close, 100));
  input.addEventListener('keydown', (e) => {
    const open = !list.hidden && options.length > 0;
    if (e.key === 'ArrowDown' && options.length) {
      e.preventDefault();
      active = (active + 1) % Math.min(options.length, 50);
      render();
    } else if (e.key === 'ArrowUp' && options.length) {
      e.preventDefault();
      active = active <= 0 ? Math.min(options.length, 50) - 1 : active - 1;
      render();
    } else if (e.key === 'Escape' && open) {
      e.preventDefault();
      close();
    } else if ((e.key === 'Tab' || e.key === 'Enter') && open && (active >= 0 || options.length === 1)) {
      // Tab or Enter completes the word; with one match no arrow is needed.
      e.preventDefault();
      choose(options[active >= 0 ? active : 0]);
    }
  });
}

function setupReceive(wh, cfg) {
  const form = $('receive-form');
  const input = $('code-input');
  const status = $('receive-status');
  const meter = new Meter($('receive-bar'), $('receive-numbers'));
  let offer = null;
  let lastVerifier = '';
  setupCompletion(wh, input, $('code-options'));
  // Register the download service worker early so Accept starts at once.
  wh.prepareDownloads().catch(() => {});

  const fromFragment = () => {
    const code = decodeURIComponent(location.hash.slice(1)).trim();
    if (/^\d+-\S+$/.test(code)) {
      input.value = code;
      setStatus(status, 'info', 'The code from the link is filled in. Press Receive when the sender is ready.');
      $('receive-button').focus();
    }
  };
  fromFragment();
  window.addEventListener('hashchange', fromFragment);

  const canSaveFile = typeof window.showSaveFilePicker === 'function';
  const canSaveDir = typeof window.showDirectoryPicker === 'function';

  const reset = () => {
    offer = null;
    $('offer').hidden = true;
    $('offer-message').hidden = true;
    $('offer-note').hidden = true;
    $('offer-actions').hidden = false;
    $('message-actions').hidden = true;
    $('receive-progress').hidden = true;
    $('receive-controls').hidden = true;
    $('receive-verifier').hidden = true;
    meter.reset();
    for (const el of form.elements) el.disabled = false;
  };
  const finish = () => {
    offer = null;
    $('offer').hidden = true;
    $('receive-cancel').hidden = true;
    $('receive-again').hidden = false;
    $('receive-controls').hidden = false;
    for (const el of form.elements) el.disabled = false;
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const code = input.value.trim();
    const problem = await wh.validateCode(code);
    if (problem) {
      setStatus(status, 'error', problem);
      input.focus();
      return;
    }
    reset();
    for (const el of form.elements) el.disabled = true;
    setStatus(status, 'info', 'Connecting…');
    try {
      offer = await wh.receive(code, {
        onStatus: (s) => { if (s === 'connecting') setStatus(status, 'info', 'Waiting for the sender…'); },
      });
    } catch (err) {
      setStatus(status, 'error', explain(err));
      reset();
      input.focus();
      return;
    }
    showOffer();
  });

  const showOffer = () => {
    lastVerifier = offer.verifier;
    $('offer').hidden = false;
    $('receive-controls').hidden = false;
    $('receive-cancel').hidden = true;
    $('receive-again').hidden = true;
    if (offer.kind === 'text') {
      $('offer-text').textContent = 'Text received:';
      $('offer-message').textContent = offer.text;
      $('offer-message').hidden = false;
      $('offer-actions').hidden = true;
      $('message-actions').hidden = false;
      setStatus(status, 'ok', 'Text received.');
      $('receive-again').hidden = false;
      $('offer-message').focus();
      return;
    }
    $('offer-text').textContent = offer.kind === 'directory'
      ? `Folder “${offer.name}”: ${offer.numFiles} file${offer.numFiles === 1 ? '' : 's'}, ${fmtBytes(offer.numBytes)} (a ${fmtBytes(offer.size)} zip)`
      : `File “${offer.name}” (${fmtBytes(offer.size)})`;
    $('save-to-folder').hidden = !(offer.kind === 'directory' ? canSaveDir : (canSaveFile || canSaveDir));
    $('save-to-folder').textContent = offer.kind === 'directory' ? 'Unpack into folder…' : 'Save to folder…';
    setStatus(status, 'info', 'Accept to save it, or reject it.');
    $('accept').focus();
  };

  const run = async (makeSink) => {
    const o = offer;
    $('offer-actions').hidden = true;
    $('receive-cancel').hidden = false;
    $('receive-controls').hidden = false;
    let sink;
    try {
      sink = await makeSink(o);
    } catch (err) {
      if (err && err.name === 'AbortError') { // the user closed the picker
        $('offer-actions').hidden = false;
        $('receive-cancel').hidden = true;
        return;
      }
      setStatus(status, 'error', explain(err));
      await o.reject().catch(() => {});
      finish();
      return;
    }
    if (!sink) { // nothing can hold it: the message is already shown
      await o.reject().catch(() => {});
      finish();
      return;
    }
    setStatus(status, 'info', 'Connecting to the sender…');
    let result;
    try {
      result = await o.accept(sink, {
        onStatus: (s, ev) => {
          if (s === 'transferring') { $('receive-progress').hidden = false; setStatus(status, 'info', 'Receiving…'); }
          if (s === 'unpacking') setStatus(status, 'info', 'Unpacking…');
          if (s === 'reconnecting') setStatus(status, 'info', `Connection lost, reconnecting… ${fmtBytes(ev.held)} kept.`);
        },
        onProgress: (got, total) => meter.update(got, total),
      });
      if (sink.blob) {
        const blob = await sink.blob();
        const a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = o.name;
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(a.href), 60000);
      }
      const where = typeof result === 'string' && result ? ` into “${result}”` : '';
      setStatus(status, 'ok', o.kind === 'directory'
        ? `Received${where}. Every byte arrived intact (SHA-256 sent to the sender).`
        : `Received “${o.name}”${where}. Every byte arrived intact (SHA-256 sent to the sender).`);
    } catch (err) {
      setStatus(status, 'error', explain(err));
    }
    finish();
  };

  // Default: a streamed download; without service workers, a Blob for
  // small files with a clear message about the limit.
  const defaultSink = async (o) => {
    const name = o.kind === 'directory' ? `${o.name}.zip` : o.name;
    const dl = await wh.downloadSink(name, o.size);
    if (dl) return dl;
    if (o.size <= Wasmhole.BLOB_LIMIT) {
      $('offer-note').hidden = false;
      $('offer-note').textContent = `This browser cannot stream downloads here, so the file is kept in memory until it is complete (up to ${fmtBytes(Wasmhole.BLOB_LIMIT)}).`;
      return wh.blobSink();
    }
    setStatus(status, 'error', `This browser cannot stream downloads here, and ${fmtBytes(o.size)} is more than the ${fmtBytes(Wasmhole.BLOB_LIMIT)} it may hold in memory.${canSaveFile ? ' Use “Save to folder…” instead.' : ' Open this page over https in a current browser to receive it.'}`);
    return null;
  };
  const folderSink = async (o) => {
    if (o.kind === 'directory' || !canSaveFile) {
      return wh.directorySink(await window.showDirectoryPicker({ mode: 'readwrite', id: 'wasmhole' }));
    }
    return wh.fileSink(await window.showSaveFilePicker({ suggestedName: o.name }));
  };

  $('accept').addEventListener('click', () => run(defaultSink));
  $('save-to-folder').addEventListener('click', () => run(folderSink));
  $('reject').addEventListener('click', async () => {
    const o = offer;
    if (!o) return;
    try {
      await o.reject();
      setStatus(status, 'info', 'You rejected the offer. The sender was told.');
    } catch (err) {
      setStatus(status, 'error', explain(err));
    }
    finish();
  });
  $('receive-cancel').addEventListener('click', async () => {
    if (offer) await offer.cancel().catch(() => {});
  });
  $('receive-again').addEventListener('click', () => {
    reset();
    setStatus(status, '', '');
    input.value = '';
    input.focus();
  });
  $('copy-message').addEventListener('click', () => copy($('offer-message').textContent, status, 'Text'));
  $('receive-verify').addEventListener('click', () => {
    const v = $('receive-verifier');
    v.hidden = false;
    v.textContent = lastVerifier ? `Verifier: ${lastVerifier}` : 'No verifier yet.';
  });
}

main();
