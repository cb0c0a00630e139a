// @ts-check
// early.js: the page's first script, a classic one so it runs before the
// first paint. Until app.js has attached its handlers, a form submitted
// (Send, Receive, Save settings) is held here instead of being lost: the
// native submit would be blocked by the CSP's form-action 'none'. app.js
// replays what was held, then sets live.
'use strict';
(() => {
  const early = { submits: [], live: false };
  self.wasmholeEarly = early;
  document.addEventListener(
    'submit',
    (e) => {
      if (early.live) return;
      e.preventDefault();
      const form = /** @type {HTMLFormElement} */ (e.target);
      if (form && form.id && !early.submits.includes(form.id)) early.submits.push(form.id);
    },
    true,
  );
})();
