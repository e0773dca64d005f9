// The arrivals board: keeps the server-rendered table current from the flights stream, and the
// announcements ticker from the announcements stream, showing each announcement only between
// its shown_from and shown_until. Protocol work lives in liveevents.js; this file only maps
// events onto the page.

const FIELDS = ["origin", "flight", "arrival", "state"];
const HIGHLIGHT_MS = 2500;
const RESET_PAUSE_MS = 3000;
const STATUS_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  stopped: "Stopped",
};
const CLOSED_BY_SERVER = "closed by server";
// The ticker's order, as the server's (Announcement.Meta.ordering): the most severe first.
const SEVERITY_RANK = new Map([
  ["alert", 0],
  ["warning", 1],
  ["info", 2],
]);
// The longest wait before the ticker looks at the clock again: a timer runs late after sleep
// or in a throttled tab, and setTimeout cannot wait more than 24.8 days.
const TICKER_RECHECK_MS = 60_000;

const root = document.documentElement;
const main = document.querySelector("main[data-streams-url]");
const tbody = document.querySelector("#flights tbody");
const emptyRow = document.getElementById("no-flights");
const indicator = document.getElementById("connection");
const indicatorText = indicator.querySelector(".connection-text");
const lastUpdate = document.getElementById("last-update");
const toggle = document.getElementById("toggle-updates");
const notice = document.getElementById("notice");
const announcer = document.getElementById("announcer");
const ticker = document.getElementById("announcements");
const tickerList = document.getElementById("announcement-list");
const highlightTimers = new WeakMap();
// Every announcement the board knows of, by id: those shown are in tickerList, those waiting
// for their shown_from are held out of the document. Ended ones are forgotten.
const announcements = new Map();
let tickerTimer = null;
let ended = false;

// Before the stream: the rendered announcements, and the scheduled ones held in a <template>.
for (const item of tickerList.querySelectorAll("li[data-announcement]")) {
  announcements.set(item.dataset.announcement, item);
}
const upcoming = document.getElementById("upcoming-announcements").content;
for (const item of upcoming.querySelectorAll("li[data-announcement]")) {
  announcements.set(item.dataset.announcement, item);
}
refreshTicker();
document.addEventListener("visibilitychange", refreshTicker);

// Dynamic import: the client's URL comes from {% static %}, so hashed file names keep working.
const { LiveStream } = await import(main.dataset.clientSrc);
// Flights and announcements over one connection; the cursor is where the rendered page stands.
const stream = new LiveStream(main.dataset.streamsUrl, {
  streams: ["flights", "announcements"],
  lastEventId: main.dataset.streamCursor,
});

stream.on("flightStateUpdate", (data) => {
  if (data && typeof data === "object" && data.flight != null) upsertFlight(data);
  touch();
});

stream.on("flightRemoval", (data) => {
  if (data && typeof data === "object" && data.flight != null) removeFlight(String(data.flight));
  touch();
});

stream.on("announcementUpdate", (data) => {
  if (data && typeof data === "object" && data.id != null) upsertAnnouncement(data);
  touch();
});

stream.on("announcementRemoval", (data) => {
  if (data && typeof data === "object" && data.id != null) removeAnnouncement(String(data.id));
  touch();
});

stream.on("closedConnection", (data, messageEvent, from) => {
  // The board is its flights: their stream closing ends it; the ticker's alone leaves it going.
  if (from !== "announcements") {
    stream.stop();
    showStatus("stopped", CLOSED_BY_SERVER);
  }
  touch();
});

stream.on("streamReset", () => {
  touch();
  reloadFreshState();
});

stream.on("status", showStatus);

function showStatus(status, detail) {
  root.dataset.boardStatus = status;
  indicator.dataset.status = status;
  indicator.title = detail;
  const showDetail = status === "stopped" && detail && detail !== "stopped by user";
  indicatorText.textContent = showDetail ? `Stopped (${detail})` : STATUS_TEXT[status];
  if (status === "stopped" && detail === CLOSED_BY_SERVER) endUpdates();
  else if (!ended) toggle.textContent = status === "stopped" ? "Resume updates" : "Stop updates";
}

