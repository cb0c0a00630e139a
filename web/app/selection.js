// @ts-check
// selection.js: what the user chose to send, from file pickers or a drop.
// A selection is {kind: "file", file} or {kind: "dir", name, entries} with
// entries [{path, file} | {path, dir: true}] relative to the folder.
import { fmtBytes } from './format.js';

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

export function selectionFromFiles(files) {
  const list = Array.from(files);
  if (!list.length) return null;
  const rel = list[0].webkitRelativePath;
  if (rel) {
    // A folder picked with <input webkitdirectory>: paths start with its name.
    const root = rel.split('/')[0];
    return {
      kind: 'dir',
      name: root,
      entries: list.map((f) => ({ path: f.webkitRelativePath.slice(root.length + 1), file: f })),
    };
  }
  if (list.length === 1) return { kind: 'file', file: list[0] };
  return {
    kind: 'dir',
    name: `files-${new Date().toISOString().slice(0, 10)}`,
    entries: list.map((f) => ({ path: f.name, file: f })),
  };
}

export async function selectionFromDrop(dt) {
  const items = Array.from(dt.items || []).filter((i) => i.kind === 'file');
  const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null)).filter(Boolean);
  if (entries.length === 1 && entries[0].isDirectory) {
    const out = [];
    await walkEntry(entries[0], '', out);
    const root = entries[0].name;
    return {
      kind: 'dir',
      name: root,
      entries: out.map((e) => ({ ...e, path: e.path.slice(root.length + 1) })).filter((e) => e.path),
    };
  }
  if (entries.some((e) => e.isDirectory)) {
    const out = [];
    for (const e of entries) await walkEntry(e, '', out);
    return { kind: 'dir', name: `files-${new Date().toISOString().slice(0, 10)}`, entries: out };
  }
  return selectionFromFiles(dt.files);
}

export function describeSelection(sel) {
  if (sel.kind === 'file') return `${sel.file.name} (${fmtBytes(sel.file.size)})`;
  const files = sel.entries.filter((e) => !e.dir);
  const bytes = files.reduce((a, e) => a + e.file.size, 0);
  return `Folder “${sel.name}”: ${files.length} file${files.length === 1 ? '' : 's'}, ${fmtBytes(bytes)}`;
}
