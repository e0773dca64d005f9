// Small fakes for testing liveevents.js under Node: an EventSource, a server answering the
// client's fetch() probes, and a clock for setTimeout/clearTimeout. install() puts them on
// globalThis (liveevents.js looks these names up when it calls them) and returns an uninstall().

/** An EventSource the test drives: open(), emit(), drop() (browser retries), fail() (gives up). */
export class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  /** every FakeEventSource created since install(), oldest first */
  static instances = [];

  #listeners = new Map(); // type -> [listener]
  #lastId = ""; // the browser's last event id buffer

  constructor(url, init = {}) {
    this.url = String(url);
    this.withCredentials = Boolean(init.withCredentials);
    this.readyState = FakeEventSource.CONNECTING;
    FakeEventSource.instances.push(this);
  }

  addEventListener(type, listener) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, []);
    this.#listeners.get(type).push(listener);
  }

  listenerCount(type) {
    return this.#listeners.get(type)?.length ?? 0;
  }

  close() {
    this.readyState = FakeEventSource.CLOSED;
  }

  get closed() {
    return this.readyState === FakeEventSource.CLOSED;
  }

  // What the browser does:

  open() {
    this.readyState = FakeEventSource.OPEN;
    this.#dispatch("open", {});
  }

  /** A server event. Like a browser, an event without an id carries the previous one. */
  emit(type, data = "", { id } = {}) {
    if (id !== undefined) this.#lastId = String(id);
    this.#dispatch(type, { type, data, lastEventId: this.#lastId });
  }

  /** The connection broke; the browser reconnects by itself (readyState CONNECTING). */
  drop() {
    this.readyState = FakeEventSource.CONNECTING;
    this.#dispatch("error", {});
  }

  /** The browser gave up for good (a non-200 answer, a wrong content type). */
  fail() {
    this.readyState = FakeEventSource.CLOSED;
    this.#dispatch("error", {});
  }

  #dispatch(type, fields) {
    const event = { type, target: this, ...fields };
    for (const listener of this.#listeners.get(type) ?? []) listener(event);
  }
}

/** Answers fetch() when the test says so: respond(status, headers), or networkError(). */
export class FakeServer {
  /** every fetch() call: {url, options, settled} */
  requests = [];

  fetch = (url, options = {}) =>
    new Promise((resolve, reject) => {
      const request = { url: String(url), options, settled: false, resolve, reject };
      this.requests.push(request);
      options.signal?.addEventListener("abort", () =>
        this.#settle(request, () => reject(new DOMException("aborted", "AbortError"))),
      );
    });

  /** Answer the oldest open request. */
  respond(status, headers = {}, { redirected = false } = {}) {
    const request = this.#open();
    this.#settle(request, () => request.resolve({ status, headers: new Headers(headers), redirected }));
  }

  networkError() {
    const request = this.#open();
    this.#settle(request, () => request.reject(new TypeError("Failed to fetch")));
  }

  #open() {
    const request = this.requests.find((r) => !r.settled);
    if (!request) throw new Error("no fetch() is waiting for an answer");
    return request;
  }

  #settle(request, settle) {
    if (request.settled) return;
    request.settled = true;
    settle();
  }
}

/** setTimeout/clearTimeout on a clock that moves only with advance(ms). */
export class FakeClock {
  now = 0;
  #timers = new Map(); // id -> {callback, at, delay}
  #nextId = 1;

  setTimeout = (callback, delay = 0) => {
    const id = this.#nextId++;
    this.#timers.set(id, { callback, at: this.now + Number(delay), delay: Number(delay) });
    return id;
  };

  clearTimeout = (id) => {
    this.#timers.delete(id);
  };

  /** the delays of the timers not yet run nor cleared, in the order they were set */
  get pending() {
    return [...this.#timers.values()].map((timer) => timer.delay);
  }

  /** Move time forward, running the timers that come due, in order. */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.#timers].filter(([, t]) => t.at <= end).sort(([, a], [, b]) => a.at - b.at);
      if (due.length === 0) break;
      const [id, timer] = due[0];
      this.#timers.delete(id);
      this.now = timer.at;
      timer.callback();
    }
    this.now = end;
  }
}

/** Put the fakes on globalThis; returns {clock, server, uninstall}. */
export function install() {
  const clock = new FakeClock();
  const server = new FakeServer();
  const saved = {
    EventSource: globalThis.EventSource,
    fetch: globalThis.fetch,
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
  };
  FakeEventSource.instances = [];
  Object.assign(globalThis, {
    EventSource: FakeEventSource,
    fetch: server.fetch,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
  });
  return { clock, server, uninstall: () => Object.assign(globalThis, saved) };
}

/** Let pending promise callbacks (the client's await fetch()) run. */
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}
