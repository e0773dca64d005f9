/**
 * liveevents.js: the browser client for liveevents streams (Server-Sent Events).
 *
 * A thin layer over the browser's EventSource that keeps a connection alive when the browser
 * gives up on it, and resumes from the last event id. It follows one stream at the stream's URL,
 * or several streams over one connection to the events endpoint. Dependency-free ES module.
 *
 *   // The URL from {% liveevents_client_url %} (the static files storage's, hashed names and
 *   // a CDN included), e.g. in a data attribute of the page: <main data-client-src="...">
 *   const { LiveStream } = await import(document.querySelector("main").dataset.clientSrc);
 *
 *   const stream = new LiveStream("/events/flights/", {   // one stream
 *     lastEventId: "42",      // id to resume after; "" or null = live from now (default)
 *     stream: "flights",      // its name for handlers; default: the URL's last path segment
 *     withCredentials: false, // send cookies cross-origin (EventSource withCredentials)
 *     json: true,             // parse event.data as JSON for handlers; raw string if it is not JSON
 *     eventNames: [],         // server events to follow the ids of without a handler (see Ids)
 *     minDelay: 1000,         // reconnect backoff in ms: exponential, full jitter,
 *     maxDelay: 30000,        //   capped at maxDelay
 *   });
 *   const board = new LiveStream("/events/", {            // several streams: the endpoint's URL
 *     streams: ["flights", "announcements"],     // the streams to follow, 1 or more names
 *     lastEventId: "flights:12,announcements:3", // a cursor to resume after; "" or null = live
 *     // ...and the other options of the one-stream form but stream
 *   });
 *   const off = stream.on("flightStateUpdate", (data, messageEvent, stream) => {}); // off() undoes
 *   stream.on("streamReset", (data, messageEvent, stream) => {}); // id too old or ahead: reload
 *   stream.on("closedConnection", (data, messageEvent, stream) => {}); // the stream ended for good
 *   stream.on("status", (status, detail) => {});
 *   stream.start();   // connect, or reconnect after stop() with the last id
 *   stream.stop();    // close the connection; no reconnects until start()
 *   board.setStreams(["flights", "flight.I768"]); // follow these instead; kept ones keep positions
 *   board.setStreams(["flights", "flight.I768"], { "flight.I768": "41" }); // an added one resumes
 *   stream.lastEventId  // string: the last id seen, a cursor on several streams ("" if none)
 *   stream.positions    // a new Map of stream name -> id string, for the streams with a position
 *   board.streams       // a new array of the streams followed, in order; null on one stream
 *   stream.status       // the current status
 *
 * on(name) listens to any named server event, also when called after start(). "status" is the
 * client's own event: "connecting" (before the first open), "live", "reconnecting" (with a
 * detail such as "connection lost", "server busy", "network error") and "stopped", whose detail
 * says why: "stopped by user", "closed by server" (closedConnection or 204), "bad request",
 * "unauthorized", "forbidden" (403, or closedConnection with reason "forbidden": see Access
 * revoked), "not found", "gone", "redirected".
 *
 * The third argument of an event's handlers is the name of the stream it came from. On one
 * stream: the stream option, else the URL's last path segment ("/events/flights/" -> "flights"),
 * else null. On several: data.stream for streamReset and closedConnection, else the first name
 * of the event's id, else null. (The browser gives an event without an id of its own the
 * previous event's id, hence that event's stream.)
 *
 * Several streams: the client connects to its URL plus ?stream=<name> for each stream followed
 * and ?lastEventId=<cursor>, keeping the URL's other query parameters (stream and lastEventId
 * ones are replaced). Names match [A-Za-z0-9_.-]{1,80} and duplicates collapse; a TypeError is
 * thrown for none or an invalid one. The server takes 1 to 16 and stops the client as below
 * with 400 for more, 404 if one does not exist, 403 if one may not be read, 204 if all are
 * closed. A cursor is name:id pairs joined by ",", e.g. "flights:12,announcements:3": every
 * event's id is one (its own stream first), and lastEventId is the latest. It holds only the
 * streams followed (a lastEventId option that is not a cursor throws a TypeError; its pairs of
 * other streams are dropped). Each stream resumes after its own position; one without a position
 * starts live from now; one whose position is too old or ahead is reset alone (streamReset, data
 * {stream, lastEventId}, its id the cursor moved to the stream's head).
 *
 * closedConnection with data.stream ends that stream only: the client drops it from the streams
 * followed and from the cursor, so no later connection asks for it (when the browser is about to
 * reconnect by itself with the URL that still names it, the client reconnects instead, after a
 * jittered pause of up to minDelay). Once the last one is closed the client stops with "closed by
 * server" ("forbidden" if the reason of that last closedConnection is "forbidden"), and start()
 * does nothing until setStreams() gives it streams again. On one stream (and without
 * data.stream), closedConnection stops the client, with the same details.
 *
 * Access revoked: when the reader may no longer read a stream that is not public (signed out,
 * deactivated, a permission lost), the server sends closedConnection with data
 * {"stream": name, "reason": "forbidden"}. On several streams that stream is dropped as above and
 * the others go on; on one stream, or when no stream is left, the client stops with "forbidden"
 * (not "closed by server"); it then closes its EventSource as the event arrives, before the
 * response ends, so the browser never reconnects by itself, and neither does the client. The
 * closedConnection handlers still get the data (data.reason === "forbidden": ask the user to
 * sign in again). Afterwards, on several streams, start() never asks for a dropped stream again;
 * only naming it in setStreams() does, and the server checks access then: if the reader still may
 * not read it, the whole connection is refused (403) and the client stops with "forbidden". On one
 * stream, start() connects again, as after a 403 answer: the stream is its URL, and start() is the
 * page asking for it. The server checks access at connect, so the stream resumes after
 * lastEventId only if the reader may read it again (signed in again), else the client stops again
 * ("forbidden", or "redirected" if the server sends a browser to its login page), with no retry.
 *
 * setStreams(names, positions) follows another set of streams: it reconnects at once (or on
 * start() if stopped) with a cursor that keeps the positions of the streams kept; a dropped one
 * leaves the cursor; a new one resumes after its id in positions, else starts live from now.
 * positions, optional, is a Map or a plain object of stream name -> id (a string of 1 to 19
 * digits, or a non-negative safe integer), e.g. {"flight.I768": 41} when a page learns of a
 * stream from another one's event together with that stream's id; a position too old or ahead
 * is reset as any other. Only streams being added read it: the entry of a stream already
 * followed is ignored (the stream keeps its own position, or its lack of one), and so is the entry
 * of a stream not in names. The same set, in any order, changes nothing, positions or not. It
 * throws a TypeError, changing nothing, on the one-stream form, for names the streams option
 * would refuse, for positions that are not a Map or a plain object, and for any id in positions
 * that is not an id as above (ignored entries included).
 *
 * Ids: lastEventId follows every event the client listens to: each name that has or had a
 * handler (off() keeps the listener), the eventNames option, "message" (events without a name),
 * streamReset and closedConnection. EventSource delivers an event only to the listeners of its
 * name and does not expose the last id it holds, so an event of any other name is out of the
 * client's sight. The browser's own reconnects still resume after it (Last-Event-ID), and the
 * next event the client sees moves lastEventId past it. But if the client reconnects by itself
 * before that (after the browser gave up, on start() or setStreams()), it resumes after the last
 * event it saw: what came later is sent again, or the stream is reset if that position was pruned
 * meanwhile. List in eventNames the names the server sends that you do not handle to avoid it.
 *
 * Reconnects: while EventSource is CONNECTING the browser retries by itself and sends the
 * Last-Event-ID header. When it gives up (readyState CLOSED: a non-200 answer or a wrong content
 * type), this client probes the URL with fetch() to learn the status code, then reconnects with
 * backoff (Retry-After for 503 and 429), or stops for good on 204, 400, 401, 403, 404 and 410.
 * Every (re)connect carries ?lastEventId=<id> because EventSource cannot set headers itself.
 */

