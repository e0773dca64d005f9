// Unit tests for the browser client liveevents/static/liveevents/liveevents.js.
// Run from the repository root: node --test tests/js/

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";

import { LiveStream } from "../../liveevents/static/liveevents/liveevents.js";
import { FakeEventSource, install, settle } from "./fakes.mjs";

const STREAM_URL = "https://board.example/events/flights/";
const EVENT_STREAM = { "Content-Type": "text/event-stream; charset=utf-8" };

let clock, server, uninstall;

beforeEach(() => {
  ({ clock, server, uninstall } = install());
  mock.method(Math, "random", () => 0.5); // jitter: half of its range unless a test says otherwise
});

afterEach(() => {
  uninstall();
  mock.restoreAll();
});

/** The EventSources the client created, oldest first, and the current one. */
const sources = () => FakeEventSource.instances;
const source = () => FakeEventSource.instances.at(-1);

/** A started LiveStream (minDelay 1000, maxDelay 30000 unless given) that records its statuses. */
function startStream(options = {}, url = STREAM_URL) {
  const stream = new LiveStream(url, { minDelay: 1000, maxDelay: 30000, ...options });
  const statuses = [];
  stream.on("status", (status, detail) => statuses.push([status, detail]));
  stream.start();
  return { stream, statuses };
}

/** The browser gives up on the current EventSource and the probe gets this answer. */
async function browserGivesUp(status, headers = {}, init = {}) {
  source().fail();
  server.respond(status, headers, init);
  await settle();
}

/** The delay of the one reconnect timer waiting. */
function reconnectDelay() {
  assert.equal(clock.pending.length, 1, `expected one timer, got ${clock.pending}`);
  return clock.pending[0];
}

/** Run every timer there is, however far ahead. */
function waitForever() {
  clock.advance(24 * 3600 * 1000);
}

const lastStatus = (statuses) => statuses.at(-1);
const searchParam = (url, name) => new URL(url).searchParams.get(name);

describe("status", () => {
  test("is stopped before start()", () => {
    const stream = new LiveStream(STREAM_URL);
    assert.equal(stream.status, "stopped");
  });

  test("reports connecting on start() and live once the stream opens", () => {
    const { stream, statuses } = startStream();
    assert.deepEqual(statuses, [["connecting", ""]]);
    assert.equal(stream.status, "connecting");

    source().open();
    assert.deepEqual(statuses, [["connecting", ""], ["live", ""]]);
    assert.equal(stream.status, "live");
  });

  test("reports reconnecting while the browser retries by itself, and live when it is back", () => {
    const { stream, statuses } = startStream();
    source().open();

    source().drop();
    assert.deepEqual(lastStatus(statuses), ["reconnecting", "connection lost"]);
    assert.equal(stream.status, "reconnecting");
    assert.equal(sources().length, 1, "the browser reconnects; the client opens no EventSource");
    assert.equal(server.requests.length, 0, "and does not probe the server");
    assert.equal(source().closed, false);

    source().open();
    assert.deepEqual(lastStatus(statuses), ["live", ""]);
  });

  test("reports checking server while it probes, then why it will retry", async () => {
    const { statuses } = startStream();
    source().open();

    source().fail();
    assert.deepEqual(lastStatus(statuses), ["reconnecting", "checking server"]);
    server.respond(500);
    await settle();
    assert.deepEqual(statuses, [
      ["connecting", ""],
      ["live", ""],
      ["reconnecting", "checking server"],
      ["reconnecting", "server error 500"],
    ]);
  });

  test("reports stopped by user on stop()", () => {
    const { stream, statuses } = startStream();
    source().open();
    stream.stop();
    assert.deepEqual(lastStatus(statuses), ["stopped", "stopped by user"]);
    assert.equal(stream.status, "stopped");
  });

  test("does not repeat a status that has not changed", () => {
    const { statuses } = startStream();
    source().drop();
    source().drop();
    assert.deepEqual(statuses, [
      ["connecting", ""],
      ["reconnecting", "connection lost"],
    ]);
  });

  test("a handler that throws does not starve the others; its error is rethrown on a timer", () => {
    const stream = new LiveStream(STREAM_URL);
    const seen = [];
    stream.on("status", () => {
      throw new Error("broken handler");
    });
    stream.on("status", (status) => seen.push(status));
    stream.start();

    assert.deepEqual(seen, ["connecting"]);
    assert.deepEqual(clock.pending, [0]);
    assert.throws(() => clock.advance(0), /broken handler/);
  });
});

