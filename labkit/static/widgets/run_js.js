// labkit.run_js: the student's JavaScript, run once in the page that shows the notebook.
//
// The code runs as the body of an async function with `url` (the server's URL as this browser
// reaches it, see shared.js), `log(...)` and `WebSocket` in scope. That `WebSocket` is the
// browser's own class with watchers added from the outside (listeners, never the student's
// handlers): open, each message, error, close, and what the code sent, so the log shows a
// connection's whole life. Every word shown comes from Python (`words`), in the lesson's language.
//
// The log is drawn from the run in this page, so it is live whatever the kernel is doing. The
// kernel gets the events as custom widget messages (model.send), which labkit/widgets.py
// applies (`.log`, `.received`, `.done`) and syncs back as the `events` trait, for views drawn
// after a reload. Not save_changes: ipywidgets sends one state sync at a time and holds the next
// until the kernel says "idle" after it, which a kernel never says for a message it reads while a
// cell runs (ipykernel 7.4 reads widget messages during an await): every later sync would wait forever.

const KEEP_EVENTS = 500; // newest events kept, here and in the kernel (labkit/widgets.py)
const PAYLOAD_KEPT = 4096; // characters or bytes of one message kept, as a server's record keeps
const HEAD_BYTES = 16; // bytes of a binary message shown in its line
const SHOWN_CHARS = 120; // characters of a text message shown in its line
const SEND_EVERY_MS = 50; // at most this often a message to the kernel: live, without a flood
const AsyncFunction = (async () => {}).constructor;
// new AsyncFunction(...) puts two lines before the body: "async function anonymous(url,log,WebSocket" and ") {".
const LINES_BEFORE_BODY = 2;

function hex(bytes) {
  const head = Array.from(bytes.subarray(0, HEAD_BYTES), (b) => b.toString(16).padStart(2, "0")).join(" ");
  return bytes.length > HEAD_BYTES ? `${head} …` : head;
}

function base64(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** The bytes of an ArrayBuffer or a typed array or DataView; null for a Blob (read later). */
function bytesOf(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

/** A text message's facts: its first PAYLOAD_KEPT characters and its size, in characters as Python counts. */
function textFacts(text) {
  const chars = Array.from(text); // code points: "ñ" and "🙂" are one character each
  const kept = chars.length > PAYLOAD_KEPT ? chars.slice(0, PAYLOAD_KEPT).join("") : text;
  return { text: kept, size: chars.length };
}

/** How a line shows a text: quoted, escaped, cut after SHOWN_CHARS characters. */
function shownText(text) {
  const chars = Array.from(text);
  return chars.length > SHOWN_CHARS ? `${JSON.stringify(chars.slice(0, SHOWN_CHARS).join(""))}…` : JSON.stringify(text);
}

/** One value given to log(...): a text as it is, anything else as JSON when it can be (like console.log, flat). */
function logged(value) {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value); // a BigInt, or an object that refers to itself
  }
}

function binaryFacts(bytes) {
  return { base64: base64(bytes.subarray(0, PAYLOAD_KEPT)), size: bytes.length };
}

/** A close reason quoted as labkit's record quotes it (Python's repr): ` 'bye'`, or nothing when empty. */
function quoteReason(reason) {
  return reason ? ` '${reason.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'` : "";
}

/** Where the student's code failed: "line N" of their cell, read from the error's stack. */
function lineOf(error, source) {
  const stack = String((error && error.stack) || "");
  const found = stack.match(new RegExp(`${source.replace(/[.]/g, "\\.")}:(\\d+):\\d+`));
  return found ? Number(found[1]) - LINES_BEFORE_BODY : null;
}

/** The runs in this page, by the widget's run_id: a view draws the log of the run it belongs to. */
const RUNS = (globalThis.labkitRuns ??= new Map());

class Run {
  constructor(model) {
    this.model = model;
    this.words = model.get("words");
    // Names the code in stack traces, so that its errors are told apart from the page's and other runs'.
    this.source = `labkit-run-js-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}.js`;
    this.start = performance.now();
    this.events = [];
    this.seq = 0;
    this.totals = { received: 0, sent: 0, dropped: 0 };
    this.sockets = [];
    this.pendingReads = 0;
    this.finished = false;
    this.doneAdded = false;
    this.unsent = new Map(); // seq -> the newest version of an event the kernel has not had
    this.timer = null;
    this.views = new Set(); // callbacks of the views drawing this run
  }

