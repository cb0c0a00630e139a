// One small driver interface over three browser engines, so each
// acceptance test is written once and runs in all of them:
//
//   chromium  Debian's Chromium through playwright-core (headless)
//   firefox   Debian's Firefox ESR through puppeteer-core over WebDriver BiDi
//   webkit    WebKitGTK's MiniBrowser through selenium-webdriver and
//             WebKitWebDriver, on a private Xvfb display
//
// Playwright drives only Chromium here: its Firefox and WebKit modes need
// Playwright's own patched browser builds, and the tests use the
// distribution's browsers only. Every engine gets a fresh profile and an
// empty download folder, removed on close.
//
// The interface (all async unless noted):
//   goto(url)                       navigate and wait for the load
//   eval(fn, arg)                   run fn(arg) in the page (may return a
//                                   promise); resolves to its JSON value
//   waitFor(fn, arg, ms)            poll eval until it is truthy; its value
//   click(css) / fill(css, text)    a real click; set a field's value
//   setFiles(css, paths)            pick files for an <input type=file>
//   setFolder(css, dir)             pick a folder for <input webkitdirectory>
//   download(name, {minSize, ms})   wait for a finished download; its path
//   evalSource(js)                  run a script's source in the page
//   errors                          page errors seen so far (sync)
//   close()
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './util.mjs';

export const CHROMIUM = process.env.WASMHOLE_CHROMIUM || '/usr/bin/chromium';
export const FIREFOX = process.env.WASMHOLE_FIREFOX || '/usr/bin/firefox-esr';
export const WEBKIT_DRIVER = '/usr/bin/WebKitWebDriver';
export const MINIBROWSER = process.env.WASMHOLE_MINIBROWSER || '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
export const XVFB = '/usr/bin/Xvfb';

/** The programs each engine needs (for need()). */
export const PROGRAMS = {
  chromium: [CHROMIUM],
  firefox: [FIREFOX],
  webkit: [WEBKIT_DRIVER, MINIBROWSER, XVFB],
};

/**
 * The engines to test: all three, or the comma-separated list in
 * WASMHOLE_ENGINES (e.g. "chromium" for a quick run).
 */
export const ENGINES = (process.env.WASMHOLE_ENGINES || 'chromium,firefox,webkit')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

// A test hook run before the page's own scripts where the driver can
// (Chromium, Firefox): with ?no-service-worker in the URL the page sees a
// browser without service workers, to test its fallback.
const NO_SERVICE_WORKER = `if (new URLSearchParams(location.search).has('no-service-worker')) {
  delete Navigator.prototype.serviceWorker;
}`;

const tmp = (prefix) => fsp.mkdtemp(path.join(os.tmpdir(), prefix));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Launches an engine by name. */
export async function launchEngine(name, opts = {}) {
  switch (name) {
    case 'chromium':
      return launchChromium(opts);
    case 'firefox':
      return launchFirefox(opts);
    case 'webkit':
      return launchWebKit(opts);
    default:
      throw new Error(`unknown engine ${name}`);
  }
}

// The parts every engine shares: polling, downloads by watching the
// download folder (Firefox and WebKit report no download events; both
// write a temporary name first and rename it when complete).
class Engine {
  constructor(name, downloads) {
    this.name = name;
    this.downloads = downloads;
    this.errors = [];
    this.cleanups = [];
  }

  async waitFor(fn, arg, ms = 60000) {
    const end = Date.now() + ms;
    for (;;) {
      const v = await this.eval(fn, arg);
      if (v) return v;
      if (Date.now() > end)
        throw new Error(`${this.name}: timed out after ${ms} ms waiting for ${String(fn).slice(0, 200)}`);
      await sleep(100);
    }
  }

  async fill(css, text) {
    await this.eval(
      ([css, text]) => {
        const el = document.querySelector(css);
        if (!el) throw new Error(`no ${css}`);
        el.focus();
        el.value = text;
        el.dispatchEvent(new Event('input', { bubbles: true }));
        el.dispatchEvent(new Event('change', { bubbles: true }));
      },
      [css, text],
    );
  }