describe("reconnect backoff", () => {
  test("waits a random part of a ceiling that doubles from minDelay on each failure", async () => {
    startStream({ minDelay: 1000, maxDelay: 30000 });
    const delays = [];
    for (let i = 0; i < 5; i++) {
      await browserGivesUp(500);
      delays.push(reconnectDelay());
      clock.advance(reconnectDelay());
    }
    // Math.random() is 0.5: half of 1000, 2000, 4000, 8000, 16000.
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000]);
  });

  test("the ceiling stops growing at maxDelay", async () => {
    startStream({ minDelay: 1000, maxDelay: 5000 });
    const delays = [];
    for (let i = 0; i < 6; i++) {
      await browserGivesUp(500);
      delays.push(reconnectDelay());
      clock.advance(reconnectDelay());
    }
    // Ceilings 1000, 2000, 4000, 5000, 5000, 5000, times 0.5.
    assert.deepEqual(delays, [500, 1000, 2000, 2500, 2500, 2500]);
  });

  test("full jitter: the delay is Math.random() times the ceiling, anywhere from 0 to it", async () => {
    const draws = [0, 0.25, 0.999];
    Math.random.mock.mockImplementation(() => draws.shift());
    startStream({ minDelay: 1000, maxDelay: 30000 });
    const delays = [];
    for (let i = 0; i < 3; i++) {
      await browserGivesUp(502);
      delays.push(reconnectDelay());
      clock.advance(reconnectDelay());
    }
    // Ceilings 1000, 2000, 4000.
    assert.deepEqual(delays, [0, 500, 3996]);
  });

  test("reconnects when the delay has passed, not before", async () => {
    startStream();
    await browserGivesUp(500);
    assert.equal(reconnectDelay(), 500);

    clock.advance(499);
    assert.equal(sources().length, 1);
    clock.advance(1);
    assert.equal(sources().length, 2);
    assert.equal(sources()[0].closed, true, "the EventSource the browser gave up on is closed");
  });

  test("starts the backoff over once a reconnect succeeds", async () => {
    startStream();
    await browserGivesUp(500);
    clock.advance(reconnectDelay());
    await browserGivesUp(500);
    assert.equal(reconnectDelay(), 1000);
    clock.advance(reconnectDelay());

    source().open();
    await browserGivesUp(500);
    assert.equal(reconnectDelay(), 500);
  });

  test("a network error while probing is retried with backoff", async () => {
    const { statuses } = startStream();
    source().fail();
    server.networkError();
    await settle();
    assert.deepEqual(lastStatus(statuses), ["reconnecting", "network error"]);
    assert.equal(reconnectDelay(), 500);
  });

  test("a probe that gets no answer is abandoned after 10 seconds and retried", async () => {
    const { statuses } = startStream();
    source().fail();
    assert.deepEqual(clock.pending, [10000]);

    clock.advance(9999);
    await settle();
    assert.equal(server.requests[0].options.signal.aborted, false);
    clock.advance(1);
    await settle();
    assert.equal(server.requests[0].options.signal.aborted, true);
    assert.deepEqual(lastStatus(statuses), ["reconnecting", "network error"]);
    assert.equal(reconnectDelay(), 500);
  });

  test("the probe asks for an event stream, uncached, with the stream's credentials", async () => {
    startStream({ withCredentials: true });
    assert.equal(source().withCredentials, true);
    source().fail();
    const { options } = server.requests[0];
    assert.deepEqual(options.headers, { Accept: "text/event-stream" });
    assert.equal(options.cache, "no-store");
    assert.equal(options.credentials, "include");
  });

  test("without withCredentials the probe sends same-origin credentials only", () => {
    startStream();
    assert.equal(source().withCredentials, false);
    source().fail();
    assert.equal(server.requests[0].options.credentials, "same-origin");
  });

  test("when the probe finds the stream healthy it reconnects at once, but once per outage", async () => {
    const { statuses } = startStream();
    source().open();

    await browserGivesUp(200, EVENT_STREAM);
    assert.equal(sources().length, 2, "reconnected without waiting");
    assert.deepEqual(clock.pending, []);

    await browserGivesUp(200, EVENT_STREAM);
    assert.equal(sources().length, 2);
    assert.deepEqual(lastStatus(statuses), ["reconnecting", "retrying"]);
    assert.equal(reconnectDelay(), 1000, "second attempt of the outage: half of 2000");
  });

  test("a 200 answer that is not an event stream is retried with backoff", async () => {
    const { stream } = startStream();
    await browserGivesUp(200, { "Content-Type": "text/html" });
    assert.equal(stream.status, "reconnecting");
    assert.equal(reconnectDelay(), 500);
  });
});