const CLOSED_BY_SERVER = "closed by server";
const FORBIDDEN = "forbidden";
const STOPPING_STATUSES = new Map([
  [400, "bad request"],
  [401, "unauthorized"],
  [403, FORBIDDEN],
  [404, "not found"],
  [410, "gone"],
]);
const PROBE_TIMEOUT = 10000;
const STREAM_NAME = /^[A-Za-z0-9_.-]{1,80}$/;
const CURSOR_PAIR = /^([A-Za-z0-9_.-]{1,80}):([^:,]+)$/;
const EVENT_ID = /^[0-9]{1,19}$/; // a stream's event id on the wire: what the server accepts
// Listened to on every connection, handled or not, so that their ids are never missed.
const ALWAYS_LISTENED = ["message", "streamReset"];

export class LiveStream {
  /** @type {string} the id of the last event seen (a cursor on several streams), "" if none */
  lastEventId;

  #url;
  #withCredentials;
  #json;
  #minDelay;
  #maxDelay;
  #eventNames;
  #name = null; // one stream: its name for handlers
  #streams = null; // several streams: the names followed, in order
  #stale = false; // the connection's URL names a stream closed since
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
   * @param {string | URL} url the stream's URL, or the events endpoint's with `streams`;
   *   resolved against the document
   * @param {{lastEventId?: string | number | null, stream?: string, streams?: string[],
   *          eventNames?: string[], withCredentials?: boolean, json?: boolean,
   *          minDelay?: number, maxDelay?: number}} [options]
   */
  constructor(url, options = {}) {
    this.#url = new URL(url, globalThis.document?.baseURI ?? globalThis.location?.href);
    this.#withCredentials = Boolean(options.withCredentials);
    this.#json = options.json ?? true;
    this.#minDelay = options.minDelay ?? 1000;
    this.#maxDelay = options.maxDelay ?? 30000;
    this.#eventNames = [...(options.eventNames ?? [])];
    const id = options.lastEventId == null ? "" : String(options.lastEventId);
    if (options.streams == null) {
      this.#name = options.stream ?? (this.#url.pathname.split("/").filter(Boolean).at(-1) || null);
      this.lastEventId = id;
    } else {
      this.#streams = streamList(options.streams);
      if (id !== "" && !parseCursor(id)) throw new TypeError(`lastEventId is not a cursor: ${id}`);
      this.lastEventId = this.#cursor(id);
    }
  }