  /**
   * Waits until a download whose name matches `name` (a string or RegExp)
   * is complete in the download folder and returns its path. Complete
   * means: no temporary file beside it, at least minSize bytes (WebKit
   * creates the file empty before it writes to it) and its size stable
   * for 300 ms.
   */
  async download(name, { minSize = 1, ms = 120000 } = {}) {
    const end = Date.now() + ms;
    const match = (f) => (typeof name === 'string' ? f === name : name.test(f));
    // Firefox writes NAME.<random>.EXT.part beside an empty NAME.EXT,
    // Chromium NAME.crdownload, WebKit NAME.download.
    const partialOf = (hit) => {
      const stem = hit.replace(/\.[^.]*$/, '');
      return (f) => f !== hit && f.startsWith(stem) && /\.(part|crdownload|download)$/.test(f);
    };
    let last = -1;
    for (;;) {
      const files = await fsp.readdir(this.downloads).catch(() => []);
      const hit = files.find((f) => match(f) && !/\.(part|crdownload|download)$/.test(f));
      if (hit && !files.some(partialOf(hit))) {
        const size = (await fsp.stat(path.join(this.downloads, hit))).size;
        if (size === last && size >= minSize) return path.join(this.downloads, hit);
        last = size;
      } else {
        last = -1;
      }
      if (Date.now() > end) {
        // What the page said, so that a failure tells a lost click from a stalled transfer.
        const status = await this.eval(() => document.getElementById('receive-status')?.textContent).catch(
          (e) => `(unreadable: ${e.message})`,
        );
        throw new Error(
          `${this.name}: no finished download ${name} in ${ms} ms: ${files.join(', ')}; receive status: ${status}`,
        );
      }
      await sleep(300);
    }
  }

  async close() {
    for (const f of this.cleanups.reverse()) await f().catch(() => {});
    await fsp.rm(this.downloads, { recursive: true, force: true });
  }
}

// ---- Chromium: playwright-core ------------------------------------------

async function launchChromium(opts) {
  const { chromium } = await import('playwright-core');
  const profile = await tmp('wasmhole-chromium-');
  const e = new Engine('chromium', await tmp('wasmhole-downloads-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    downloadsPath: e.downloads,
    viewport: opts.viewport || { width: 1100, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  e.cleanups.push(
    () => fsp.rm(profile, { recursive: true, force: true }),
    () => context.close(),
  );
  await context.addInitScript(NO_SERVICE_WORKER);
  e.preloads = true;
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (err) => e.errors.push(String(err)));
  // Playwright keeps downloads under a random name until saveAs: save
  // each under its suggested name, as the other engines do.
  page.on('download', async (d) => {
    const tmpPath = path.join(e.downloads, `${d.suggestedFilename()}.download`);
    try {
      await d.saveAs(tmpPath);
      if (!(await d.failure())) await fsp.rename(tmpPath, path.join(e.downloads, d.suggestedFilename()));
      else await fsp.rm(tmpPath, { force: true });
    } catch {
      await fsp.rm(tmpPath, { force: true });
    }
  });
  e.page = page;
  e.goto = (url) => page.goto(url);
  e.eval = (fn, arg) => page.evaluate(fn, arg);
  e.evalSource = (src) => page.evaluate(src);
  e.click = (css) => page.click(css);
  e.setFiles = (css, paths) => page.setInputFiles(css, paths);
  e.setFolder = (css, dir) => page.setInputFiles(css, dir);
  e.workerEval = async (fn, arg) => {
    const w = page.workers().find((x) => x.url().endsWith('/worker.js'));
    if (!w) throw new Error('no wasmhole worker');
    return w.evaluate(fn, arg);
  };
  return e;
}

// ---- Firefox: puppeteer-core over WebDriver BiDi ------------------------

async function launchFirefox() {
  const { default: puppeteer } = await import('puppeteer-core');
  const e = new Engine('firefox', await tmp('wasmhole-downloads-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    downloadBehavior: { policy: 'allow', downloadPath: e.downloads },
    extraPrefsFirefox: {
      // No "open with" questions, no telemetry or updates on loopback.
      'browser.download.always_ask_before_handling_new_types': false,
      'browser.download.start_downloads_in_tmp_dir': false,
      'dom.serviceWorkers.enabled': true,
      'dom.serviceWorkers.testing.enabled': true,
    },
  });
  e.cleanups.push(() => browser.close());
  const page = (await browser.pages())[0] || (await browser.newPage());
  await page.evaluateOnNewDocument(NO_SERVICE_WORKER);
  e.preloads = true;
  page.on('pageerror', (err) => e.errors.push(String(err)));
  e.page = page;
  e.goto = (url) => page.goto(url);
  e.eval = (fn, arg) => page.evaluate(fn, arg);
  e.evalSource = (src) => page.evaluate(src);
  e.click = (css) => page.click(css);
  e.setFiles = async (css, paths) => (await page.$(css)).uploadFile(...paths);
  e.setFolder = (css, dir) => pickFolderByHand(e, css, dir);
  return e;
}

// ---- WebKitGTK: selenium-webdriver, WebKitWebDriver, MiniBrowser, Xvfb --

async function startXvfb() {
  const proc = spawn(XVFB, ['-displayfd', '1', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let out = '';
  const display = await new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(`:${out.trim()}`);
    });
    proc.once('exit', (code) => reject(new Error(`Xvfb exited ${code}`)));
    setTimeout(() => reject(new Error('Xvfb printed no display')), 20000);
  });
  return { display, stop: () => proc.kill('SIGTERM') };
}

