// The arrivals board: keeps the server-rendered table current from the flights stream.
// Protocol work lives in liveevents.js; this file only maps events onto the page.

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

const root = document.documentElement;
const main = document.querySelector("main[data-stream-url]");
const tbody = document.querySelector("#flights tbody");
const emptyRow = document.getElementById("no-flights");
const indicator = document.getElementById("connection");
const indicatorText = indicator.querySelector(".connection-text");
const lastUpdate = document.getElementById("last-update");
const toggle = document.getElementById("toggle-updates");
const notice = document.getElementById("notice");
const announcer = document.getElementById("announcer");
const highlightTimers = new WeakMap();
let ended = false;

// Dynamic import: the client's URL comes from {% static %}, so hashed file names keep working.
const { LiveStream } = await import(main.dataset.clientSrc);
const stream = new LiveStream(main.dataset.streamUrl, { lastEventId: main.dataset.lastEventId });

stream.on("flightStateUpdate", (data) => {
  if (data && typeof data === "object" && data.flight != null) upsertFlight(data);
  touch();
});

stream.on("flightRemoval", (data) => {
  if (data && typeof data === "object" && data.flight != null) removeFlight(String(data.flight));
  touch();
});

stream.on("closedConnection", () => {
  endUpdates();
  touch();
});

stream.on("streamReset", () => {
  touch();
  reloadFreshState();
});

stream.on("status", (status, detail) => {
  root.dataset.boardStatus = status;
  indicator.dataset.status = status;
  indicator.title = detail;
  const showDetail = status === "stopped" && detail && detail !== "stopped by user";
  indicatorText.textContent = showDetail ? `Stopped (${detail})` : STATUS_TEXT[status];
  if (status === "stopped" && detail === CLOSED_BY_SERVER) endUpdates();
  else if (!ended) toggle.textContent = status === "stopped" ? "Resume updates" : "Stop updates";
});

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
