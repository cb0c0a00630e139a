// @ts-check
// dom.js: small helpers shared by the page's parts.

/** @param {string} id */
export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** An <input> (or a <textarea>: the page uses only what both have). @param {string} id */
export const $input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
/** @param {string} id */
export const $form = (id) => /** @type {HTMLFormElement} */ (document.getElementById(id));

// setStatus shows one message of a kind ("info", "ok", "error") in a live
// region; an empty text clears it.
/**
 * Enables or disables every control of a form (a disabled field keeps its
 * value).
 * @param {HTMLFormElement} form
 * @param {boolean} disabled
 */
export function setDisabled(form, disabled) {
  for (const el of form.elements) /** @type {HTMLInputElement} */ (el).disabled = disabled;
}

/**
 * @param {HTMLElement} el
 * @param {string} kind
 * @param {string} text
 */
export function setStatus(el, kind, text) {
  el.replaceChildren();
  if (!text) return;
  const p = document.createElement('p');
  p.className = kind;
  p.textContent = text;
  el.append(p);
}

/**
 * @param {string} text
 * @param {HTMLElement} statusEl
 * @param {string} what
 */
export async function copy(text, statusEl, what) {
  try {
    await navigator.clipboard.writeText(text);
    setStatus(statusEl, 'info', `${what} copied.`);
  } catch {
    setStatus(statusEl, 'info', `Copying is not allowed here; select the ${what.toLowerCase()} and copy it.`);
  }
}
