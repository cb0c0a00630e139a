// @ts-check
// wasmhole relay on Cloudflare Workers: the JavaScript shim around the Go
// relay core (relay/worker/wasm, built by scripts/build-worker.sh).
//
//   GET /         "Wormhole Relay\n", like the reference server
//   /v1           the mailbox server (WebSocket), one Durable Object "mailbox"
//   /transit      WebSocket transit: bridged to the TCP relay TRANSIT_UPSTREAM
//                 (one Durable Object per connection), or, without an
//                 upstream, paired here (one Durable Object "transit")
//
// Each Durable Object runs its own Go instance. The Go side is synchronous:
// every call returns a list of commands ({op: "send" | "close" | ...}) that
// this file performs. Mailbox state lives in the object's SQLite storage
// (ctx.storage.sql), written by Go before the commands come back; the
// runtime's output gate then holds the WebSocket frames until those writes
// are durable.

import "../dist/wasm_exec.js"; // defines globalThis.Go
import relayWasm from "../dist/relay.wasm"; // a compiled WebAssembly.Module
import { connect } from "cloudflare:sockets";
import { DurableObject } from "cloudflare:workers";

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/":
        return new Response("Wormhole Relay\n", { headers: { "content-type": "text/plain" } });
      case "/v1":
        if (!isWebSocket(request)) return upgradeRequired();
        return env.MAILBOX.get(env.MAILBOX.idFromName("mailbox")).fetch(request);
      case "/transit": {
        if (!isWebSocket(request)) return upgradeRequired();
        // A bridge holds one outgoing TCP connection for its lifetime and
        // shares nothing with other bridges, so each gets its own object
        // (its own CPU budget and connection limits). Pairing needs every
        // client in one place.
        const id = env.TRANSIT_UPSTREAM ? env.TRANSIT.newUniqueId() : env.TRANSIT.idFromName("transit");
        return env.TRANSIT.get(id).fetch(request);
      }
      default:
        return new Response("not found\n", { status: 404 });
    }
  },
};

function isWebSocket(request) {
  return (request.headers.get("Upgrade") || "").toLowerCase() === "websocket";
}

function upgradeRequired() {
  return new Response("this endpoint takes WebSocket connections\n", {
    status: 426,
    headers: { Upgrade: "websocket" },
  });
}

// ---- Go ----

let goInstances = 0;

// startGo runs one Go instance and resolves to its API object. Durable
// Objects of one class may share an isolate (and globalThis), so the init
// object goes under a unique name that Go receives as os.Args[1].
function startGo(role, config, db) {
  return new Promise((resolve, reject) => {
    const key = `__wasmhole_init_${++goInstances}`;
    globalThis[key] = {
      role,
      config,
      db,
      ready: (api) => resolve(api),
      fail: (msg) => reject(new Error(`wasmhole ${role}: ${msg}`)),
    };
    try {
      const go = new Go();
      go.argv = ["relay", key];
      // Workers cannot compile wasm from bytes at run time; the module was
      // compiled at upload, so instantiate it synchronously.
      const instance = new WebAssembly.Instance(relayWasm, go.importObject);
      go.run(instance).then(() => reject(new Error(`wasmhole ${role}: Go exited`)));
    } catch (e) {
      reject(e);
    } finally {
      // main() has called ready or fail before go.run returns.
      delete globalThis[key];
    }
  });
}

// sqlDB is the storage Go's dostore uses: reads, and batches of writes
// that commit together (transactionSync rolls back when a statement throws,
// and the exception reaches Go as an error).
function sqlDB(storage) {
  return {
    query: (q, ...args) =>
      storage.sql
        .exec(q, ...args)
        .raw()
        .toArray(),
    batch: (stmts) => {
      storage.transactionSync(() => {
        for (const [q, ...args] of stmts) storage.sql.exec(q, ...args);
      });
    },
  };
}

function acceptWebSocket() {
  const pair = new WebSocketPair();
  const client = pair[0];
  const server = pair[1];
  // Without this, binary frames arrive as Blob.
  server.binaryType = "arraybuffer";
  server.accept();
  return { client, server };
}