describe("Retry-After", () => {
  test("after a 503 the next attempt waits Retry-After seconds, plus jitter up to minDelay", async () => {
    const { statuses } = startStream({ minDelay: 1000 });
    await browserGivesUp(503, { "Retry-After": "5" });
    assert.deepEqual(lastStatus(statuses), ["reconnecting", "server busy"]);
    assert.equal(reconnectDelay(), 5500); // 5 s + 0.5 * 1000

    clock.advance(5499);
    assert.equal(sources().length, 1);
    clock.advance(1);
    assert.equal(sources().length, 2);
  });

  test("the jitter on Retry-After is Math.random() times minDelay", async () => {
    Math.random.mock.mockImplementation(() => 0.25);
    startStream({ minDelay: 2000 });
    await browserGivesUp(503, { "Retry-After": "3" });
    assert.equal(reconnectDelay(), 3500);
  });

  test("a 429 honours Retry-After too", async () => {
    startStream();
    await browserGivesUp(429, { "Retry-After": "12" });
    assert.equal(reconnectDelay(), 12500);
  });

  test("Retry-After as an HTTP date waits until then", async () => {
    mock.method(Date, "now", () => Date.parse("Wed, 21 Oct 2015 07:28:00 GMT"));
    startStream();
    await browserGivesUp(503, { "Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT" });
    assert.equal(reconnectDelay(), 30500);
  });

  test("a Retry-After date in the past waits the jitter only", async () => {
    mock.method(Date, "now", () => Date.parse("Wed, 21 Oct 2015 07:28:00 GMT"));
    startStream();
    await browserGivesUp(503, { "Retry-After": "Wed, 21 Oct 2015 07:00:00 GMT" });
    assert.equal(reconnectDelay(), 500);
  });

  test("Retry-After is honoured even beyond maxDelay", async () => {
    startStream({ maxDelay: 30000 });
    await browserGivesUp(503, { "Retry-After": "120" });
    assert.equal(reconnectDelay(), 120500);
  });

  test("a 503 without a usable Retry-After falls back to the backoff", async () => {
    startStream();
    await browserGivesUp(503);
    assert.equal(reconnectDelay(), 500);
    clock.advance(reconnectDelay());
    await browserGivesUp(503, { "Retry-After": "soon" });
    assert.equal(reconnectDelay(), 1000);
  });

  test("Retry-After on a 500 is not used", async () => {
    startStream();
    await browserGivesUp(500, { "Retry-After": "60" });
    assert.equal(reconnectDelay(), 500);
  });
});