  /** Log one event: `facts` go to the kernel with it; `display` only fills in the words of `wording`. */
  add(kind, socket, facts = {}, display = {}, wording = kind) {
    const event = {
      seq: ++this.seq,
      at: Math.round(performance.now() - this.start) / 1000,
      socket: socket ?? null,
      kind,
      line: fill(this.words[wording] ?? wording, { socket, ...facts, ...display }),
      ...facts,
    };
    this.events.push(event);
    if (this.events.length > KEEP_EVENTS) {
      this.events.shift();
      this.totals.dropped += 1;
    }
    this.changed(event);
    return event;
  }

  /** Show a new or changed event now, and send it to the kernel soon (a burst goes as one message). */
  changed(event) {
    this.unsent.set(event.seq, event);
    for (const view of this.views) view();
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const events = Array.from(this.unsent.values()).slice(-KEEP_EVENTS);
      this.unsent.clear();
      this.model.send({ started: true, events, totals: { ...this.totals } });
    }, SEND_EVERY_MS);
  }

  /** `done` once the code has returned, every WebSocket it made is closed and every message is read. */
  checkDone() {
    if (this.doneAdded || !this.finished || this.pendingReads > 0) return;
    if (this.sockets.some((ws) => ws.readyState !== WebSocket.CLOSED)) return;
    this.doneAdded = true;
    this.add("done", null);
  }

  exception(error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const line = lineOf(error, this.source);
    const where = line === null ? "" : fill(this.words.line, { line });
    this.add("exception", null, { message, code_line: line }, { where });
  }

  received(n, event) {
    const data = event.data;
    if (!(data instanceof Blob)) this.totals.received += 1; // a Blob counts once its bytes are read
    if (typeof data === "string") {
      this.add("message", n, { ...textFacts(data), binary_type: null }, { shown: shownText(data) });
      return;
    }
    const bytes = bytesOf(data);
    if (bytes !== null) {
      const facts = { ...binaryFacts(bytes), binary_type: "ArrayBuffer" };
      this.add("message", n, facts, { hex: hex(bytes) }, "message_binary");
      return;
    }
    // A Blob (binaryType "blob", the default): its bytes come later; its line keeps its place.
    const facts = { base64: "", size: data.size, binary_type: "Blob", reading: true };
    const entry = this.add("message", n, facts, { hex: "…" }, "message_binary");
    this.pendingReads += 1;
    data
      .arrayBuffer()
      .then((buffer) => {
        const bytes = new Uint8Array(buffer);
        const line = fill(this.words.message_binary, { socket: n, ...entry, hex: hex(bytes) });
        const filled = { ...entry, ...binaryFacts(bytes), line, reading: false };
        this.totals.received += 1;
        const index = this.events.indexOf(entry);
        if (index >= 0) this.events[index] = filled;
        this.changed(filled);
      }, (error) => this.exception(error))
      .finally(() => {
        this.pendingReads -= 1;
        this.checkDone();
      });
  }

  /** The browser's WebSocket class, with this run watching every instance. */
  watchedWebSocket() {
    const run = this;
    return class WebSocket extends window.WebSocket {
      constructor(...args) {
        super(...args);
        const n = run.sockets.push(this);
        run.add("create", n, { url: this.url }, { shown: JSON.stringify(this.url) });
        this.addEventListener("open", () =>
          run.add("open", n, { state: this.readyState, protocol: this.protocol, extensions: this.extensions }),
        );
        this.addEventListener("message", (event) => run.received(n, event));
        this.addEventListener("error", () => run.add("error", n, { state: this.readyState }));
        this.addEventListener("close", (event) => {
          const facts = { code: event.code, reason: event.reason, was_clean: event.wasClean };
          run.add("close", n, facts, {
            meaning: run.closeMeaning(event.code),
            quoted_reason: quoteReason(event.reason),
            clean: event.wasClean ? run.words.clean : run.words.not_clean,
          });
          setTimeout(() => run.checkDone(), 0); // after the code's own close handlers have run
        });
      }

      send(data) {
        const open = this.readyState === WebSocket.OPEN;
        super.send(data); // throws (InvalidStateError) while CONNECTING: then nothing was sent
        if (open) run.totals.sent += 1; // once CLOSING or CLOSED, send() only grows bufferedAmount
        const n = run.sockets.indexOf(this) + 1;
        const buffered = this.bufferedAmount;
        if (typeof data === "string") {
          run.add("send_text", n, { ...textFacts(data), buffered }, { shown: shownText(data) });
          return;
        }
        const bytes = bytesOf(data);
        if (bytes !== null) run.add("send_binary", n, { ...binaryFacts(bytes), buffered }, { hex: hex(bytes) });
        else run.add("send_binary", n, { base64: "", size: data.size, buffered }, { hex: "Blob" });
      }

      close(...args) {
        super.close(...args);
        const shown = args.map((a) => JSON.stringify(a)).join(", ");
        run.add("closing", run.sockets.indexOf(this) + 1, { state: this.readyState }, { args: shown });
      }
    };
  }

  closeMeaning(code) {
    const meanings = this.words.close_codes;
    if (code in meanings) return meanings[code];
    if (code >= 3000 && code <= 3999) return meanings.registered;
    if (code >= 4000 && code <= 4999) return meanings.private;
    return meanings.unknown;
  }

  /** Errors the code throws later, in its handlers or timers: told apart by the code's sourceURL. */
  watchErrors() {
    const mine = (text) => typeof text === "string" && text.includes(this.source);
    this.onError = (event) => {
      if (mine(event.filename) || mine(event.error && event.error.stack)) this.exception(event.error ?? event.message);
    };
    this.onRejection = (event) => {
      if (mine(event.reason && event.reason.stack)) this.exception(event.reason);
    };
    window.addEventListener("error", this.onError);
    window.addEventListener("unhandledrejection", this.onRejection);
  }

  run() {
    const url = this.model.get("url");
    const where = url === null ? { url: null, how: "direct" } : reachable(url, pageLocation(), this.model.get("proxy"));
    this.add("start", null, { url: where.url, how: where.how }, { shown: JSON.stringify(where.url) });
    if (where.how !== "direct") this.add(where.how === "proxy" ? "via_proxy" : "unsure", null, {}, { url: where.url });
    const log = (...parts) => this.add("log", null, { text: textFacts(parts.map(logged).join(" ")).text });
    this.watchErrors();
    let code;
    try {
      code = new AsyncFunction("url", "log", "WebSocket", `${this.model.get("code")}\n//# sourceURL=${this.source}`);
    } catch (error) {
      this.exception(error); // a syntax error: nothing ran
      this.finish();
      return;
    }
    code(where.url, log, this.watchedWebSocket()).then(
      () => this.finish(),
      (error) => {
        this.exception(error);
        this.finish();
      },
    );
  }

  finish() {
    this.finished = true;
    this.checkDone();
  }

  /** The widget was closed from Python: close what is still open, stop listening. */
  stop() {
    RUNS.delete(this.model.get("run_id"));
    window.removeEventListener("error", this.onError);
    window.removeEventListener("unhandledrejection", this.onRejection);
    for (const ws of this.sockets) {
      // A browser may send only 1000 or 3000-4999 (WHATWG WebSockets, close()): 1001 is the browser's own.
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000);
    }
  }
}

