// @ts-check
// send.js: the Send card: choosing files, a folder or text, the code and
// the ways to pass it on, progress, cancel.
import { cliCommand } from './config.js';
import { $, $input, $form, setDisabled, setStatus, copy } from './dom.js';
import { Meter, explain } from './format.js';
import { drawQR, shareLink } from './qr.js';
import { selectionFromFiles, selectionFromDrop, describeSelection } from './selection.js';

/**
 * @param {import('./client.js').Client} client
 * @param {import('./reserve.js').Reserver} reserver
 */
export function setupSend(client, reserver) {
  const form = $form('send-form');
  const status = $('send-status');
  const meter = new Meter($('send-bar'), $('send-numbers'));
  let selection = null;
  let transfer = null;

  const showSelection = () => {
    $('selection').hidden = !selection;
    $('clear-selection').hidden = !selection;
    $('selection').textContent = selection ? describeSelection(selection) : '';
  };
  $input('files').addEventListener('change', () => {
    selection = selectionFromFiles($input('files').files || []);
    showSelection();
  });
  $input('folder').addEventListener('change', () => {
    selection = selectionFromFiles($input('folder').files || []);
    showSelection();
  });
  // Files picked before this module ran are in the inputs already.
  selection = selectionFromFiles($input('folder').files || []) || selectionFromFiles($input('files').files || []);
  showSelection();
  // Any sign that the user is going to send reserves a code.
  for (const ev of ['focusin', 'change', 'input', 'pointerdown', 'dragenter']) {
    $('send').addEventListener(ev, () => reserver.want(), { passive: true });
  }
  $('clear-selection').addEventListener('click', () => {
    selection = null;
    $input('files').value = '';
    $input('folder').value = '';
    showSelection();
    $input('files').focus();
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
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
    setDisabled(form, busy);
    $('send-controls').hidden = !busy && !transfer;
    $('send-cancel').hidden = !busy;
    $('send-again').hidden = busy;
  };
  const reset = () => {
    transfer = null;
    // A stale code must never be read as the next one (a test that did
    // gave the CLI the last, released nameplate, and it waited forever).
    $input('code').value = '';
    $('send-code').hidden = true;
    $('send-progress').hidden = true;
    $('send-controls').hidden = true;
    $('send-verifier').hidden = true;
    meter.reset();
    setDisabled(form, false);
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $input('text').value;
    if (!selection && !text) {
      setStatus(status, 'error', 'Choose files or a folder, or type a text, first.');
      $input('files').focus();
      return;
    }
    performance.mark('wasmhole-send');
    reset();
    setBusy(true);
    let wh;
    let cfg;
    try {
      wh = await client.whenReady(status);
      cfg = await client.config;
    } catch {
      setBusy(false);
      return;
    }
    setStatus(status, 'info', 'Connecting to the relay…');
    const opts = {
      wormhole: await reserver.take(),
      onCode: (code) => showCode(cfg, code, status),
      onStatus: (s) => {
        if (s === 'waiting') setStatus(status, 'info', 'Waiting for the receiver… Give them the code.');
        if (s === 'transferring') {
          $('send-progress').hidden = false;
          setStatus(status, 'info', 'Sending…');
        }
        // Between two wasmhole ends a lost connection is resumed.
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
      setStatus(
        status,
        'ok',
        selection
          ? 'Sent. The receiver confirmed that every byte arrived intact (SHA-256 matched).'
          : 'Sent. The receiver got the text.',
      );
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
    $input('files').focus();
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
  $('copy-code').addEventListener('click', () => copy($input('code').value, status, 'Code'));
  $('copy-link').addEventListener('click', () =>
    copy(/** @type {HTMLAnchorElement} */ ($('share-link')).href, status, 'Link'),
  );
  $('copy-command').addEventListener('click', () => copy($('cli-command').textContent, status, 'Command'));
}

function showCode(cfg, code, status) {
  const input = $input('code');
  input.value = code;
  input.size = Math.max(code.length, 8);
  const link = shareLink(code);
  /** @type {HTMLAnchorElement} */ ($('share-link')).href = link;
  $('cli-command').textContent = cliCommand(cfg, code);
  $('send-code').hidden = false;
  performance.mark('wasmhole-code');
  drawQR($('qr'), link); // the code and the link are shown already
  setStatus(status, 'info', 'Waiting for the receiver… Give them the code.');
}
