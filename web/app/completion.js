// @ts-check
// completion.js: the code field's PGP-word completion, an ARIA combobox.
import { $ } from './dom.js';

/** @param {import('./client.js').Client} client */
export function setupCompletion(client, input, list) {
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
      li.addEventListener('mousedown', (e) => {
        e.preventDefault();
        choose(o);
      });
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
    const got = v.includes('-') ? await client.ready.then((wh) => wh.complete(v)).catch(() => []) : [];
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