toggle.addEventListener("click", () => {
  if (stream.status === "stopped") stream.start();
  else stream.stop();
});
toggle.hidden = false;
root.dataset.lastEventId = stream.lastEventId;
stream.start();

function upsertFlight(data) {
  const code = String(data.flight);
  const state = data.state || "scheduled";
  const text = {
    origin: String(data.origin ?? ""),
    flight: code,
    arrival: String(data.arrival ?? ""),
    state: String(data.state_label || data.state || "Scheduled"),
  };
  let row = findRow(code);
  const isNew = !row;
  if (isNew) row = createRow(code);
  const arrivalBefore = cell(row, "arrival").textContent.trim();

  for (const field of FIELDS) {
    const td = cell(row, field);
    const changed =
      td.textContent.trim() !== text[field] || (field === "state" && td.dataset.state !== state);
    if (!changed) continue;
    td.textContent = text[field];
    if (field === "state") td.dataset.state = state;
    if (!isNew) highlight(td);
  }
  if (isNew || text.arrival !== arrivalBefore) placeInOrder(row);
  if (isNew) row.querySelectorAll("td").forEach(highlight);
  emptyRow.hidden = true;
  announce(`${code} from ${text.origin}: ${text.state}`);
}

function removeFlight(code) {
  const row = findRow(code);
  if (!row) return;
  row.remove();
  emptyRow.hidden = tbody.querySelector("tr[data-flight]") !== null;
  announce(`${code} removed`);
}

function createRow(code) {
  const row = document.createElement("tr");
  row.dataset.flight = code;
  for (const field of FIELDS) {
    const td = document.createElement("td");
    td.dataset.field = field;
    row.append(td);
  }
  return row;
}

function findRow(code) {
  for (const row of tbody.querySelectorAll("tr[data-flight]")) {
    if (row.dataset.flight === code) return row;
  }
  return null;
}

function cell(row, field) {
  return row.querySelector(`td[data-field="${field}"]`);
}

// Board order: arrival ("HH:MM" compares as a string), then flight code.
function sortKey(row) {
  return [cell(row, "arrival").textContent.trim(), row.dataset.flight];
}

function placeInOrder(row) {
  const [arrival, code] = sortKey(row);
  const next = [...tbody.querySelectorAll("tr[data-flight]")].find((other) => {
    if (other === row) return false;
    const [otherArrival, otherCode] = sortKey(other);
    return arrival < otherArrival || (arrival === otherArrival && code < otherCode);
  });
  if (next) tbody.insertBefore(row, next);
  else if (tbody.lastElementChild === emptyRow) tbody.insertBefore(row, emptyRow);
  else tbody.append(row);
}

function highlight(td) {
  clearTimeout(highlightTimers.get(td));
  td.classList.remove("changed");
  void td.offsetWidth; // restart the fade when a cell changes again
  td.classList.add("changed");
  highlightTimers.set(
    td,
    setTimeout(() => td.classList.remove("changed"), HIGHLIGHT_MS),
  );
}

// The announcements ticker ------------------------------------------------------------------

function upsertAnnouncement(data) {
  const id = String(data.id);
  const item = announcements.get(id) ?? createAnnouncement(id);
  const severity = String(data.severity || "info");
  const label = String(data.severity_label || severity);
  const text = String(data.text ?? "");
  const severityField = item.querySelector('[data-field="severity"]');
  const textField = item.querySelector('[data-field="text"]');
  const changed =
    item.dataset.severity !== severity || severityField.textContent !== label || textField.textContent !== text;
  item.dataset.severity = severity;
  item.dataset.from = String(data.shown_from ?? "");
  item.dataset.until = String(data.shown_until ?? "");
  severityField.textContent = label;
  textField.textContent = text;
  announcements.set(id, item);
  if (item.isConnected) {
    // Its severity or start may have moved it; refreshTicker drops it if it has ended.
    placeAnnouncement(item);
    if (changed) arrived(item);
  }
  refreshTicker();
}