  /** @returns {"connecting" | "live" | "reconnecting" | "stopped"} */
  get status() {
    return this.#status;
  }

  /** @returns {string[] | null} the streams followed, in order; null for the one-stream form */
  get streams() {
    return this.#streams && [...this.#streams];
  }

  /** @returns {Map<string | null, string>} stream name -> id, for the streams with a position */
  get positions() {
    if (!this.#streams) return new Map(this.lastEventId ? [[this.#name, this.lastEventId]] : []);
    return new Map(parseCursor(this.lastEventId) ?? []);
  }

  /**
   * Call handler for every event of this name: (data, messageEvent, stream), or (status, detail)
   * for "status". Returns a function that removes the handler.
   */
  on(name, handler) {
    let handlers = this.#handlers.get(name);
    if (!handlers) this.#handlers.set(name, (handlers = new Set()));
    handlers.add(handler);
    if (this.#source) this.#listen(name);
    return () => void handlers.delete(handler);
  }

  start() {
    if (this.#running || this.#streams?.length === 0) return this;
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

  /**
   * Follow these streams instead (several-stream form only), keeping the kept ones' positions.
   * @param {string[]} names
   * @param {Map<string, string | number> | Record<string, string | number>} [positions] ids to
   *   resume after, for streams being added; ignored for the streams already followed
   */
  setStreams(names, positions) {
    if (!this.#streams) throw new TypeError("setStreams() needs a LiveStream made with streams");
    const streams = streamList(names);
    const starts = positionMap(positions);
    const before = this.#streams;
    const same = streams.length === before.length;
    if (same && streams.every((name) => before.includes(name))) return this;
    this.#streams = streams;
    const added = streams.filter((name) => !before.includes(name) && starts.has(name));
    const pairs = added.map((name) => `${name}:${starts.get(name)}`);
    this.lastEventId = [this.#cursor(this.lastEventId), ...pairs].filter(Boolean).join(",");
    if (this.#running) {
      this.#close();
      this.#setStatus("connecting");
      this.#connect();
    }
    return this;
  }

  #connect() {
    this.#timer = null;
    this.#stale = false;
    const source = new EventSource(this.#connectUrl(), { withCredentials: this.#withCredentials });
    this.#source = source;
    this.#listening = new Set(["closedConnection"]);
    source.addEventListener("open", () => this.#onOpen(source));
    source.addEventListener("error", () => this.#onError(source));
    source.addEventListener("closedConnection", (event) => this.#onClosed(source, event));
    for (const name of [...ALWAYS_LISTENED, ...this.#eventNames, ...this.#handlers.keys()]) {
      this.#listen(name);
    }
  }

  #connectUrl() {
    const url = new URL(this.#url);
    if (this.#streams) {
      url.searchParams.delete("stream");
      url.searchParams.delete("lastEventId");
      for (const name of this.#streams) url.searchParams.append("stream", name);
    }
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
      this.#emit(name, this.#parse(event.data), event, this.#streamOf(event));
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
    const stream = this.#streamOf(event);
    const one = this.#streams ? dataStream(event.data) : null; // one stream of several ends
    if (this.#streams?.includes(one)) {
      this.#streams = this.#streams.filter((name) => name !== one);
      this.lastEventId = this.#cursor(this.lastEventId);
      this.#stale = true;
    }
    if (one === null || this.#streams.length === 0) {
      // Closing the EventSource here, before the response ends, keeps the browser from
      // reconnecting by itself.
      this.#halt(dataField(event.data, "reason") === FORBIDDEN ? FORBIDDEN : CLOSED_BY_SERVER);
    }
    this.#emit("closedConnection", this.#parse(event.data), event, stream);
  }

  #onError(source) {
    if (source !== this.#source) return;
    if (source.readyState !== EventSource.CLOSED) {
      // The browser reconnects by itself and sends Last-Event-ID, but with the URL it has.
      if (!this.#stale) return this.#setStatus("reconnecting", "connection lost");
      this.#close();
      return this.#retryLater("connection lost");
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
    this.#close();
    this.#setStatus("stopped", detail);
  }

  #close() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#probe?.abort();
    this.#probe = null;
    this.#source?.close();
    this.#source = null;
  }

  #track(event) {
    // The browser keeps the last id for events that carry none, so "" means "never had one".
    const id = this.#streams ? this.#cursor(event.lastEventId) : event.lastEventId;
    if (id) this.lastEventId = id;
  }

  /** The pairs of `cursor` that belong to streams followed, in its order ("" if none). */
  #cursor(cursor) {
    const pairs = (parseCursor(cursor) ?? []).filter(([name]) => this.#streams.includes(name));
    return pairs.map((pair) => pair.join(":")).join(",");
  }

  #streamOf(event) {
    if (!this.#streams) return this.#name;
    if (event.type === "streamReset" || event.type === "closedConnection") {
      const stream = dataStream(event.data);
      if (stream !== null) return stream;
    }
    return parseCursor(event.lastEventId)?.[0]?.[0] ?? null;
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

/** The stream names, duplicates collapsed; a TypeError if there are none or one is invalid. */
function streamList(names) {
  if (!Array.isArray(names) || names.length === 0) {
    throw new TypeError("streams must be a non-empty array of stream names");
  }
  for (const name of names) {
    if (typeof name !== "string" || !STREAM_NAME.test(name)) {
      throw new TypeError(`not a stream name: ${name}`);
    }
  }
  return [...new Set(names)];
}

/** "a:1,b:2" -> [["a", "1"], ["b", "2"]]; [] for ""; null if it is not a cursor. */
function parseCursor(cursor) {
  if (cursor === "") return [];
  const pairs = cursor.split(",").map((pair) => CURSOR_PAIR.exec(pair)?.slice(1));
  return pairs.every(Boolean) ? pairs : null;
}

/** data.stream of an event's JSON data, or null. */
function dataStream(data) {
  return dataField(data, "stream");
}

/** A string field of an event's JSON data, or null. */
function dataField(data, field) {
  try {
    const value = JSON.parse(data)?.[field];
    return typeof value === "string" ? value : null;
  } catch {
    return null;
  }
}

/**
 * setStreams()' positions (a Map or a plain object, or null/undefined for none) as a Map of
 * name -> id string; a TypeError if it is neither or if any id is not an event id.
 */
function positionMap(positions) {
  if (positions == null) return new Map();
  const plain = typeof positions === "object" && isPlainObject(positions);
  if (!(positions instanceof Map) && !plain) {
    throw new TypeError("positions must be a Map or a plain object of stream name -> id");
  }
  const entries = plain ? Object.entries(positions) : [...positions];
  return new Map(entries.map(([name, id]) => [name, eventId(id, name)]));
}

function isPlainObject(value) {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** An id as the cursor carries it: digits, from a string of them or a non-negative integer. */
function eventId(id, name) {
  if (typeof id === "number" && Number.isSafeInteger(id) && id >= 0) return String(id);
  if (typeof id === "string" && EVENT_ID.test(id)) return id;
  throw new TypeError(`not an event id for ${String(name)}: ${String(id)}`);
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