describe("stopping for good", () => {
  for (const [status, detail] of [
    [204, "closed by server"],
    [400, "bad request"],
    [401, "unauthorized"],
    [403, "forbidden"],
    [404, "not found"],
    [410, "gone"],
  ]) {
    test(`stops for good on a ${status} answer ("${detail}")`, async () => {
      const { stream, statuses } = startStream();
      source().open();
      await browserGivesUp(status);

      assert.deepEqual(lastStatus(statuses), ["stopped", detail]);
      assert.equal(stream.status, "stopped");
      assert.deepEqual(clock.pending, [], "no reconnect is scheduled");
      waitForever();
      assert.equal(sources().length, 1, "and none happens");
      assert.equal(server.requests.length, 1);
    });
  }

  test("stops on a redirect that ends on a page, not a stream (a login page)", async () => {
    const { statuses } = startStream();
    await browserGivesUp(200, { "Content-Type": "text/html" }, { redirected: true });
    assert.deepEqual(lastStatus(statuses), ["stopped", "redirected"]);
    waitForever();
    assert.equal(sources().length, 1);
  });

  test("stops for good after closedConnection, and tells its handlers", () => {
    const { stream, statuses } = startStream();
    const closed = [];
    stream.on("closedConnection", (data) => closed.push(data));
    source().open();

    source().emit("closedConnection", '{"reason": "shutdown"}', { id: "99" });
    assert.deepEqual(closed, [{ reason: "shutdown" }]);
    assert.deepEqual(lastStatus(statuses), ["stopped", "closed by server"]);
    assert.equal(source().closed, true, "the client closes the EventSource so the browser won't retry");
    assert.equal(stream.lastEventId, "99");

    source().fail(); // anything the old EventSource still reports is ignored
    waitForever();
    assert.equal(sources().length, 1);
    assert.equal(server.requests.length, 0);
    assert.deepEqual(lastStatus(statuses), ["stopped", "closed by server"]);
  });

  test("closedConnection stops the stream even with no handler for it", () => {
    const { stream } = startStream();
    source().emit("closedConnection", "");
    assert.equal(stream.status, "stopped");
    assert.equal(source().closed, true);
  });

  test("start() after the server stopped it connects again", async () => {
    const { stream, statuses } = startStream();
    stream.on("update", () => {});
    source().emit("update", "1", { id: "5" });
    await browserGivesUp(403);

    stream.start();
    assert.deepEqual(lastStatus(statuses), ["connecting", ""]);
    assert.equal(sources().length, 2);
    assert.equal(searchParam(source().url, "lastEventId"), "5");
  });
});

describe("lastEventId", () => {
  test("the first connect carries the lastEventId option", () => {
    const { stream } = startStream({ lastEventId: 42 });
    assert.equal(stream.lastEventId, "42");
    assert.equal(source().url, `${STREAM_URL}?lastEventId=42`);
  });

  test("without an id the URL has no lastEventId", () => {
    for (const lastEventId of [undefined, null, ""]) {
      const { stream } = startStream({ lastEventId });
      assert.equal(stream.lastEventId, "");
      assert.equal(source().url, STREAM_URL);
      stream.stop();
    }
  });

  test("follows the ids of the events received", () => {
    const { stream } = startStream({ lastEventId: "3" });
    stream.on("flightStateUpdate", () => {});
    source().emit("flightStateUpdate", "{}", { id: "4" });
    assert.equal(stream.lastEventId, "4");
    source().emit("flightStateUpdate", "{}", { id: "7" });
    assert.equal(stream.lastEventId, "7");
  });

  test("reconnects with the last id after the browser gives up", async () => {
    const { stream } = startStream({ lastEventId: "3" });
    stream.on("flightStateUpdate", () => {});
    source().open();
    source().emit("flightStateUpdate", "{}", { id: "7" });
    source().emit("flightStateUpdate", "{}", { id: "8" });

    source().fail();
    assert.equal(searchParam(server.requests[0].url, "lastEventId"), "8", "the probe asks from 8");
    server.respond(500);
    await settle();
    clock.advance(reconnectDelay());

    assert.equal(sources().length, 2);
    assert.equal(source().url, `${STREAM_URL}?lastEventId=8`);
  });

  test("an event whose id is empty does not make it forget the last id", async () => {
    const { stream } = startStream();
    stream.on("update", () => {});
    source().emit("update", "a", { id: "12" });
    source().emit("update", "b", { id: "" });
    assert.equal(stream.lastEventId, "12");

    await browserGivesUp(500);
    clock.advance(reconnectDelay());
    assert.equal(searchParam(source().url, "lastEventId"), "12");
  });

  test("keeps the stream URL's own query and replaces a stale lastEventId in it", () => {
    const { stream } = startStream({ lastEventId: "9" }, `${STREAM_URL}?airport=AMS&lastEventId=1`);
    const url = new URL(source().url);
    assert.equal(url.searchParams.get("airport"), "AMS");
    assert.deepEqual(url.searchParams.getAll("lastEventId"), ["9"]);
    stream.stop();
  });

  test("events of names nobody listens to do not move the id", () => {
    const { stream } = startStream({ lastEventId: "3" });
    source().emit("somethingElse", "{}", { id: "4" });
    assert.equal(stream.lastEventId, "3");
  });
});