function closeQuietly(ws, code, reason) {
  try {
    ws.close(code, reason);
  } catch {
    // already closed
  }
}

// limitsConfig reads the per-address limits from the environment; unset
// values keep the Go defaults (the native relay's).
function limitsConfig(env) {
  const num = (v) => (v === undefined || v === "" ? undefined : Number(v));
  return {
    perIPConns: num(env.PER_IP_CONNS),
    perIPRate: num(env.PER_IP_RATE),
    perIPBurst: num(env.PER_IP_BURST),
    limitLoopback: env.PER_IP_LIMIT_LOOPBACK || "",
  };
}

// clientIP is the client's address as Cloudflare reports it.
function clientIP(request) {
  return request.headers.get("CF-Connecting-IP") || "";
}

// ---- mailbox ----

export class Mailbox extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sockets = new Map(); // conn id -> WebSocket
    this.nextConn = 1;
    this.alarmAt = null; // ms since epoch of the scheduled alarm
    ctx.blockConcurrencyWhile(async () => {
      this.alarmAt = await ctx.storage.getAlarm();
      this.api = await startGo(
        "mailbox",
        {
          motd: env.MOTD || "",
          advertiseVersion: env.ADVERTISE_VERSION || "",
          signalError: env.SIGNAL_ERROR || "",
          ...limitsConfig(env),
        },
        sqlDB(ctx.storage),
      );
      this.perform(this.api.start());
    });
  }

  async fetch(request) {
    if (!isWebSocket(request)) return upgradeRequired();
    const { client, server } = acceptWebSocket();
    const id = this.nextConn++;
    this.sockets.set(id, server);
    server.addEventListener("message", (ev) => this.perform(this.api.frame(id, ev.data)));
    const gone = () => this.gone(id);
    server.addEventListener("close", gone);
    server.addEventListener("error", gone);
    this.perform(this.api.open(id, clientIP(request)));
    return new Response(null, { status: 101, webSocket: client });
  }

  async alarm() {
    this.alarmAt = null;
    this.perform(this.api.alarm());
  }

  gone(id) {
    const ws = this.sockets.get(id);
    if (!ws) return;
    this.sockets.delete(id);
    closeQuietly(ws, 1000, "");
    this.perform(this.api.gone(id));
  }

  perform(cmds) {
    const closed = [];
    for (const c of cmds) {
      switch (c.op) {
        case "send": {
          const ws = this.sockets.get(c.conn);
          if (ws) {
            try {
              ws.send(c.data); // a string: a TEXT frame, as clients require
            } catch {
              closed.push(c.conn);
            }
          }
          break;
        }
        case "close": {
          const ws = this.sockets.get(c.conn);
          if (ws) {
            closeQuietly(ws, c.code, c.reason);
            closed.push(c.conn);
          }
          break;
        }
        case "alarm": {
          // Keep an earlier pending alarm: it prunes anyway, and a relay
          // restarted more often than the prune interval must not postpone
          // expiry forever.
          const at = Date.now() + c.after;
          if (this.alarmAt === null || this.alarmAt > at) {
            this.ctx.storage.setAlarm(at);
            this.alarmAt = at;
          }
          break;
        }
        case "cancelAlarm":
          this.ctx.storage.deleteAlarm();
          this.alarmAt = null;
          break;
        case "reset":
          // Memory and storage disagree (a failed write) or Go panicked:
          // start over from storage. Clients reconnect and resume.
          console.error(`wasmhole mailbox reset: ${c.reason}`);
          this.ctx.abort(c.reason);
          return;
        case "log":
          console.log(c.reason);
          break;
      }
    }
    for (const id of closed) this.gone(id);
  }
}

// ---- transit ----

