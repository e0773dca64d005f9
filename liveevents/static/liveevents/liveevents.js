/**
 * liveevents.js: the browser client for liveevents streams (Server-Sent Events).
 *
 * A thin layer over the browser's EventSource that keeps a stream alive when the browser
 * gives up on it, and resumes from the last event id. Dependency-free ES module.
 *
 *   import { LiveStream } from "/static/liveevents/liveevents.js";
 *
 *   const stream = new LiveStream("/events/flights/", {
 *     lastEventId: "42",      // id to resume after; "" or null = live from now (default)
 *     withCredentials: false, // send cookies cross-origin (EventSource withCredentials)
 *     json: true,             // parse event.data as JSON for handlers; raw string if it is not JSON
 *     minDelay: 1000,         // reconnect backoff in ms: exponential, full jitter,
 *     maxDelay: 30000,        //   capped at maxDelay
 *   });
 *   const off = stream.on("flightStateUpdate", (data, messageEvent) => {});  // off() unsubscribes
 *   stream.on("streamReset", (data) => {});    // id too old or ahead: reload your state
 *   stream.on("closedConnection", () => {});   // the server closed the stream for good
 *   stream.on("status", (status, detail) => {});
 *   stream.start();   // connect, or reconnect after stop() with the last id
 *   stream.stop();    // close the connection; no reconnects until start()
 *   stream.lastEventId  // string: the last id seen ("" if none)
 *   stream.status       // the current status
 *
 * on(name) listens to any named server event, also when called after start(). "status" is the
 * client's own event: "connecting" (before the first open), "live", "reconnecting" (with a
 * detail such as "connection lost", "server busy", "network error") and "stopped", whose detail
 * says why: "stopped by user", "closed by server" (closedConnection or 204), "bad request",
 * "unauthorized", "forbidden", "not found", "gone", "redirected".
 *
 * Reconnects: while EventSource is CONNECTING the browser retries by itself and sends the
 * Last-Event-ID header. When it gives up (readyState CLOSED: a non-200 answer or a wrong content
 * type), this client probes the URL with fetch() to learn the status code, then reconnects with
 * backoff (Retry-After for 503 and 429), or stops for good on 204, 400, 401, 403, 404 and 410.
 * Every (re)connect carries ?lastEventId=<id> because EventSource cannot set headers itself.
 */

const STOPPING_STATUSES = new Map([
  [400, "bad request"],
  [401, "unauthorized"],
  [403, "forbidden"],
  [404, "not found"],
  [410, "gone"],
]);
const PROBE_TIMEOUT = 10000;
const CLOSED_BY_SERVER = "closed by server";

export class LiveStream {
  /** @type {string} the id of the last event seen, "" if none */
  lastEventId;

  #url;
  #withCredentials;
  #json;
  #minDelay;
  #maxDelay;
  #handlers = new Map(); // event name -> Set of handlers
  #source = null;
  #listening = new Set(); // event names with a listener on #source
  #timer = null;
  #probe = null; // AbortController of the status probe in flight
  #attempt = 0;
  #running = false;
  #status = "stopped";
  #detail = "";

  /**
   * @param {string | URL} url the stream's URL, resolved against the document
   * @param {{lastEventId?: string | number | null, withCredentials?: boolean, json?: boolean,
   *          minDelay?: number, maxDelay?: number}} [options]
   */
  constructor(url, options = {}) {
    this.#url = new URL(url, globalThis.document?.baseURI ?? globalThis.location?.href);
    this.#withCredentials = Boolean(options.withCredentials);
    this.#json = options.json ?? true;
    this.#minDelay = options.minDelay ?? 1000;
    this.#maxDelay = options.maxDelay ?? 30000;
    this.lastEventId = options.lastEventId == null ? "" : String(options.lastEventId);
  }

  /** @returns {"connecting" | "live" | "reconnecting" | "stopped"} */
  get status() {
    return this.#status;
  }