async function launchWebKit() {
  const { Builder, By } = await import('selenium-webdriver');
  const e = new Engine('webkit', await tmp('wasmhole-downloads-'));
  const home = await tmp('wasmhole-webkit-');
  e.cleanups.push(() => fsp.rm(home, { recursive: true, force: true }));
  const xvfb = await startXvfb();
  e.cleanups.push(async () => xvfb.stop());
  // WebKitGTK saves downloads into the XDG download folder.
  const config = path.join(home, 'config');
  await fsp.mkdir(config, { recursive: true });
  await fsp.writeFile(path.join(config, 'user-dirs.dirs'), `XDG_DOWNLOAD_DIR="${e.downloads}"\n`);
  const port = await freePort();
  const drv = spawn(WEBKIT_DRIVER, [`--port=${port}`], {
    env: {
      ...process.env,
      DISPLAY: xvfb.display,
      HOME: home,
      XDG_CONFIG_HOME: config,
      XDG_CACHE_HOME: path.join(home, 'cache'),
      XDG_DATA_HOME: path.join(home, 'data'),
    },
    stdio: ['ignore', 'ignore', process.env.WASMHOLE_DEBUG ? 'inherit' : 'ignore'],
  });
  e.cleanups.push(async () => drv.kill('SIGTERM'));
  let driver;
  for (let i = 0; ; i++) {
    try {
      driver = await new Builder()
        .usingServer(`http://127.0.0.1:${port}`)
        .withCapabilities({
          browserName: 'MiniBrowser',
          'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
        })
        .build();
      break;
    } catch (err) {
      if (i > 50) throw err;
      await sleep(200);
    }
  }
  e.cleanups.push(() => driver.quit());
  await driver.manage().setTimeouts({ script: 600000, pageLoad: 120000 });
  e.driver = driver;
  e.goto = (url) => driver.get(url);
  e.eval = async (fn, arg) => {
    const r = await driver.executeAsyncScript(
      `const done = arguments[arguments.length - 1];
      Promise.resolve().then(() => (${fn})(arguments[0]))
        .then((v) => done({ v: v === undefined ? null : v }), (err) => done({ err: String(err && err.stack || err) }));`,
      arg,
    );
    if (r.err) throw new Error(r.err);
    return r.v;
  };
  e.evalSource = (src) => driver.executeScript(src);
  e.click = async (css) => (await driver.findElement(By.css(css))).click();
  e.setFiles = async (css, paths) => (await driver.findElement(By.css(css))).sendKeys(paths.join('\n'));
  e.setFolder = (css, dir) => pickFolderByHand(e, css, dir);
  return e;
}

/**
 * What a folder pick gives the page, for drivers that cannot pick a
 * folder: Firefox's BiDi input.setFiles refuses a directory
 * (NS_ERROR_FILE_IS_DIRECTORY) and WebKitWebDriver hands the page the
 * folder as one empty file. The folder's files are picked through a
 * temporary <input multiple> (real File objects from disk), each gets the
 * webkitRelativePath a folder pick sets ("folder/sub/name"), and the
 * target input reports them in a change event, as after a real pick.
 */
async function pickFolderByHand(e, css, dir) {
  const rels = [];
  const walk = async (d, rel) => {
    for (const ent of await fsp.readdir(d, { withFileTypes: true })) {
      const r = `${rel}/${ent.name}`;
      if (ent.isDirectory()) await walk(path.join(d, ent.name), r);
      else rels.push(r);
    }
  };
  await walk(dir, path.basename(dir));
  await e.eval(() => {
    const i = document.createElement('input');
    i.type = 'file';
    i.multiple = true;
    i.id = 'test-folder-files';
    i.hidden = true;
    document.body.append(i);
  });
  await e.setFiles(
    '#test-folder-files',
    rels.map((r) => path.join(path.dirname(dir), r)),
  );
  await e.eval(
    ([css, rels]) => {
      const tmpInput = document.getElementById('test-folder-files');
      const files = Array.from(tmpInput.files);
      tmpInput.remove();
      if (files.length !== rels.length) throw new Error(`picked ${files.length} of ${rels.length} files`);
      files.forEach((f, i) => Object.defineProperty(f, 'webkitRelativePath', { value: rels[i] }));
      const target = document.querySelector(css);
      Object.defineProperty(target, 'files', { value: files, configurable: true });
      target.dispatchEvent(new Event('change', { bubbles: true }));
    },
    [css, rels],
  );
}

/** True if the engine's programs are installed. */
export function installed(name) {
  return PROGRAMS[name].every((p) => fs.existsSync(p));
}