describe("stop() and start()", () => {
  test("stop() closes the EventSource", () => {
    const { stream } = startStream();
    source().open();
    stream.stop();
    assert.equal(source().closed, true);
    assert.equal(stream.status, "stopped");
  });

  test("stop() cancels a pending reconnect", async () => {
    const { stream, statuses } = startStream();
    await browserGivesUp(500);
    assert.equal(reconnectDelay(), 500);

    stream.stop();
    assert.deepEqual(clock.pending, []);
    waitForever();
    assert.equal(sources().length, 1);
    assert.deepEqual(lastStatus(statuses), ["stopped", "stopped by user"]);
  });

  test("stop() abandons a probe in flight", async () => {
    const { stream, statuses } = startStream();
    source().fail();
    const probe = server.requests[0];

    stream.stop();
    assert.equal(probe.options.signal.aborted, true);
    await settle();
    waitForever();
    assert.equal(sources().length, 1);
    assert.deepEqual(lastStatus(statuses), ["stopped", "stopped by user"]);
  });

  test("stop() right after the probe answered still wins over the answer", async () => {
    const { stream, statuses } = startStream();
    source().fail();
    server.respond(500); // the answer is in, but the client has not looked at it yet
    stream.stop();
    await settle();

    assert.deepEqual(clock.pending, []);
    waitForever();
    assert.equal(sources().length, 1);
    assert.deepEqual(lastStatus(statuses), ["stopped", "stopped by user"]);
  });

  test("stop() and start() during a probe: the old probe's answer is ignored", async () => {
    const { stream } = startStream();
    source().fail();
    server.respond(204); // would stop the stream for good
    stream.stop();
    stream.start();
    await settle();

    assert.equal(stream.status, "connecting");
    assert.equal(source().closed, false);
  });

  test("start() resumes with the last id", () => {
    const { stream, statuses } = startStream();
    stream.on("update", () => {});
    source().open();
    source().emit("update", "{}", { id: "21" });
    stream.stop();

    stream.start();
    assert.equal(sources().length, 2);
    assert.equal(source().url, `${STREAM_URL}?lastEventId=21`);
    assert.deepEqual(lastStatus(statuses), ["connecting", ""]);
    source().open();
    assert.deepEqual(lastStatus(statuses), ["live", ""]);
  });

  test("start() starts the backoff over", async () => {
    const { stream } = startStream();
    await browserGivesUp(500);
    clock.advance(reconnectDelay());
    await browserGivesUp(500);
    assert.equal(reconnectDelay(), 1000);
    stream.stop();

    stream.start();
    await browserGivesUp(500);
    assert.equal(reconnectDelay(), 500);
  });

  test("start() while running does nothing", () => {
    const { stream, statuses } = startStream();
    source().open();
    stream.start();
    assert.equal(sources().length, 1);
    assert.deepEqual(lastStatus(statuses), ["live", ""]);
  });

  test("stop() when stopped reports nothing", () => {
    const { stream, statuses } = startStream();
    stream.stop();
    const before = statuses.length;
    stream.stop();
    assert.equal(statuses.length, before);
  });

  test("start() and stop() return the stream, for chaining", () => {
    const stream = new LiveStream(STREAM_URL);
    assert.equal(stream.start(), stream);
    assert.equal(stream.stop(), stream);
  });

  test("what a stopped EventSource still reports is ignored", () => {
    const { stream, statuses } = startStream();
    const updates = [];
    stream.on("update", (data) => updates.push(data));
    const old = source();
    old.open();
    stream.stop();
    const before = [...statuses];

    old.emit("update", "1", { id: "50" });
    old.open();
    old.emit("closedConnection", "");
    old.fail();
    assert.deepEqual(updates, []);
    assert.deepEqual(statuses, before);
    assert.equal(stream.lastEventId, "");
    assert.equal(server.requests.length, 0);
  });
});