function initialize({ model }) {
  if (model.get("started") || RUNS.has(model.get("run_id"))) return undefined; // once: not again after a reload
  const run = new Run(model);
  RUNS.set(model.get("run_id"), run);
  run.run();
  return () => run.stop();
}

/**
 * The log, live: one line per event, new lines appended, a Blob's line filled in once read.
 * Drawn from the run in this page; from the events the kernel kept when the run is elsewhere
 * (the page was reloaded).
 */
function render({ model, el }) {
  const words = model.get("words");
  const box = document.createElement("div");
  box.className = "labkit-run-js";
  const status = document.createElement("div");
  status.className = "labkit-status";
  const lines = document.createElement("div");
  lines.className = "labkit-lines";
  lines.style.maxHeight = `${model.get("height")}px`;
  box.append(status, lines);
  el.append(box);
  const shown = new Map();

  const draw = (events, totals, started) => {
    const atBottom = lines.scrollTop + lines.clientHeight >= lines.scrollHeight - 4;
    for (const event of events) {
      let line = shown.get(event.seq);
      if (!line) {
        line = document.createElement("div");
        line.className = `labkit-line labkit-${event.kind}`;
        shown.set(event.seq, line);
        lines.append(line);
      }
      if (line.textContent !== event.line) line.textContent = event.line;
    }
    const oldest = events.length ? events[0].seq : Infinity;
    for (const [seq, line] of shown) {
      if (seq < oldest) {
        line.remove();
        shown.delete(seq);
      }
    }
    const done = events.some((e) => e.kind === "done");
    const state = !started ? words.status_waiting : done ? words.status_done : words.status_running;
    status.textContent = fill(words.status, { state, received: totals.received || 0, sent: totals.sent || 0 });
    if (atBottom) lines.scrollTop = lines.scrollHeight;
  };

  const run = RUNS.get(model.get("run_id"));
  if (run) {
    const update = () => draw(run.events, run.totals, true);
    run.views.add(update);
    update();
    return () => run.views.delete(update);
  }
  const update = () => draw(model.get("events"), model.get("totals"), model.get("started"));
  const changes = ["change:events", "change:totals", "change:started"];
  for (const change of changes) model.on(change, update);
  update();
  return () => {
    for (const change of changes) model.off(change, update);
  };
}

export default { initialize, render };
