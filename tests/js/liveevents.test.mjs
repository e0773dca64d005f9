// Unit tests for the browser client liveevents/static/liveevents/liveevents.js.
// Run from the repository root: node --test tests/js/

import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";

import { LiveStream } from "../../liveevents/static/liveevents/liveevents.js";
import { FakeEventSource, install, settle } from "./fakes.mjs";

const STREAM_URL = "https://board.example/events/flights/";
const EVENTS_URL = "https://board.example/events/";
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

/** startStream() on several streams: flights and announcements unless given. */
function startStreams(options = {}, url = EVENTS_URL) {
  return startStream({ streams: ["flights", "announcements"], ...options }, url);
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

  test("events without a name move the id with no handler for them", () => {
    const { stream } = startStream({ lastEventId: "3" });
    source().emit("message", "{}", { id: "4" });
    assert.equal(stream.lastEventId, "4");
  });

  test("streamReset and closedConnection move the id with no handler for them", () => {
    const { stream } = startStream({ lastEventId: "3" });
    source().emit("streamReset", '{"stream": "flights", "lastEventId": 9}', { id: "9" });
    assert.equal(stream.lastEventId, "9");
    source().emit("closedConnection", "", { id: "10" });
    assert.equal(stream.lastEventId, "10");
  });

  test("the names in eventNames move the id with no handler for them", async () => {
    const { stream } = startStream({ lastEventId: "3", eventNames: ["flightRemoval"] });
    source().emit("flightRemoval", "{}", { id: "4" });
    assert.equal(stream.lastEventId, "4");

    await browserGivesUp(500);
    clock.advance(reconnectDelay());
    source().emit("flightRemoval", "{}", { id: "5" });
    assert.equal(stream.lastEventId, "5", "on later connections too");
    assert.equal(source().listenerCount("flightRemoval"), 1);
  });

  test("a name whose handlers were all removed still moves the id, on later connections", () => {
    const { stream } = startStream();
    const seen = [];
    const off = stream.on("update", (data) => seen.push(data));
    source().emit("update", "1", { id: "1" });
    off();
    source().emit("update", "2", { id: "2" });
    assert.equal(stream.lastEventId, "2");

    stream.stop();
    stream.start();
    source().emit("update", "3", { id: "3" });
    assert.equal(stream.lastEventId, "3");
    assert.deepEqual(seen, [1], "off() still unsubscribed the handler");
  });

  test("an event of a name never listened to is out of sight until the next event seen", async () => {
    // EventSource has no catch-all listener: the documented limitation (eventNames avoids it).
    const { stream } = startStream({ lastEventId: "3" });
    stream.on("update", () => {});
    source().emit("somethingElse", "{}", { id: "4" });
    assert.equal(stream.lastEventId, "3");

    source().emit("update", "{}"); // no id of its own: the browser gives it the last one, 4
    assert.equal(stream.lastEventId, "4");
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

describe("the stream argument of handlers", () => {
  test("on one stream it is the stream option", () => {
    const { stream } = startStream({ stream: "arrivals" });
    const seen = [];
    stream.on("update", (data, event, name) => seen.push(name));
    source().emit("update", "1", { id: "1" });
    assert.deepEqual(seen, ["arrivals"]);
  });

  test("on one stream without the option it is the URL's last path segment", () => {
    for (const url of [STREAM_URL, "https://board.example/events/flights?airport=AMS"]) {
      const { stream } = startStream({}, url);
      const seen = [];
      stream.on("update", (data, event, name) => seen.push(name));
      stream.on("streamReset", (data, event, name) => seen.push(name));
      stream.on("closedConnection", (data, event, name) => seen.push(name));
      source().emit("update", "1", { id: "1" });
      source().emit("streamReset", '{"stream": "other", "lastEventId": 1}');
      source().emit("closedConnection", "");
      assert.deepEqual(seen, ["flights", "flights", "flights"], url);
    }
  });

  test("on one stream at a URL without a path it is null", () => {
    const { stream } = startStream({}, "https://board.example/");
    const seen = [];
    stream.on("update", (data, event, name) => seen.push(name));
    source().emit("update", "1");
    assert.deepEqual(seen, [null]);
  });

  test("on several streams it is the first name of the event's id", () => {
    const { stream } = startStreams();
    const seen = [];
    stream.on("update", (data, event, name) => seen.push([data, name]));
    source().emit("update", "1", { id: "announcements:4,flights:13" });
    source().emit("update", "2", { id: "flights:14,announcements:4" });
    assert.deepEqual(seen, [
      [1, "announcements"],
      [2, "flights"],
    ]);
  });

  test("on several streams it is data.stream for streamReset and closedConnection", () => {
    const { stream } = startStreams({ json: false });
    const seen = [];
    stream.on("streamReset", (data, event, name) => seen.push(["reset", name]));
    stream.on("closedConnection", (data, event, name) => seen.push(["closed", name, data]));
    source().emit("update", "1", { id: "flights:13,announcements:4" });
    source().emit("streamReset", '{"stream": "announcements", "lastEventId": 2}', {
      id: "announcements:2,flights:13",
    });
    source().emit("closedConnection", '{"stream": "flights"}'); // no id: it repeats the last one
    assert.deepEqual(seen, [
      ["reset", "announcements"],
      ["closed", "flights", '{"stream": "flights"}'],
    ]);
  });

  test("on several streams it is null for an event with no id yet", () => {
    const { stream } = startStreams();
    const seen = [];
    stream.on("update", (data, event, name) => seen.push(name));
    source().emit("update", "1");
    assert.deepEqual(seen, [null]);
  });
});

describe("several streams: the URL", () => {
  test("connects to the endpoint with a stream parameter per stream and the cursor", () => {
    const { stream } = startStreams({ lastEventId: "flights:12,announcements:3" });
    assert.equal(
      source().url,
      `${EVENTS_URL}?stream=flights&stream=announcements&lastEventId=flights%3A12%2Cannouncements%3A3`,
    );
    assert.equal(stream.lastEventId, "flights:12,announcements:3");
  });

  test("without a cursor the URL has no lastEventId", () => {
    for (const lastEventId of [undefined, null, ""]) {
      const { stream } = startStreams({ lastEventId });
      assert.equal(stream.lastEventId, "");
      assert.equal(source().url, `${EVENTS_URL}?stream=flights&stream=announcements`);
      stream.stop();
    }
  });

  test("keeps the URL's other query parameters and replaces its stream and lastEventId ones", () => {
    const url = `${EVENTS_URL}?airport=AMS&stream=old&lastEventId=old%3A1&lang=nl`;
    const { stream } = startStreams({ lastEventId: "flights:12" }, url);
    const params = new URL(source().url).searchParams;
    assert.equal(params.get("airport"), "AMS");
    assert.equal(params.get("lang"), "nl");
    assert.deepEqual(params.getAll("stream"), ["flights", "announcements"]);
    assert.deepEqual(params.getAll("lastEventId"), ["flights:12"]);
    stream.stop();

    startStreams({}, url);
    assert.equal(source().url, `${EVENTS_URL}?airport=AMS&lang=nl&stream=flights&stream=announcements`);
  });

  test("duplicate streams collapse, in the order first given", () => {
    const { stream } = startStreams({ streams: ["b", "a", "b", "a", "c"] });
    assert.deepEqual(new URL(source().url).searchParams.getAll("stream"), ["b", "a", "c"]);
    assert.deepEqual(stream.streams, ["b", "a", "c"]);
  });

  test("the cursor option keeps only the pairs of the streams followed", () => {
    const { stream } = startStreams({ lastEventId: "other:5,announcements:3" });
    assert.equal(stream.lastEventId, "announcements:3");
    assert.equal(searchParam(source().url, "lastEventId"), "announcements:3");
  });

  test("a lastEventId that is not a cursor, a bad stream name or no stream throws a TypeError", () => {
    const make = (options) => () => new LiveStream(EVENTS_URL, { streams: ["flights"], ...options });
    for (const lastEventId of ["42", "flights:", ":3", "flights:1,", "flights:1:2", "a b:1"]) {
      assert.throws(make({ lastEventId }), TypeError, lastEventId);
    }
    for (const streams of [[], ["a:b"], ["a,b"], [""], ["x".repeat(81)], [7], "flights"]) {
      assert.throws(make({ streams }), TypeError, JSON.stringify(streams));
    }
    assert.deepEqual(new LiveStream(EVENTS_URL, { streams: ["A-z_0.9"] }).streams, ["A-z_0.9"]);
    assert.equal(sources().length, 0);
  });

  test("the probe asks the same URL", () => {
    startStreams({ lastEventId: "flights:12" });
    source().fail();
    assert.equal(server.requests[0].url, source().url);
  });
});

describe("several streams: the cursor", () => {
  test("lastEventId is every event's whole id; positions reads it per stream", () => {
    const { stream } = startStreams({ lastEventId: "flights:12,announcements:3" });
    assert.deepEqual(stream.positions, new Map([["flights", "12"], ["announcements", "3"]]));
    stream.on("update", () => {});
    source().emit("update", "{}", { id: "announcements:4,flights:12" });
    assert.equal(stream.lastEventId, "announcements:4,flights:12");
    assert.deepEqual(stream.positions, new Map([["announcements", "4"], ["flights", "12"]]));

    stream.positions.delete("flights");
    assert.equal(stream.positions.size, 2, "positions is a copy");
  });

  test("positions is empty without a cursor, and one entry on one stream", () => {
    assert.deepEqual(new LiveStream(EVENTS_URL, { streams: ["flights"] }).positions, new Map());
    assert.deepEqual(new LiveStream(STREAM_URL).positions, new Map());
    const one = new LiveStream(STREAM_URL, { lastEventId: 8 });
    assert.deepEqual(one.positions, new Map([["flights", "8"]]));
  });

  test("is kept across a reconnect after the browser gives up", async () => {
    const { stream } = startStreams();
    stream.on("update", () => {});
    source().open();
    source().emit("update", "{}", { id: "flights:13,announcements:3" });
    source().emit("update", "{}", { id: "announcements:4,flights:13" });

    source().fail();
    assert.equal(searchParam(server.requests[0].url, "lastEventId"), "announcements:4,flights:13");
    server.respond(500);
    await settle();
    clock.advance(reconnectDelay());
    assert.equal(sources().length, 2);
    assert.equal(searchParam(source().url, "lastEventId"), "announcements:4,flights:13");
    assert.deepEqual(new URL(source().url).searchParams.getAll("stream"), ["flights", "announcements"]);
  });

  test("is kept when the probe finds the server healthy and reconnects at once", async () => {
    const { stream } = startStreams({ lastEventId: "flights:1" });
    source().emit("message", "{}", { id: "flights:2,announcements:8" });
    await browserGivesUp(200, EVENT_STREAM);
    assert.equal(sources().length, 2);
    assert.equal(searchParam(source().url, "lastEventId"), "flights:2,announcements:8");
    assert.equal(stream.lastEventId, "flights:2,announcements:8");
  });

  test("is kept across stop() and start()", () => {
    const { stream } = startStreams();
    stream.on("update", () => {});
    source().emit("update", "{}", { id: "flights:21,announcements:3" });
    stream.stop();
    assert.equal(stream.lastEventId, "flights:21,announcements:3");

    stream.start();
    assert.equal(sources().length, 2);
    assert.equal(searchParam(source().url, "lastEventId"), "flights:21,announcements:3");
  });

  test("an id that holds no stream followed does not replace it", () => {
    const { stream } = startStreams({ lastEventId: "flights:1" });
    for (const id of ["42", "gates:3", "flights:2:3"]) {
      source().emit("message", "{}", { id });
      assert.equal(stream.lastEventId, "flights:1", id);
    }
  });

  test("events of unhandled names move it too: message, streamReset, eventNames", () => {
    const { stream } = startStreams({ eventNames: ["announcement"] });
    source().emit("message", "{}", { id: "flights:1,announcements:1" });
    assert.equal(stream.lastEventId, "flights:1,announcements:1");
    source().emit("announcement", "{}", { id: "announcements:2,flights:1" });
    assert.equal(stream.lastEventId, "announcements:2,flights:1");
    source().emit("streamReset", '{"stream": "flights", "lastEventId": 9}', {
      id: "flights:9,announcements:2",
    });
    assert.equal(stream.lastEventId, "flights:9,announcements:2");
  });

  test("streamReset reaches its handlers with its stream and its id becomes the cursor", () => {
    const { stream } = startStreams({ lastEventId: "flights:12,announcements:3" });
    const resets = [];
    stream.on("streamReset", (data, event, name) => resets.push([data, name]));
    source().open();
    source().emit("streamReset", '{"stream": "announcements", "lastEventId": 1}', {
      id: "announcements:1,flights:12",
    });
    assert.deepEqual(resets, [[{ stream: "announcements", lastEventId: 1 }, "announcements"]]);
    assert.equal(stream.lastEventId, "announcements:1,flights:12");
    assert.equal(stream.status, "live", "the connection goes on");
    assert.equal(source().closed, false);
  });
});

describe("several streams: closedConnection", () => {
  test("for one stream: tells the handlers, drops it, and the connection goes on", () => {
    const { stream, statuses } = startStreams({ streams: ["flights", "announcements", "gates"] });
    const closed = [];
    stream.on("closedConnection", (data, event, name) => closed.push([data, name]));
    source().open();
    source().emit("update", "{}", { id: "flights:5,announcements:3,gates:1" });

    source().emit("closedConnection", '{"stream": "announcements"}');
    assert.deepEqual(closed, [[{ stream: "announcements" }, "announcements"]]);
    assert.deepEqual(stream.streams, ["flights", "gates"]);
    assert.equal(stream.lastEventId, "flights:5,gates:1");
    assert.deepEqual([...stream.positions.keys()], ["flights", "gates"]);
    assert.deepEqual(lastStatus(statuses), ["live", ""]);
    assert.equal(source().closed, false);
    assert.equal(sources().length, 1);
  });

  test("a closed stream is not asked for again after the browser gives up", async () => {
    const { stream } = startStreams();
    source().emit("message", "{}", { id: "flights:5,announcements:3" });
    source().emit("closedConnection", '{"stream": "announcements"}');
    source().emit("message", "{}", { id: "flights:6,announcements:3" }); // a server still naming it

    assert.equal(stream.lastEventId, "flights:6");
    source().fail();
    assert.equal(server.requests[0].url, `${EVENTS_URL}?stream=flights&lastEventId=flights%3A6`);
    server.respond(500);
    await settle();
    clock.advance(reconnectDelay());
    assert.equal(source().url, `${EVENTS_URL}?stream=flights&lastEventId=flights%3A6`);
  });

  test("nor when the browser would reconnect by itself: the client does, with the streams left", () => {
    const { stream, statuses } = startStreams();
    const old = source();
    old.open();
    old.emit("message", "{}", { id: "flights:5,announcements:3" });
    old.emit("closedConnection", '{"stream": "flights"}');

    old.drop();
    assert.equal(old.closed, true, "the browser must not reconnect with the old URL");
    assert.deepEqual(lastStatus(statuses), ["reconnecting", "connection lost"]);
    assert.equal(reconnectDelay(), 500, "a jittered pause up to minDelay");
    clock.advance(reconnectDelay());
    assert.equal(source().url, `${EVENTS_URL}?stream=announcements&lastEventId=announcements%3A3`);

    source().open();
    source().drop();
    assert.equal(sources().length, 2, "then the browser reconnects by itself again");
    assert.equal(source().closed, false);
    assert.equal(stream.status, "reconnecting");
  });

  test("for the last stream: stops with closed by server, for good", () => {
    const { stream, statuses } = startStreams();
    const closed = [];
    stream.on("closedConnection", (data, event, name) => closed.push(name));
    source().open();
    source().emit("closedConnection", '{"stream": "flights"}');
    assert.equal(stream.status, "live");
    source().emit("closedConnection", '{"stream": "announcements"}');

    assert.deepEqual(closed, ["flights", "announcements"]);
    assert.deepEqual(lastStatus(statuses), ["stopped", "closed by server"]);
    assert.deepEqual(stream.streams, []);
    assert.equal(source().closed, true);
    source().fail();
    waitForever();
    assert.equal(sources().length, 1);
    assert.equal(server.requests.length, 0);

    stream.start();
    assert.equal(sources().length, 1, "start() has no stream to ask for");
    assert.deepEqual(lastStatus(statuses), ["stopped", "closed by server"]);

    stream.setStreams(["gates"]).start();
    assert.equal(sources().length, 2);
    assert.equal(source().url, `${EVENTS_URL}?stream=gates`);
  });

  test("for a stream not followed: the handlers are told, nothing is dropped", () => {
    const { stream } = startStreams();
    const closed = [];
    stream.on("closedConnection", (data, event, name) => closed.push(name));
    source().open();
    source().emit("closedConnection", '{"stream": "gates"}');
    assert.deepEqual(closed, ["gates"]);
    assert.deepEqual(stream.streams, ["flights", "announcements"]);
    assert.equal(stream.status, "live");
  });

  test("without data.stream: the end of the connection, as on one stream", () => {
    const { stream, statuses } = startStreams();
    source().emit("closedConnection", "");
    assert.deepEqual(lastStatus(statuses), ["stopped", "closed by server"]);
    assert.equal(source().closed, true);
    assert.deepEqual(stream.streams, ["flights", "announcements"]);
  });

  test("works with json: false", () => {
    const { stream } = startStreams({ json: false });
    source().emit("closedConnection", '{"stream": "flights"}');
    assert.deepEqual(stream.streams, ["announcements"]);
  });
});

describe("several streams: stopping for good", () => {
  for (const [status, detail] of [
    [204, "closed by server"],
    [400, "bad request"],
    [401, "unauthorized"],
    [403, "forbidden"],
    [404, "not found"],
    [410, "gone"],
  ]) {
    test(`stops for good on a ${status} answer ("${detail}")`, async () => {
      const { stream, statuses } = startStreams({ lastEventId: "flights:1" });
      source().open();
      await browserGivesUp(status);

      assert.deepEqual(lastStatus(statuses), ["stopped", detail]);
      assert.equal(stream.status, "stopped");
      assert.deepEqual(clock.pending, []);
      waitForever();
      assert.equal(sources().length, 1);
      assert.equal(server.requests.length, 1);
      assert.equal(stream.lastEventId, "flights:1");
    });
  }

  test("and backs off on a 503 with Retry-After as on one stream", async () => {
    startStreams();
    await browserGivesUp(503, { "Retry-After": "5" });
    assert.equal(reconnectDelay(), 5500);
  });
});

describe("setStreams()", () => {
  test("reconnects at once with the new set and the positions of the streams kept", () => {
    const { stream, statuses } = startStreams({ lastEventId: "flights:12,announcements:3" });
    const old = source();
    old.open();

    assert.equal(stream.setStreams(["flights", "flight.I768"]), stream);
    assert.equal(old.closed, true);
    assert.equal(sources().length, 2);
    const params = new URL(source().url).searchParams;
    assert.deepEqual(params.getAll("stream"), ["flights", "flight.I768"]);
    assert.equal(params.get("lastEventId"), "flights:12", "a new one starts live, a dropped one left");
    assert.equal(stream.lastEventId, "flights:12");
    assert.deepEqual(stream.streams, ["flights", "flight.I768"]);
    assert.deepEqual(statuses.slice(-2), [["live", ""], ["connecting", ""]]);

    old.emit("message", "{}", { id: "announcements:4,flights:12" }); // ignored: the old connection
    assert.equal(stream.lastEventId, "flights:12");
    source().open();
    assert.deepEqual(lastStatus(statuses), ["live", ""]);
  });

  test("with no stream kept the next connection has no cursor", () => {
    const { stream } = startStreams({ lastEventId: "flights:12,announcements:3" });
    stream.setStreams(["gates"]);
    assert.equal(source().url, `${EVENTS_URL}?stream=gates`);
    assert.equal(stream.lastEventId, "");
  });

  test("the same set, in any order or with duplicates, changes nothing", () => {
    const { stream, statuses } = startStreams({ lastEventId: "flights:12" });
    source().open();
    const before = [...statuses];
    stream.setStreams(["announcements", "flights", "flights"]);
    assert.equal(sources().length, 1);
    assert.equal(source().closed, false);
    assert.deepEqual(statuses, before);
    assert.deepEqual(stream.streams, ["flights", "announcements"]);
  });

  test("while stopped it connects nowhere and takes effect on start()", () => {
    const stream = new LiveStream(EVENTS_URL, {
      streams: ["flights", "announcements"],
      lastEventId: "flights:12,announcements:3",
    });
    stream.setStreams(["announcements", "gates"]);
    assert.equal(sources().length, 0);
    assert.equal(stream.status, "stopped");
    assert.equal(stream.lastEventId, "announcements:3");

    stream.start();
    const params = new URL(source().url).searchParams;
    assert.deepEqual(params.getAll("stream"), ["announcements", "gates"]);
    assert.equal(params.get("lastEventId"), "announcements:3");
  });

  test("cancels a pending reconnect and connects at once", async () => {
    const { stream } = startStreams();
    await browserGivesUp(500);
    assert.equal(reconnectDelay(), 500);
    stream.setStreams(["gates"]);
    assert.deepEqual(clock.pending, []);
    assert.equal(sources().length, 2);
    assert.equal(source().url, `${EVENTS_URL}?stream=gates`);
  });

  test("abandons a probe in flight", async () => {
    const { stream } = startStreams();
    source().fail();
    const probe = server.requests[0];
    server.respond(404); // answered but not yet looked at: it would stop the stream for good
    stream.setStreams(["gates"]);
    assert.equal(probe.options.signal.aborted, true);
    await settle();
    assert.equal(stream.status, "connecting");
    assert.equal(sources().length, 2);
  });

  test("throws a TypeError on the one-stream form and for no or bad names", () => {
    assert.throws(() => new LiveStream(STREAM_URL).setStreams(["flights"]), {
      name: "TypeError",
      message: /setStreams\(\) needs a LiveStream made with streams/,
    });
    const stream = new LiveStream(EVENTS_URL, { streams: ["flights"] });
    for (const streams of [[], ["a:b"], "flights", undefined]) {
      assert.throws(() => stream.setStreams(streams), TypeError);
    }
    assert.deepEqual(stream.streams, ["flights"]);
  });

  test("the streams getter is a copy", () => {
    const stream = new LiveStream(EVENTS_URL, { streams: ["flights"] });
    stream.streams.push("gates");
    assert.deepEqual(stream.streams, ["flights"]);
    assert.equal(new LiveStream(STREAM_URL).streams, null);
  });
});

describe("access revoked: closedConnection with reason forbidden", () => {
  const FORBIDDEN_DATA = (stream) => JSON.stringify({ stream, reason: "forbidden" });

  test("on one stream: stops with forbidden, closed before the handlers run, and tells them", () => {
    const { stream, statuses } = startStream();
    const closed = [];
    stream.on("closedConnection", (data, event, name) => {
      closed.push([data, name, source().closed, stream.status]);
    });
    stream.on("update", () => {});
    source().open();
    source().emit("update", "{}", { id: "7" });

    source().emit("closedConnection", FORBIDDEN_DATA("flights"));
    const data = { stream: "flights", reason: "forbidden" };
    assert.deepEqual(closed, [[data, "flights", true, "stopped"]]);
    assert.deepEqual(lastStatus(statuses), ["stopped", "forbidden"]);
    assert.ok(!statuses.some(([, detail]) => detail === "closed by server"));
    assert.equal(stream.lastEventId, "7", "kept, for a later start()");
  });

  test("on one stream: no reconnect after it, by the browser or by the client", () => {
    const { stream, statuses } = startStream();
    source().open();
    source().emit("closedConnection", FORBIDDEN_DATA("flights"));
    assert.equal(source().closed, true, "closed as the event arrives, before the response ends");

    source().drop(); // the response ends: what a browser would report were it still open
    source().fail();
    waitForever();
    assert.equal(sources().length, 1);
    assert.equal(server.requests.length, 0);
    assert.deepEqual(clock.pending, []);
    assert.deepEqual(lastStatus(statuses), ["stopped", "forbidden"]);
    assert.equal(stream.status, "stopped");
  });

  test("handlers get the raw data with json: false, and the client still stops with forbidden", () => {
    const { stream, statuses } = startStream({ json: false });
    const closed = [];
    stream.on("closedConnection", (data) => closed.push(data));
    source().emit("closedConnection", FORBIDDEN_DATA("flights"));
    assert.deepEqual(closed, [FORBIDDEN_DATA("flights")]);
    assert.deepEqual(lastStatus(statuses), ["stopped", "forbidden"]);
  });

  test("another reason, or none, still stops with closed by server", () => {
    for (const data of ['{"stream": "flights", "reason": "closed"}', '{"reason": 403}', "forbidden"]) {
      const { stream, statuses } = startStream();
      source().emit("closedConnection", data);
      assert.deepEqual(lastStatus(statuses), ["stopped", "closed by server"], data);
      stream.stop();
    }
  });

  test("on one stream: start() asks again with the last id; a 403 stops it again", async () => {
    const { stream, statuses } = startStream();
    stream.on("update", () => {});
    source().emit("update", "{}", { id: "7" });
    source().emit("closedConnection", FORBIDDEN_DATA("flights"));

    stream.start();
    assert.equal(sources().length, 2);
    assert.equal(source().url, `${STREAM_URL}?lastEventId=7`);
    await browserGivesUp(403);
    assert.deepEqual(lastStatus(statuses), ["stopped", "forbidden"]);
    waitForever();
    assert.equal(sources().length, 2);
    assert.equal(server.requests.length, 1);
  });

  test("on one stream: start() after signing in again resumes the stream", () => {
    const { stream, statuses } = startStream({ lastEventId: "7" });
    source().emit("closedConnection", FORBIDDEN_DATA("flights"));
    stream.start();
    source().open();
    assert.deepEqual(lastStatus(statuses), ["live", ""]);
    assert.equal(searchParam(source().url, "lastEventId"), "7");
  });

  test("on several streams: drops that stream, tells the handlers, and the others go on", () => {
    const { stream, statuses } = startStreams({ streams: ["user.7", "flight.I768", "flight.K1"] });
    const closed = [];
    const updates = [];
    stream.on("closedConnection", (data, event, name) => closed.push([data, name]));
    stream.on("flightStateUpdate", (data, event, name) => updates.push([data, name]));
    source().open();
    source().emit("message", "{}", { id: "user.7:3,flight.I768:5,flight.K1:1" });

    source().emit("closedConnection", FORBIDDEN_DATA("user.7"));
    assert.deepEqual(closed, [[{ stream: "user.7", reason: "forbidden" }, "user.7"]]);
    assert.deepEqual(stream.streams, ["flight.I768", "flight.K1"]);
    assert.equal(stream.lastEventId, "flight.I768:5,flight.K1:1");
    assert.deepEqual(lastStatus(statuses), ["live", ""]);
    assert.equal(source().closed, false);

    source().emit("flightStateUpdate", '{"flight": "I768"}', { id: "flight.I768:6,flight.K1:1" });
    assert.deepEqual(updates, [[{ flight: "I768" }, "flight.I768"]]);
    assert.equal(stream.lastEventId, "flight.I768:6,flight.K1:1");
    assert.equal(sources().length, 1);
    assert.equal(server.requests.length, 0);
  });

  test("on several streams: the browser's own reconnect with the old URL cannot ask for it", () => {
    const { stream, statuses } = startStreams({ streams: ["user.7", "flight.I768"] });
    const old = source();
    old.open();
    old.emit("message", "{}", { id: "user.7:3,flight.I768:5" });
    old.emit("closedConnection", FORBIDDEN_DATA("user.7"));

    old.drop(); // the browser is about to reconnect with ?stream=user.7 in its URL
    assert.equal(old.closed, true, "the client closes it first");
    assert.deepEqual(lastStatus(statuses), ["reconnecting", "connection lost"]);
    clock.advance(reconnectDelay());
    assert.equal(sources().length, 2);
    assert.equal(source().url, `${EVENTS_URL}?stream=flight.I768&lastEventId=flight.I768%3A5`);
    assert.deepEqual(stream.streams, ["flight.I768"]);
  });

  test("on several streams: nor the probe after the browser gives up", async () => {
    startStreams({ streams: ["user.7", "flight.I768"] });
    source().emit("message", "{}", { id: "user.7:3,flight.I768:5" });
    source().emit("closedConnection", FORBIDDEN_DATA("user.7"));
    source().fail();
    const url = `${EVENTS_URL}?stream=flight.I768&lastEventId=flight.I768%3A5`;
    assert.equal(server.requests[0].url, url);
    server.respond(500);
    await settle();
    clock.advance(reconnectDelay());
    assert.equal(new URL(source().url).searchParams.getAll("stream").join(), "flight.I768");
  });

  test("on several streams: stop() and start() do not bring the dropped stream back", () => {
    const { stream } = startStreams({ streams: ["user.7", "flight.I768"], lastEventId: "user.7:3" });
    source().emit("closedConnection", FORBIDDEN_DATA("user.7"));
    stream.stop();
    stream.start();
    assert.equal(sources().length, 2);
    assert.equal(source().url, `${EVENTS_URL}?stream=flight.I768`);
  });

  test("for the last stream: stops with forbidden, for good; start() does nothing", () => {
    const { stream, statuses } = startStreams({ streams: ["flights", "user.7"] });
    const closed = [];
    stream.on("closedConnection", (data, event, name) => closed.push(name));
    source().open();
    source().emit("closedConnection", '{"stream": "flights"}');
    assert.equal(stream.status, "live");

    source().emit("closedConnection", FORBIDDEN_DATA("user.7"));
    assert.deepEqual(closed, ["flights", "user.7"]);
    assert.deepEqual(lastStatus(statuses), ["stopped", "forbidden"]);
    assert.deepEqual(stream.streams, []);
    assert.equal(source().closed, true);
    source().drop();
    source().fail();
    waitForever();
    assert.equal(sources().length, 1);
    assert.equal(server.requests.length, 0);

    stream.start();
    assert.equal(sources().length, 1, "the forbidden stream is not asked for again");
    assert.deepEqual(lastStatus(statuses), ["stopped", "forbidden"]);
  });

  test("the detail is the reason of the last stream's end", () => {
    const { statuses } = startStreams({ streams: ["user.7", "flights"] });
    source().emit("closedConnection", FORBIDDEN_DATA("user.7"));
    source().emit("closedConnection", '{"stream": "flights"}');
    assert.deepEqual(lastStatus(statuses), ["stopped", "closed by server"]);
  });

  test("without data.stream on several streams: the end of the connection, with forbidden", () => {
    const { stream, statuses } = startStreams();
    source().emit("closedConnection", '{"reason": "forbidden"}');
    assert.deepEqual(lastStatus(statuses), ["stopped", "forbidden"]);
    assert.equal(source().closed, true);
    waitForever();
    assert.equal(sources().length, 1);
    assert.deepEqual(stream.streams, ["flights", "announcements"]);
  });

  test("for a stream not followed: the handlers are told, nothing is dropped or stopped", () => {
    const { stream } = startStreams();
    const closed = [];
    stream.on("closedConnection", (data) => closed.push(data));
    source().open();
    source().emit("closedConnection", FORBIDDEN_DATA("user.7"));
    assert.deepEqual(closed, [{ stream: "user.7", reason: "forbidden" }]);
    assert.deepEqual(stream.streams, ["flights", "announcements"]);
    assert.equal(stream.status, "live");
    assert.equal(source().closed, false);
  });

  test("naming it again in setStreams() asks for it; a 403 then stops with forbidden", async () => {
    const { stream, statuses } = startStreams({ streams: ["user.7"] });
    source().emit("closedConnection", FORBIDDEN_DATA("user.7"));
    stream.setStreams(["user.7", "flights"]).start();
    assert.equal(sources().length, 2);
    assert.deepEqual(new URL(source().url).searchParams.getAll("stream"), ["user.7", "flights"]);

    await browserGivesUp(403);
    assert.deepEqual(lastStatus(statuses), ["stopped", "forbidden"]);
    waitForever();
    assert.equal(sources().length, 2);
    assert.equal(server.requests.length, 1);
  });
});

describe("setStreams() with positions", () => {
  test("a stream added with a position resumes after it", () => {
    const { stream } = startStreams({ streams: ["user.7"], lastEventId: "user.7:12" });
    stream.setStreams(["user.7", "flight.I768"], { "flight.I768": "41" });
    assert.equal(sources().length, 2);
    const params = new URL(source().url).searchParams;
    assert.deepEqual(params.getAll("stream"), ["user.7", "flight.I768"]);
    assert.equal(params.get("lastEventId"), "user.7:12,flight.I768:41");
    assert.equal(stream.lastEventId, "user.7:12,flight.I768:41");
    assert.deepEqual(stream.positions, new Map([["user.7", "12"], ["flight.I768", "41"]]));
  });

  test("takes a Map, a plain object or one without a prototype, and ids as numbers", () => {
    const nullProto = Object.assign(Object.create(null), { "flight.I768": 41 });
    for (const positions of [new Map([["flight.I768", 41]]), { "flight.I768": 41 }, nullProto]) {
      const stream = new LiveStream(EVENTS_URL, { streams: ["flights"] });
      stream.setStreams(["flights", "flight.I768"], positions);
      assert.equal(stream.lastEventId, "flight.I768:41");
    }
  });

  test("accepts every id the server does: 0 to 19 digits, leading zeros, safe integers", () => {
    for (const [id, expected] of [
      ["0", "0"],
      [0, "0"],
      ["007", "007"],
      ["9999999999999999999", "9999999999999999999"],
      [Number.MAX_SAFE_INTEGER, String(Number.MAX_SAFE_INTEGER)],
    ]) {
      const stream = new LiveStream(EVENTS_URL, { streams: ["flights"] });
      stream.setStreams(["flights", "gates"], { gates: id });
      assert.equal(stream.lastEventId, `gates:${expected}`, String(id));
    }
  });

  test("added ones follow the kept pairs in the order of names; one without a position is live", () => {
    const { stream } = startStreams({ lastEventId: "announcements:3,flights:12" });
    stream.setStreams(["gates", "flights", "user.7", "terminal.2", "announcements"], {
      "terminal.2": 8,
      gates: "1",
    });
    assert.equal(stream.lastEventId, "announcements:3,flights:12,gates:1,terminal.2:8");
    assert.equal(searchParam(source().url, "lastEventId"), stream.lastEventId);
    assert.equal(stream.positions.has("user.7"), false, "user.7 starts live from now");
  });

  test("positions of streams already followed are ignored: they keep their own, or none", () => {
    const { stream } = startStreams({ streams: ["flights", "announcements", "gates"] });
    stream.on("update", () => {});
    source().emit("update", "{}", { id: "flights:12,announcements:3" }); // gates has no position
    stream.setStreams(["flights", "gates", "terminal.2"], {
      flights: "99",
      gates: "5",
      "terminal.2": "4",
    });
    assert.equal(stream.lastEventId, "flights:12,terminal.2:4");
    assert.equal(searchParam(source().url, "lastEventId"), "flights:12,terminal.2:4");
  });

  test("positions of streams not in names are ignored", () => {
    const { stream } = startStreams({ lastEventId: "flights:12,announcements:3" });
    stream.setStreams(["flights", "gates"], { announcements: "1", "flight.I768": "41" });
    assert.equal(stream.lastEventId, "flights:12");
    assert.equal(source().url, `${EVENTS_URL}?stream=flights&stream=gates&lastEventId=flights%3A12`);
  });

  test("the same set with positions changes nothing", () => {
    const { stream, statuses } = startStreams({ lastEventId: "flights:12" });
    source().open();
    const before = [...statuses];
    stream.setStreams(["announcements", "flights"], { announcements: "3", flights: "1" });
    assert.equal(sources().length, 1);
    assert.equal(source().closed, false);
    assert.deepEqual(statuses, before);
    assert.equal(stream.lastEventId, "flights:12");
  });

  test("while stopped, and after the last stream ended, they take effect on start()", () => {
    const { stream } = startStreams({ streams: ["user.7"] });
    source().emit("closedConnection", '{"stream": "user.7", "reason": "forbidden"}');
    stream.setStreams(["user.7"], { "user.7": 30 });
    assert.equal(sources().length, 1);
    assert.equal(stream.lastEventId, "user.7:30");
    stream.start();
    assert.equal(source().url, `${EVENTS_URL}?stream=user.7&lastEventId=user.7%3A30`);
  });

  test("null or undefined positions are none", () => {
    for (const positions of [null, undefined]) {
      const stream = new LiveStream(EVENTS_URL, { streams: ["flights"], lastEventId: "flights:1" });
      stream.setStreams(["flights", "gates"], positions);
      assert.equal(stream.lastEventId, "flights:1");
    }
  });

  test("an invalid id, or positions of the wrong kind, throw a TypeError and change nothing", () => {
    const { stream } = startStreams({ lastEventId: "flights:12" });
    source().open();
    const badIds = [
      "", "-1", "1.5", "1e3", "abc", "1:2", "1,2", " 1", "1 ", "+1", "١", "12345678901234567890",
      -1, 1.5, NaN, Infinity, 2 ** 53, -0.5, 10n, null, undefined, true, {}, ["1"],
    ];
    const names = ["flights", "gates"];
    for (const id of badIds) {
      assert.throws(() => stream.setStreams(names, { gates: id }), TypeError, String(id));
      assert.throws(() => stream.setStreams(names, new Map([["gates", id]])), TypeError, String(id));
    }
    // Ignored entries are checked too: a mistake is not hidden by the set the page passed.
    assert.throws(() => stream.setStreams(names, { flights: "x", gates: "1" }), TypeError);
    assert.throws(() => stream.setStreams(names, { other: -1 }), TypeError);
    const notPositions = [[["gates", "1"]], "gates:1", 5, true, new Set(["gates"]), new URL(EVENTS_URL)];
    for (const positions of notPositions) {
      assert.throws(() => stream.setStreams(names, positions), TypeError, String(positions));
    }
    assert.deepEqual(stream.streams, ["flights", "announcements"]);
    assert.equal(stream.lastEventId, "flights:12");
    assert.equal(sources().length, 1);
    assert.equal(source().closed, false);
    assert.equal(stream.status, "live");
  });

  test("on the one-stream form it throws as without positions", () => {
    assert.throws(() => new LiveStream(STREAM_URL).setStreams(["flights"], { flights: "1" }), {
      name: "TypeError",
      message: /setStreams\(\) needs a LiveStream made with streams/,
    });
  });
});