  /**
   * Call handler for every event of this name: (data, messageEvent), or (status, detail) for
   * "status". Returns a function that removes the handler.
   */
  on(name, handler) {
    let handlers = this.#handlers.get(name);
    if (!handlers) this.#handlers.set(name, (handlers = new Set()));
    handlers.add(handler);
    if (this.#source) this.#listen(name);
    return () => void handlers.delete(handler);
  }

  start() {
    if (this.#running) return this;
    this.#running = true;
    this.#attempt = 0;
    this.#setStatus("connecting");
    this.#connect();
    return this;
  }

  stop() {
    if (this.#running) this.#halt("stopped by user");
    return this;
  }

  #connect() {
    this.#timer = null;
    const source = new EventSource(this.#connectUrl(), { withCredentials: this.#withCredentials });
    this.#source = source;
    this.#listening = new Set(["closedConnection"]);
    source.addEventListener("open", () => this.#onOpen(source));
    source.addEventListener("error", () => this.#onError(source));
    source.addEventListener("closedConnection", (event) => this.#onClosed(source, event));
    for (const name of this.#handlers.keys()) this.#listen(name);
  }

  #connectUrl() {
    const url = new URL(this.#url);
    if (this.lastEventId !== "") url.searchParams.set("lastEventId", this.lastEventId);
    return url.href;
  }

  #listen(name) {
    if (name === "status" || this.#listening.has(name)) return;
    this.#listening.add(name);
    const source = this.#source;
    source.addEventListener(name, (event) => {
      if (source !== this.#source) return;
      this.#track(event);
      this.#emit(name, this.#parse(event.data), event);
    });
  }

  #onOpen(source) {
    if (source !== this.#source) return;
    this.#attempt = 0;
    this.#setStatus("live");
  }

  #onClosed(source, event) {
    if (source !== this.#source) return;
    this.#track(event);
    this.#halt(CLOSED_BY_SERVER);
    this.#emit("closedConnection", this.#parse(event.data), event);
  }

  #onError(source) {
    if (source !== this.#source) return;
    if (source.readyState !== EventSource.CLOSED) {
      // The browser reconnects by itself and sends Last-Event-ID.
      this.#setStatus("reconnecting", "connection lost");
      return;
    }
    // The browser gave up for good; EventSource hides why, so ask the server.
    source.close();
    this.#source = null;
    this.#setStatus("reconnecting", "checking server");
    this.#probeServer();
  }

  async #probeServer() {
    const controller = new AbortController();
    this.#probe = controller;
    const timeout = setTimeout(() => controller.abort(), PROBE_TIMEOUT);
    let response = null;
    try {
      response = await fetch(this.#connectUrl(), {
        headers: { Accept: "text/event-stream" },
        credentials: this.#withCredentials ? "include" : "same-origin",
        cache: "no-store",
        signal: controller.signal,
      });
    } catch {
      // A network error or the timeout: response stays null.
    } finally {
      clearTimeout(timeout);
      controller.abort(); // Only the headers matter; drop the body.
    }
    if (this.#probe !== controller) return; // stop() or start() came first
    this.#probe = null;
    this.#afterProbe(response);
  }

  #afterProbe(response) {
    const status = response?.status ?? 0;
    if (status === 204) return this.#halt(CLOSED_BY_SERVER);
    if (STOPPING_STATUSES.has(status)) return this.#halt(STOPPING_STATUSES.get(status));
    if (status === 200 && isEventStream(response)) {
      // Healthy again: reconnect at once, but only once per outage, so a server that answers
      // fetch() yet fails EventSource cannot make us loop without a pause.
      if (this.#attempt === 0) {
        this.#attempt = 1;
        return this.#connect();
      }
      return this.#retryLater("retrying");
    }
    // A redirect that ends on a page, not a stream, is a login page for a browser.
    if (response?.redirected) return this.#halt("redirected");
    if (status === 503 || status === 429) {
      return this.#retryLater("server busy", retryAfter(response, this.#minDelay));
    }
    this.#retryLater(status ? `server error ${status}` : "network error");
  }

  #retryLater(detail, delay = null) {
    const ceiling = Math.min(this.#maxDelay, this.#minDelay * 2 ** this.#attempt);
    this.#attempt += 1;
    this.#setStatus("reconnecting", detail);
    this.#timer = setTimeout(() => this.#connect(), delay ?? Math.random() * ceiling);
  }

  #halt(detail) {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#probe?.abort();
    this.#probe = null;
    this.#source?.close();
    this.#source = null;
    this.#setStatus("stopped", detail);
  }

  #track(event) {
    // The browser keeps the last id for events that carry none, so "" means "never had one".
    if (event.lastEventId) this.lastEventId = event.lastEventId;
  }

  #parse(data) {
    if (!this.#json) return data;
    try {
      return JSON.parse(data);
    } catch {
      return data;
    }
  }

  #setStatus(status, detail = "") {
    if (status === this.#status && detail === this.#detail) return;
    this.#status = status;
    this.#detail = detail;
    this.#emit("status", status, detail);
  }

  #emit(name, ...args) {
    for (const handler of [...(this.#handlers.get(name) ?? [])]) {
      try {
        handler(...args);
      } catch (error) {
        // One failing handler must not starve the others or break the stream.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
}

function isEventStream(response) {
  const type = response.headers.get("content-type") ?? "";
  return type.split(";")[0].trim().toLowerCase() === "text/event-stream";
}

/** Retry-After (seconds or an HTTP date) in ms, plus jitter so a crowd does not return at once. */
function retryAfter(response, spread) {
  const value = response.headers.get("retry-after")?.trim();
  if (!value) return null;
  const seconds = Number(value);
  const wait = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  if (Number.isNaN(wait)) return null;
  return Math.max(0, wait) + Math.random() * spread;
}
