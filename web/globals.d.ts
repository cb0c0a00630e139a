// What the page adds to window, and the File System Access pickers that
// TypeScript's DOM library does not have yet (Chromium only; the page
// checks for them before use). For tsc -p jsconfig.json only.
interface Window {
  /** Set by early.js: forms submitted before app.js ran. */
  wasmholeEarly?: { submits: string[]; live: boolean };
  /** The running client, for the console and the browser tests. */
  wasmhole?: import('./wasmhole.js').Wasmhole;
  showSaveFilePicker?: (opts?: { suggestedName?: string }) => Promise<FileSystemFileHandle>;
  showDirectoryPicker?: (opts?: { mode?: 'read' | 'readwrite'; id?: string }) => Promise<FileSystemDirectoryHandle>;
}