export class Transit extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.conns = new Map(); // conn id -> {ws, bytes (both directions), peer, timer, socket, writer}
    this.nextConn = 1;
    ctx.blockConcurrencyWhile(async () => {
      this.api = await startGo("transit", {
        upstream: env.TRANSIT_UPSTREAM || "",
        unpairedTimeoutMs: Number(env.TRANSIT_UNPAIRED_TIMEOUT_MS || 0),
        ...limitsConfig(env),
      });
    });
  }

  async fetch(request) {
    if (!isWebSocket(request)) return upgradeRequired();
    const { client, server } = acceptWebSocket();
    const id = this.nextConn++;
    const c = { ws: server, bytes: 0, peer: 0, timer: null, socket: null, writer: null };
    this.conns.set(id, c);
    server.addEventListener("message", (ev) => this.message(id, ev.data));
    const gone = () => this.gone(id);
    server.addEventListener("close", gone);
    server.addEventListener("error", gone);
    this.perform(this.api.open(id, clientIP(request)));
    return new Response(null, { status: 101, webSocket: client });
  }

  message(id, data) {
    const c = this.conns.get(id);
    if (!c) return;
    if (c.peer) {
      // Paired: bytes go straight to the partner; Go never sees payload.
      const p = this.conns.get(c.peer);
      if (!p || typeof data === "string") return this.gone(id);
      c.bytes += data.byteLength;
      p.bytes += data.byteLength;
      try {
        p.ws.send(data);
      } catch {
        this.gone(id);
      }
      return;
    }
    if (c.writer) {
      if (typeof data === "string") return this.gone(id);
      c.bytes += data.byteLength;
      c.writer.write(new Uint8Array(data)).catch(() => this.gone(id));
      return;
    }
    this.perform(this.api.frame(id, data));
  }

  gone(id) {
    const c = this.conns.get(id);
    if (!c) return;
    this.conns.delete(id);
    if (c.timer) clearTimeout(c.timer);
    closeQuietly(c.ws, 1000, "");
    if (c.socket) c.socket.close().catch(() => {});
    this.perform(this.api.gone(id, c.bytes));
    // Closing either side of a pair closes the other, as the relay does.
    if (c.peer) this.gone(c.peer);
  }

  perform(cmds) {
    const closed = [];
    for (const cmd of cmds) {
      const c = this.conns.get(cmd.conn);
      switch (cmd.op) {
        case "send":
          if (c) {
            try {
              c.ws.send(cmd.data); // Uint8Array: a binary frame
            } catch {
              closed.push(cmd.conn);
            }
          }
          break;
        case "close":
          if (c) {
            closeQuietly(c.ws, cmd.code, cmd.reason);
            closed.push(cmd.conn);
          }
          break;
        case "pair": {
          const p = this.conns.get(cmd.peer);
          if (c && p) {
            c.peer = cmd.peer;
            p.peer = cmd.conn;
          }
          break;
        }
        case "timer":
          if (c) {
            if (c.timer) clearTimeout(c.timer);
            c.timer = setTimeout(() => {
              c.timer = null;
              this.perform(this.api.timer(cmd.conn));
            }, cmd.after);
          }
          break;
        case "stopTimer":
          if (c && c.timer) {
            clearTimeout(c.timer);
            c.timer = null;
          }
          break;
        case "bridge":
          if (c) this.bridge(cmd.conn, c, cmd);
          break;
        case "log":
          console.log(cmd.reason);
          break;
        case "reset":
          console.error(`wasmhole transit reset: ${cmd.reason}`);
          this.ctx.abort(cmd.reason);
          return;
      }
    }
    for (const id of closed) this.gone(id);
  }

  // bridge connects a client to the upstream TCP relay: write its
  // handshake line, then copy bytes both ways until either side ends.
  bridge(id, c, cmd) {
    let socket;
    try {
      socket = connect({ hostname: cmd.host, port: cmd.port });
    } catch (e) {
      console.error(`wasmhole transit: connect ${cmd.host}:${cmd.port}: ${e}`);
      return this.gone(id);
    }
    c.socket = socket;
    socket.closed.catch(() => {}); // failures surface in read() and write()
    c.writer = socket.writable.getWriter();
    c.writer.write(cmd.data).catch(() => this.gone(id));
    (async () => {
      const reader = socket.readable.getReader();
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done || !this.conns.has(id)) break;
          c.bytes += value.byteLength;
          c.ws.send(value);
        }
      } catch (e) {
        // A read cancelled because the client left is the normal end.
        if (this.conns.has(id)) console.error(`wasmhole transit: upstream ${cmd.host}:${cmd.port}: ${e}`);
      }
      this.gone(id);
    })();
  }
}
