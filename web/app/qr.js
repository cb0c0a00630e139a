// @ts-check
// qr.js: the receive link and its QR code.

const SVG_NS = 'http://www.w3.org/2000/svg';

// The text each svg shows or is about to: a slower draw of an older code
// must not replace a newer one.
const pending = new WeakMap();

// drawQR draws a QR code of text into svg: byte mode at error correction
// level M (15%, survives a smudged screen; a share link fits in version
// 4-5), the smallest version that fits, the mask with the lowest penalty,
// a 4-module quiet zone. The encoder (../qrcode.js) loads on the first
// call. If it cannot load, or text is too long, svg stays empty: the link
// and the code are shown beside it.
export async function drawQR(svg, text) {
  svg.replaceChildren();
  pending.set(svg, text);
  let rows;
  try {
    const { encodeQR } = await import('../qrcode.js');
    rows = encodeQR(text, 'raw', { ecc: 'medium', border: 4 });
  } catch {
    return;
  }
  if (pending.get(svg) !== text) return;
  const n = rows.length;
  svg.setAttribute('viewBox', `0 0 ${n} ${n}`);
  svg.setAttribute('shape-rendering', 'crispEdges');
  let d = '';
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (rows[y][x]) d += `M${x} ${y}h1v1h-1z`;
    }
  }
  const path = document.createElementNS(SVG_NS, 'path');
  path.setAttribute('d', d);
  svg.append(path);
}

// The receive link: this page with the code in the fragment, which never
// reaches any server.
export function shareLink(code) {
  const u = new URL(location.href);
  u.hash = code;
  return u.href;
}