describe("named events", () => {
  test("dispatches each named event to its own handlers, with parsed data and the event", () => {
    const stream = new LiveStream(STREAM_URL);
    const calls = [];
    stream.on("flightStateUpdate", (data, event) => calls.push(["first", data, event.type]));
    stream.on("flightStateUpdate", (data) => calls.push(["second", data]));
    stream.on("streamReset", (data) => calls.push(["reset", data]));
    stream.start();

    source().emit("flightStateUpdate", '{"code": "A123", "state": "landed"}', { id: "1" });
    assert.deepEqual(calls, [
      ["first", { code: "A123", state: "landed" }, "flightStateUpdate"],
      ["second", { code: "A123", state: "landed" }],
    ]);

    calls.length = 0;
    source().emit("streamReset", '{"stream": "flights", "lastEventId": "1"}');
    assert.deepEqual(calls, [["reset", { stream: "flights", lastEventId: "1" }]]);
  });

  test("the event is passed along as it came from the EventSource", () => {
    const { stream } = startStream();
    let received = null;
    stream.on("update", (data, event) => (received = event));
    source().emit("update", "1", { id: "2" });
    assert.equal(received.target, source());
    assert.equal(received.lastEventId, "2");
  });

  test("data that is not JSON is passed as the raw string", () => {
    const { stream } = startStream();
    const seen = [];
    stream.on("note", (data) => seen.push(data));
    source().emit("note", "not json {");
    assert.deepEqual(seen, ["not json {"]);
  });

  test("json: false passes the raw string even when it is JSON", () => {
    const { stream } = startStream({ json: false });
    const seen = [];
    stream.on("update", (data) => seen.push(data));
    source().emit("update", '{"a": 1}');
    assert.deepEqual(seen, ['{"a": 1}']);
  });

  test("a handler added after start() gets the events, with one listener per name", () => {
    const { stream } = startStream();
    const seen = [];
    stream.on("update", (data) => seen.push(["a", data]));
    stream.on("update", (data) => seen.push(["b", data]));
    source().emit("update", "1");
    assert.deepEqual(seen, [
      ["a", 1],
      ["b", 1],
    ]);
    assert.equal(source().listenerCount("update"), 1);
  });

  test("handlers keep getting events after a reconnect", async () => {
    const { stream } = startStream();
    const seen = [];
    stream.on("update", (data) => seen.push(data));
    await browserGivesUp(500);
    clock.advance(reconnectDelay());

    source().emit("update", "2");
    assert.deepEqual(seen, [2]);
    assert.equal(source().listenerCount("update"), 1);
  });

  test("off() unsubscribes only that handler", () => {
    const { stream } = startStream();
    const seen = [];
    const off = stream.on("update", () => seen.push("gone"));
    stream.on("update", () => seen.push("kept"));
    off();
    source().emit("update", "1");
    assert.deepEqual(seen, ["kept"]);
  });

  test("a server event named status does not reach the status handlers", () => {
    const { statuses } = startStream();
    const before = [...statuses];
    source().emit("status", '"live"');
    assert.deepEqual(statuses, before);
    assert.equal(source().listenerCount("status"), 0);
  });
});
