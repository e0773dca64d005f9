// Unit tests for the htmx extension liveevents/static/liveevents/liveevents-htmx.js, run in a
// context of its own with a fake htmx (which records the extension) and fake elements; the
// browser tests (tests/flightboard/e2e/test_htmx_board.py) run it with the real htmx.
// Run from the repository root: node --test tests/js/

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { beforeEach, describe, test } from "node:test";
import vm from "node:vm";

import { FakeEventSource } from "./fakes.mjs";

const SOURCE = readFileSync(new URL("../../liveevents/static/liveevents/liveevents-htmx.js", import.meta.url), "utf8");
const PAGE = "https://board.example/htmx/";

/** An element with attributes and a parent, as much as the extension uses. */
class FakeElement {
  constructor(attributes = {}, parent = null) {
    this.attributes = new Map(Object.entries(attributes));
    this.parent = parent;
  }
  hasAttribute(name) {
    return this.attributes.has(name);
  }
  getAttribute(name) {
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }
  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }
  closest(selector) {
    assert.equal(selector, "[sse-connect],[data-sse-connect]");
    for (let elt = this; elt; elt = elt.parent) {
      if (elt.hasAttribute("sse-connect") || elt.hasAttribute("data-sse-connect")) return elt;
    }
    return null;
  }
}

let extension, reloads;

beforeEach(() => {
  extension = null;
  reloads = 0;
  const context = {
    URL,
    Element: FakeElement,
    JSON,
    document: { baseURI: PAGE },
    location: { origin: new URL(PAGE).origin, reload: () => (reloads += 1) },
    htmx: { defineExtension: (name, definition) => name === "liveevents" && (extension = definition) },
  };
  vm.runInNewContext(SOURCE, context);
  assert.ok(extension, "the script defines the extension 'liveevents'");
});

/** htmx's event `name` on `elt`: htmx puts the element in detail.elt. */
function trigger(name, elt, detail = {}) {
  extension.onEvent(name, { target: elt, detail: Object.assign(detail, { elt }) });
}

/** A board: <main sse-connect=url> around a <tbody sse-swap>, processed and open. */
function board(url = "/events/?stream=rows&stream=ticker&lastEventId=rows%3A1%2Cticker%3A0", attribute = "sse-connect") {
  const main = new FakeElement({ [attribute]: url });
  const tbody = new FakeElement({ "sse-swap": "rowsChanged" }, main);
  const source = new FakeEventSource(new URL(url, PAGE));
  trigger("htmx:afterProcessNode", main);
  trigger("htmx:sseOpen", main, { source });
  return { main, tbody, source };
}

/** The SSE extension swapped an event into `elt`, then told htmx (htmx:sseMessage). */
function swapped(elt, lastEventId) {
  trigger("htmx:sseMessage", elt, { type: "rowsChanged", data: "<tr></tr>", lastEventId });
}

describe("status", () => {
  test("connecting until open, live while open, offline from an error until open again", () => {
    const main = new FakeElement({ "sse-connect": "/events/rows/" });
    trigger("htmx:afterProcessNode", main);
    assert.equal(main.getAttribute("data-live-status"), "connecting");
    const source = new FakeEventSource("https://board.example/events/rows/");
    trigger("htmx:sseOpen", main, { source });
    assert.equal(main.getAttribute("data-live-status"), "live");
    trigger("htmx:sseError", main, { source });
    assert.equal(main.getAttribute("data-live-status"), "offline");
    trigger("htmx:sseOpen", main, { source });
    assert.equal(main.getAttribute("data-live-status"), "live");
  });

  test("an element without sse-connect gets none", () => {
    const other = new FakeElement({ "sse-swap": "rowsChanged" });
    trigger("htmx:afterProcessNode", other);
    assert.equal(other.getAttribute("data-live-status"), null);
  });
});

describe("resuming after the last event swapped", () => {
  test("an error writes the last id into sse-connect, keeping the other parameters", () => {
    const { main, tbody } = board();
    swapped(tbody, "rows:7,ticker:3");
    swapped(tbody, "rows:8,ticker:3");
    trigger("htmx:sseError", main);
    assert.equal(
      main.getAttribute("sse-connect"),
      "/events/?stream=rows&stream=ticker&lastEventId=rows%3A8%2Cticker%3A3",
    );
  });

  test("nothing swapped yet: sse-connect keeps the position the page was rendered at", () => {
    const { main } = board();
    trigger("htmx:sseError", main);
    assert.equal(main.getAttribute("sse-connect"), "/events/?stream=rows&stream=ticker&lastEventId=rows%3A1%2Cticker%3A0");
  });

  test("a stream's own URL, data-sse-connect, a URL without lastEventId", () => {
    const { main, tbody } = board("/events/rows/", "data-sse-connect");
    swapped(tbody, "12");
    trigger("htmx:sseError", main);
    assert.equal(main.getAttribute("data-sse-connect"), "/events/rows/?lastEventId=12");
  });

  test("a stream of another origin keeps its origin", () => {
    const { main, tbody } = board("https://events.example/events/rows/?lastEventId=1");
    swapped(tbody, "2");
    trigger("htmx:sseError", main);
    assert.equal(main.getAttribute("sse-connect"), "https://events.example/events/rows/?lastEventId=2");
  });

  test("each sse-connect element keeps its own position", () => {
    const first = board("/events/rows/?lastEventId=1");
    const second = board("/events/ticker/?lastEventId=5");
    swapped(first.tbody, "2");
    swapped(second.tbody, "9");
    trigger("htmx:sseError", first.main);
    trigger("htmx:sseError", second.main);
    assert.equal(first.main.getAttribute("sse-connect"), "/events/rows/?lastEventId=2");
    assert.equal(second.main.getAttribute("sse-connect"), "/events/ticker/?lastEventId=9");
  });
});

describe("control events", () => {
  test("streamReset reloads the page", () => {
    const { source } = board();
    source.emit("streamReset", '{"stream": "rows", "lastEventId": 40}', { id: "rows:40,ticker:0" });
    assert.equal(reloads, 1);
  });

  test("a source reopened by the browser is watched once", () => {
    const { main, source } = board();
    trigger("htmx:sseOpen", main, { source });
    source.emit("streamReset", "{}");
    assert.equal(reloads, 1);
  });

  test("closedConnection of one stream of several: the others go on", () => {
    const { main, source } = board();
    source.emit("closedConnection", '{"stream": "rows"}');
    assert.equal(source.closed, false);
    assert.equal(main.getAttribute("data-live-status"), "live");
  });

  test("once every stream is closed: closed, and no reconnect", () => {
    const { main, source } = board();
    source.emit("closedConnection", '{"stream": "rows"}');
    source.emit("closedConnection", '{"stream": "ticker", "reason": "forbidden"}');
    assert.equal(source.closed, true);
    assert.equal(main.getAttribute("data-live-status"), "closed");
    trigger("htmx:sseError", main, { source });
    assert.equal(main.getAttribute("data-live-status"), "closed");
  });

  test("closedConnection on a stream's own URL ends it", () => {
    const { main, source } = board("/events/rows/?lastEventId=3");
    source.emit("closedConnection", "");
    assert.equal(source.closed, true);
    assert.equal(main.getAttribute("data-live-status"), "closed");
  });
});
