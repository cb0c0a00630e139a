// @ts-check
// receive.js: the Receive card: the code, the offer, where to save it,
// progress, cancel.
import { Wasmhole } from '../wasmhole.js';
import { $, $input, $form, setDisabled, setStatus, copy } from './dom.js';
import { Meter, explain, fmtBytes } from './format.js';
import { setupCompletion } from './completion.js';

/** @param {import('./client.js').Client} client */
export function setupReceive(client) {
  const form = $form('receive-form');
  const input = $input('code-input');
  const status = $('receive-status');
  const meter = new Meter($('receive-bar'), $('receive-numbers'));
  let offer = null;
  let lastVerifier = '';
  let wh = null; // the client, once ready
  setupCompletion(client, input, $('code-options'));
  // Register the download service worker early so Accept starts at once.
  client.ready.then((w) => w.prepareDownloads()).catch(() => {});

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
    setDisabled(form, false);
  };
  const finish = () => {
    offer = null;
    $('offer').hidden = true;
    $('receive-cancel').hidden = true;
    $('receive-again').hidden = false;
    $('receive-controls').hidden = false;
    setDisabled(form, false);
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const code = input.value.trim();
    setDisabled(form, true);
    try {
      wh = await client.whenReady(status);
    } catch {
      setDisabled(form, false);
      return;
    }
    setDisabled(form, false);
    const problem = await wh.validateCode(code);
    if (problem) {
      setStatus(status, 'error', problem);
      input.focus();
      return;
    }
    reset();
    setDisabled(form, true);
    setStatus(status, 'info', 'Connecting…');
    try {
      offer = await wh.receive(code, {
        onStatus: (s) => {
          if (s === 'connecting') setStatus(status, 'info', 'Waiting for the sender…');
        },
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
    $('offer-text').textContent =
      offer.kind === 'directory'
        ? `Folder “${offer.name}”: ${offer.numFiles} file${offer.numFiles === 1 ? '' : 's'}, ${fmtBytes(offer.numBytes)} (a ${fmtBytes(offer.size)} zip)`
        : `File “${offer.name}” (${fmtBytes(offer.size)})`;
    $('save-to-folder').hidden = !(offer.kind === 'directory' ? canSaveDir : canSaveFile || canSaveDir);
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
      if (err && err.name === 'AbortError') {
        // the user closed the picker
        $('offer-actions').hidden = false;
        $('receive-cancel').hidden = true;
        return;
      }
      setStatus(status, 'error', explain(err));
      await o.reject().catch(() => {});
      finish();
      return;
    }
    if (!sink) {
      // nothing can hold it: the message is already shown
      await o.reject().catch(() => {});
      finish();
      return;
    }
    setStatus(status, 'info', 'Connecting to the sender…');
    let result;
    try {
      result = await o.accept(sink, {
        onStatus: (/** @type {string} */ s, /** @type {{held?: number, queued?: number}} */ ev) => {
          if (s === 'transferring') {
            $('receive-progress').hidden = false;
            setStatus(status, 'info', 'Receiving…');
          }
          if (s === 'unpacking') setStatus(status, 'info', 'Unpacking…');
          if (s === 'lagging') {
            setStatus(
              status,
              'info',
              `Receiving faster than it can be saved: ${fmtBytes((ev && ev.queued) || 0)} waiting in memory.`,
            );
          }
          if (s === 'reconnecting') {
            setStatus(status, 'info', `Connection lost, reconnecting… ${fmtBytes((ev && ev.held) || 0)} kept.`);
          }
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
      setStatus(
        status,
        'ok',
        o.kind === 'directory'
          ? `Received${where}. Every byte arrived intact (SHA-256 sent to the sender).`
          : `Received “${o.name}”${where}. Every byte arrived intact (SHA-256 sent to the sender).`,
      );
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
      $('offer-note').textContent =
        `This browser cannot stream downloads here, so the file is kept in memory until it is complete (up to ${fmtBytes(Wasmhole.BLOB_LIMIT)}).`;
      return wh.blobSink();
    }
    setStatus(
      status,
      'error',
      `This browser cannot stream downloads here, and ${fmtBytes(o.size)} is more than the ${fmtBytes(Wasmhole.BLOB_LIMIT)} it may hold in memory.${canSaveFile ? ' Use “Save to folder…” instead.' : ' Open this page over https in a current browser to receive it.'}`,
    );
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
