/**
 * liveevents-htmx.js: the htmx extension "liveevents", for pages that follow liveevents streams
 * with htmx's SSE extension (htmx 2.x, htmx-ext-sse 2.x) and no JavaScript of their own.
 *
 *   <meta name="htmx-config" content='{"includeIndicatorStyles": false, "allowEval": false, "allowScriptTags": false}'>
 *   <script src="htmx.min.js" defer></script>
 *   <script src="sse.min.js" defer></script>
 *   <script src="liveevents-htmx.js" defer></script>   (after htmx: a classic script, no module)
 *
 *   <main hx-ext="sse,liveevents" sse-connect="{% stream_connect_url 'orders' %}">
 *     <tbody sse-swap="orderRows">...</tbody>
 *   </main>
 *
 * For each element with sse-connect (or data-sse-connect) where the extension is enabled:
 *
 * - Nothing lost on reconnects. The browser resends the last event id (Last-Event-ID) only when
 *   it reconnects an EventSource by itself. When the SSE extension gives up on one instead (an
 *   answer other than 200, such as the 503 of the connection cap or a server that is draining),
 *   it opens a new EventSource with the URL in sse-connect, which has no such header. So the
 *   extension remembers the id of the last event the page swapped (sse-swap, or hx-trigger
 *   "sse:<name>") and, when the connection fails, writes it into the URL's lastEventId parameter:
 *   the new connection replays every event after it, in order, and nothing twice. The first
 *   position comes from the page, rendered before its state ({% stream_connect_url %}).
 * - data-live-status on the element, for CSS: "connecting" until the stream opens, "live" while
 *   it is open, "offline" from an error until it opens again, "closed" once the server ended
 *   every stream of it (closedConnection). A page without JavaScript has no attribute.
 * - streamReset (the page's position was pruned from the log, or is ahead of it): the page
 *   reloads, and renders its state and position anew.
 * - closedConnection: a stream of several that was closed goes on without the page's notice;
 *   once none is left (or the stream of a stream's own URL closes), the extension closes the
 *   EventSource, so neither the browser nor the SSE extension reconnects.
 *
 * A page opened while its streams are closed gets 204: the SSE extension then retries, with its
 * own backoff (up to about a minute between tries), until the stream is opened again.
 */
(function () {
  "use strict";

  const CONNECT_ATTRIBUTES = ["sse-connect", "data-sse-connect"];
  const CONNECT_SELECTOR = "[sse-connect],[data-sse-connect]";
  const lastIds = new WeakMap(); // sse-connect element -> id of the last event swapped
  const closedStreams = new WeakMap(); // sse-connect element -> Set of streams the server closed
  const watched = new WeakSet(); // EventSources given this extension's listeners

  function connectAttribute(elt) {
    return CONNECT_ATTRIBUTES.find((name) => elt.hasAttribute(name)) || null;
  }

  function connectUrl(elt) {
    const name = connectAttribute(elt);
    return name ? new URL(elt.getAttribute(name), document.baseURI) : null;
  }

  function setStatus(elt, status) {
    elt.setAttribute("data-live-status", status);
  }

  // Before the SSE extension opens its next EventSource from sse-connect: resume after the last
  // event swapped. (While the browser reconnects by itself it sends Last-Event-ID, which the
  // server prefers to the parameter.)
  function resumeFromLastId(elt) {
    const name = connectAttribute(elt);
    const lastId = lastIds.get(elt);
    if (!name || !lastId) return;
    const url = connectUrl(elt);
    url.searchParams.set("lastEventId", lastId);
    elt.setAttribute(name, url.origin === location.origin ? url.pathname + url.search + url.hash : url.href);
  }

  function onClosedConnection(elt, source, event) {
    let stream = null;
    try {
      stream = JSON.parse(event.data).stream || null;
    } catch (error) {
      // A stream's own URL sends no data: the stream is the connection.
    }
    const url = connectUrl(elt);
    const followed = url ? url.searchParams.getAll("stream") : [];
    const closed = closedStreams.get(elt) || new Set();
    if (stream) closed.add(stream);
    closedStreams.set(elt, closed);
    if (stream && followed.some((name) => !closed.has(name))) return; // the others go on
    source.close();
    setStatus(elt, "closed");
  }

  function watch(elt, source) {
    if (!source || watched.has(source)) return;
    watched.add(source);
    source.addEventListener("streamReset", () => location.reload());
    source.addEventListener("closedConnection", (event) => onClosedConnection(elt, source, event));
  }

  htmx.defineExtension("liveevents", {
    onEvent(name, evt) {
      const elt = (evt.detail && evt.detail.elt) || evt.target; // htmx sets detail.elt on its events
      switch (name) {
        case "htmx:afterProcessNode":
          if (elt instanceof Element && connectAttribute(elt) && !elt.hasAttribute("data-live-status")) {
            setStatus(elt, "connecting");
          }
          break;
        case "htmx:sseOpen":
          watch(elt, evt.detail.source);
          setStatus(elt, "live");
          break;
        case "htmx:sseError":
          if (elt.getAttribute("data-live-status") !== "closed") setStatus(elt, "offline");
          resumeFromLastId(elt);
          break;
        case "htmx:sseMessage": {
          // After the swap: evt.detail is the MessageEvent, on the element that swapped it.
          const connect = elt.closest(CONNECT_SELECTOR);
          if (connect && evt.detail.lastEventId) lastIds.set(connect, evt.detail.lastEventId);
          break;
        }
      }
    },
  });
})();