function removeAnnouncement(id) {
  const item = announcements.get(id);
  if (!item) return;
  announcements.delete(id);
  item.remove();
  refreshTicker();
}

function createAnnouncement(id) {
  const item = document.createElement("li");
  item.className = "announcement";
  item.dataset.announcement = id;
  for (const field of ["severity", "text"]) {
    const span = document.createElement("span");
    span.className = `announcement-${field}`;
    span.dataset.field = field;
    item.append(span);
  }
  return item;
}

// An unreadable time counts as no bound: an announcement is shown rather than lost.
function announcementTimes(item) {
  const from = Date.parse(item.dataset.from);
  const until = item.dataset.until ? Date.parse(item.dataset.until) : NaN;
  return { from: Number.isNaN(from) ? -Infinity : from, until: Number.isNaN(until) ? Infinity : until };
}

// Show what has started, drop what has ended, then wait for the next start or end.
function refreshTicker() {
  clearTimeout(tickerTimer);
  tickerTimer = null;
  const now = Date.now();
  let next = Infinity;
  for (const [id, item] of announcements) {
    const { from, until } = announcementTimes(item);
    if (until <= now) {
      announcements.delete(id);
      item.remove();
    } else if (from > now) {
      item.remove(); // moved to a later start: back to waiting
      next = Math.min(next, from);
    } else {
      if (!item.isConnected) {
        placeAnnouncement(item);
        arrived(item);
      }
      next = Math.min(next, until);
    }
  }
  if (tickerList.querySelector("li[data-announcement]")) ticker.removeAttribute("data-empty");
  else ticker.setAttribute("data-empty", "");
  if (next !== Infinity) {
    tickerTimer = setTimeout(refreshTicker, Math.min(Math.max(next - now, 0), TICKER_RECHECK_MS));
  }
}

// Ticker order: severity (alerts first), then shown_from, then id.
function announcementOrder(item) {
  const rank = SEVERITY_RANK.get(item.dataset.severity) ?? SEVERITY_RANK.size;
  return [rank, announcementTimes(item).from, Number(item.dataset.announcement)];
}

function placeAnnouncement(item) {
  const key = announcementOrder(item);
  const next = [...tickerList.querySelectorAll("li[data-announcement]")].find((other) => {
    if (other === item) return false;
    const otherKey = announcementOrder(other);
    for (let i = 0; i < key.length; i++) {
      if (key[i] !== otherKey[i]) return key[i] < otherKey[i];
    }
    return false;
  });
  // Moving a shown item would read it out again, so it moves only when its place changed.
  if (item.isConnected && item.nextElementSibling === (next ?? null)) return;
  if (next) tickerList.insertBefore(item, next);
  else tickerList.append(item);
}

function arrived(item) {
  item.classList.remove("arrived");
  void item.offsetWidth; // restart the slide-in when it changes again
  item.classList.add("arrived");
}

function endUpdates() {
  if (ended) return;
  ended = true;
  notice.textContent = "Updates ended";
  notice.hidden = false;
  toggle.textContent = "Updates ended";
  toggle.disabled = true;
  announce("Updates ended");
}

function touch() {
  const now = new Date();
  lastUpdate.dateTime = now.toISOString();
  lastUpdate.textContent = now.toLocaleTimeString();
  root.dataset.lastEventId = stream.lastEventId;
}

function announce(message) {
  announcer.textContent = message;
}

// The server-rendered page is the fresh state. Space reloads out so a server that keeps
// resetting cannot trap the tab in a reload loop.
function reloadFreshState() {
  let wait = 0;
  try {
    const previous = Number(sessionStorage.getItem("flightboard:reset")) || 0;
    wait = Math.max(0, previous + RESET_PAUSE_MS - Date.now());
    sessionStorage.setItem("flightboard:reset", String(Date.now() + wait));
  } catch {
    // Storage may be unavailable (privacy settings); reload at once.
  }
  setTimeout(() => location.reload(), wait);
}
