// dom.js: small helpers shared by the page's parts.

export const $ = (id) => document.getElementById(id);

// setStatus shows one message of a kind ("info", "ok", "error") in a live
// region; an empty text clears it.
export function setStatus(el, kind, text) {
  el.replaceChildren();
  if (!text) return;
  const p = document.createElement('p');
  p.className = kind;
  p.textContent = text;
  el.append(p);
}

export async function copy(text, statusEl, what) {
  try {
    await navigator.clipboard.writeText(text);
    setStatus(statusEl, 'info', `${what} copied.`);
  } catch {
    setStatus(statusEl, 'info', `Copying is not allowed here; select the ${what.toLowerCase()} and copy it.`);
  }
}
