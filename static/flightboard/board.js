// The live pages: keeps the server-rendered table of flights current, and the announcements
// ticker (on the boards), showing each announcement only between its shown_from and shown_until.
// Protocol work lives in liveevents.js; this file only maps events onto the page.
//
// <main> says what to follow: data-streams (the page's own stream first: the whole board, a
// terminal's, a flight's, or the user's follow list), data-streams-url and data-stream-cursor
// (where the rendered page stands). On "My flights" (data-user-stream), the user's follow list
// adds and drops the flights' streams as they are followed and unfollowed, in any tab.

const HIGHLIGHT_MS = 2500;
const RESET_PAUSE_MS = 3000;
const STATUS_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  stopped: "Stopped",
};
const CLOSED_BY_SERVER = "closed by server";
const FORBIDDEN = "forbidden";
const DETAIL_TEXT = { [FORBIDDEN]: "signed out" };
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
const streamNames = main.dataset.streams.split(/\s+/).filter(Boolean);
// The page's own stream: its closing ends the page; another's (the ticker's, a followed
// flight's) leaves it going.
const ownStream = streamNames[0];
const userStream = main.dataset.userStream || null;
const placeholder = main.dataset.codePlaceholder;
// The table's columns, as the server rendered its head: a row added here has the same cells.
const FIELDS = [...document.querySelectorAll("#flights thead th[data-field]")].map(
  (th) => th.dataset.field,
);
// The flights the signed-in user follows, for the follow buttons of rows added here.
const following = new Set((main.dataset.following ?? "").split(/\s+/).filter(Boolean));
const followTemplates = {
  follow: document.getElementById("follow-template"),
  unfollow: document.getElementById("unfollow-template"),
};
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
if (ticker) {
  for (const item of tickerList.querySelectorAll("li[data-announcement]")) {
    announcements.set(item.dataset.announcement, item);
  }
  const upcoming = document.getElementById("upcoming-announcements").content;
  for (const item of upcoming.querySelectorAll("li[data-announcement]")) {
    announcements.set(item.dataset.announcement, item);
  }
  refreshTicker();
  document.addEventListener("visibilitychange", refreshTicker);
}

// Dynamic import: the client's URL comes from {% static %}, so hashed file names keep working.
const { LiveStream } = await import(main.dataset.clientSrc);
// Every stream of the page over one connection; the cursor is where the rendered page stands.
const stream = new LiveStream(main.dataset.streamsUrl, {
  streams: streamNames,
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

if (ticker) {
  stream.on("announcementUpdate", (data) => {
    if (data && typeof data === "object" && data.id != null) upsertAnnouncement(data);
    touch();
  });

  stream.on("announcementRemoval", (data) => {
    if (data && typeof data === "object" && data.id != null) removeAnnouncement(String(data.id));
    touch();
  });
}

if (userStream) {
  // Followed here or in another tab: the row, and the flight's stream from the id its row
  // matches, over the same connection (the other streams keep their positions).
  stream.on("flightFollowed", (data) => {
    if (data && typeof data === "object" && data.flight != null) {
      const code = String(data.flight);
      following.add(code);
      upsertFlight(data);
      const name = flightStream(code);
      const names = stream.streams;
      if (!names.includes(name)) {
        const id = String(data.lastEventId ?? "");
        stream.setStreams([...names, name], /^[0-9]{1,19}$/.test(id) ? { [name]: id } : undefined);
      }
    }
    touch();
  });

  stream.on("flightUnfollowed", (data) => {
    if (data && typeof data === "object" && data.flight != null) {
      const code = String(data.flight);
      following.delete(code);
      removeFlight(code, `${code} unfollowed`);
      const name = flightStream(code);
      const names = stream.streams;
      if (names.includes(name)) stream.setStreams(names.filter((other) => other !== name));
    }
    touch();
  });
}

stream.on("closedConnection", (data, messageEvent, from) => {
  if (data && typeof data === "object" && data.reason === FORBIDDEN) {
    // No longer allowed (signed out elsewhere): the page stops rather than go on without it.
    stream.stop();
    showStatus("stopped", FORBIDDEN);
  } else if (from === ownStream || from === null) {
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
  indicatorText.textContent = showDetail ? `Stopped (${DETAIL_TEXT[detail] ?? detail})` : STATUS_TEXT[status];
  if (status === "stopped" && detail === CLOSED_BY_SERVER) endUpdates("Updates ended");
  else if (status === "stopped" && detail === FORBIDDEN) signedOut();
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
    terminal: String(data.terminal ?? ""),
    state: String(data.state_label || data.state || "Scheduled"),
  };
  let row = findRow(code);
  const isNew = !row;
  if (isNew) row = createRow(code);
  const arrivalBefore = cell(row, "arrival").textContent;

  for (const field of FIELDS) {
    const td = cell(row, field);
    // Compared as they are: "Rome " edited to "Rome" is a change, and the cell must show what
    // a fresh page load would.
    const changed = td.textContent !== text[field] || (field === "state" && td.dataset.state !== state);
    if (!changed) continue;
    // The code's cell holds the link to the flight's page: its text goes there.
    (td.querySelector("a") ?? td).textContent = text[field];
    if (field === "state") td.dataset.state = state;
    if (!isNew) highlight(td);
  }
  if (isNew || text.arrival !== arrivalBefore) placeInOrder(row);
  if (isNew) row.querySelectorAll("td").forEach(highlight);
  emptyRow.hidden = true;
  announce(`${code} from ${text.origin}: ${text.state}`);
}

function removeFlight(code, message = `${code} removed`) {
  const row = findRow(code);
  if (!row) return;
  row.remove();
  emptyRow.hidden = tbody.querySelector("tr[data-flight]") !== null;
  announce(message);
}

function createRow(code) {
  const row = document.createElement("tr");
  row.dataset.flight = code;
  for (const field of FIELDS) {
    const td = document.createElement("td");
    td.dataset.field = field;
    if (field === "flight" && main.dataset.flightUrl) {
      const link = document.createElement("a");
      link.href = withCode(main.dataset.flightUrl, code);
      td.append(link);
    }
    row.append(td);
  }
  const template = following.has(code) ? followTemplates.unfollow : followTemplates.follow;
  if (template) {
    // The server's own form (its CSRF token included), for this flight.
    const td = document.createElement("td");
    td.className = "follow";
    const form = template.content.firstElementChild.cloneNode(true);
    form.setAttribute("action", withCode(form.getAttribute("action"), code));
    const button = form.querySelector("button");
    button.setAttribute("aria-label", button.getAttribute("aria-label").replaceAll(placeholder, code));
    td.append(form);
    row.append(td);
  }
  return row;
}

// A URL rendered for the placeholder code, for `code`.
function withCode(url, code) {
  return url.replaceAll(placeholder, encodeURIComponent(code));
}

function flightStream(code) {
  return main.dataset.flightStream.replace(placeholder, code);
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

function endUpdates(message) {
  if (ended) return;
  ended = true;
  if (message) {
    notice.textContent = message;
    notice.hidden = false;
  }
  toggle.textContent = "Updates ended";
  toggle.disabled = true;
  announce(message ?? "Updates ended");
}

// Access to a stream of the page was withdrawn: say so, and how to get it back.
function signedOut() {
  const prompt = document.getElementById("signed-out");
  if (prompt) {
    prompt.hidden = false;
    endUpdates(null);
    announce(prompt.textContent.replace(/\s+/g, " ").trim());
  } else {
    endUpdates("Updates ended: sign in again to see them");
  }
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
