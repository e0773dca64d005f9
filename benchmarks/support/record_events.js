// Installed in the page before its own scripts (Playwright's add_init_script): wraps EventSource
// so that every logged or control event the page receives is recorded in window.__received
// (type, id, data, Date.now()) before the page's own handlers run, and every connection URL in
// window.__connects.
(() => {
  const Native = window.EventSource;
  if (!Native || Native.__recording) return;
  const NAMES = [
    "flightStateUpdate", "flightRemoval", "announcementUpdate", "announcementRemoval",
    "flightFollowed", "flightUnfollowed", "flightRows", "tickerItems", "streamReset", "closedConnection",
  ];
  window.__received = [];
  window.__connects = [];
  class RecordingEventSource extends Native {
    static __recording = true;
    constructor(url, init) {
      super(url, init);
      window.__connects.push(String(url));
      for (const name of NAMES) {
        super.addEventListener(name, (event) => {
          window.__received.push({
            type: event.type, id: event.lastEventId, data: event.data, t: Date.now(),
          });
        });
      }
    }
  }
  window.EventSource = RecordingEventSource;
})();
