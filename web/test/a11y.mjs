// The accessibility audit: axe-core (npm), injected into the page through
// the driver (outside the page's CSP) and run on the whole document. It
// returns one line per violation, empty when the page passes.
import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe on the page's current state; resolves to violation lines. */
export async function audit(b) {
  if (!(await b.eval(() => typeof window.axe === 'object'))) await b.evalSource(AXE);
  return b.eval(async () => {
    const r = await window.axe.run(document, {
      // WCAG 2.2 A and AA plus axe's best practices.
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return r.violations.flatMap((v) =>
      v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`),
    );
  });
}
