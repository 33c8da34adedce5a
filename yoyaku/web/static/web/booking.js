/* The public booking page: pick a day and a time in your own time zone, then book it.
 * Talks to the public REST API; no build step and no third-party code. */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("booking-config").textContent);
  var S = JSON.parse(document.getElementById("booking-strings").textContent);
  var lang = document.documentElement.lang || "en";
  var $ = function (id) { return document.getElementById(id); };
  var allDurations = $("summary-duration").textContent;
  var DAY_MS = 86400000;

  var detectedZone = "UTC";
  try {
    detectedZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch (e) { /* very old browsers: UTC is a safe answer */ }
  // Chromium names some zones by their old names (Asia/Calcutta): use the name the list has.
  detectedZone = (cfg.timeZoneAliases || {})[detectedZone] || detectedZone;

  var state = {
    zone: detectedZone,
    duration: cfg.durations[0],
    year: 0,
    month: 0, // 0-based, like Date
    days: {}, // "YYYY-MM-DD" -> [iso slot strings]
    selectedDate: null,
    selectedSlot: null,
    offline: false,
    mode: "book", // "book" a slot, or "request" without a time
    idempotencyKey: null,
    submitting: false,
    fetchSeq: 0,
    autoAdvance: 3, // on first load, skip up to this many empty months
    focusDate: null, // the grid's roving-tabindex day ("YYYY-MM-DD")
    hour12: defaultHour12(),
  };

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (match, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : match;
    });
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function isoDate(y, m, d) { return y + "-" + pad(m + 1) + "-" + pad(d); }

  function newKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // randomUUID needs a secure context; plain-http deployments still get a random key.
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return pad16(b); }).join("");
  }

  function pad16(b) { return (b < 16 ? "0" : "") + b.toString(16); }

  function dateIn(zone, when) {
    var parts = {};
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone, year: "numeric", month: "numeric", day: "numeric",
    }).formatToParts(when).forEach(function (p) { parts[p.type] = p.value; });
    return { y: Number(parts.year), m: Number(parts.month) - 1, d: Number(parts.day) };
  }

  function todayIn(zone) { return dateIn(zone, new Date()); }

  // The clock follows the booker's own locale when it speaks the page's language (en-GB and ja
  // count 24 hours, en-US 12), else the page's language; the toggle overrides it and is kept.
  function defaultHour12() {
    try {
      var saved = window.localStorage.getItem("yoyaku-clock");
      if (saved === "12" || saved === "24") { return saved === "12"; }
    } catch (e) { /* storage may be off */ }
    var browser = (navigator.languages && navigator.languages[0]) || navigator.language || "";
    var locale = browser.split("-")[0].toLowerCase() === lang.split("-")[0].toLowerCase() ? browser : lang;
    try {
      var cycle = new Intl.DateTimeFormat(locale, { hour: "numeric" }).resolvedOptions().hourCycle;
      return cycle === "h11" || cycle === "h12";
    } catch (e) { return false; }
  }

  // The bookable months in the booker's zone: prev and next stop at them.
  function firstMonth() {
    var first = cfg.firstInstant ? new Date(cfg.firstInstant) : new Date();
    var today = todayIn(state.zone);
    var d = cfg.firstInstant ? dateIn(state.zone, first) : today;
    return Math.max(monthIndex(d.y, d.m), monthIndex(today.y, today.m));
  }

  function lastMonth() {
    var today = todayIn(state.zone);
    if (!cfg.lastInstant) { return monthIndex(today.y, today.m) + 12; }
    var d = dateIn(state.zone, new Date(cfg.lastInstant));
    return Math.min(monthIndex(d.y, d.m), monthIndex(today.y, today.m) + 12);
  }

  function zoneOffsetLabel(zone) {
    try {
      var parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "shortOffset" })
        .formatToParts(new Date());
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === "timeZoneName") { return parts[i].value; }
      }
    } catch (e) { /* shortOffset is newer than Intl itself */ }
    return "";
  }

  function zoneLabel(zone) {
    var offset = zoneOffsetLabel(zone);
    var name = zone.replace(/_/g, " ");
    return offset ? name + " (" + offset + ")" : name;
  }

  function timeFormat() {
    return new Intl.DateTimeFormat(lang, {
      timeZone: state.zone, hour: "numeric", minute: "2-digit", hourCycle: state.hour12 ? "h12" : "h23",
    });
  }

  function dayLabel(dateString, withYear) {
    var p = dateString.split("-").map(Number);
    // Japanese writes the weekday short, in brackets: 12月8日(火), 2026年12月8日(火).
    var weekday = lang.slice(0, 2) === "ja" ? "short" : "long";
    var options = { timeZone: "UTC", weekday: weekday, month: "long", day: "numeric" };
    if (withYear) { options.year = "numeric"; }
    return new Intl.DateTimeFormat(lang, options).format(new Date(Date.UTC(p[0], p[1] - 1, p[2])));
  }

  // The meeting's day and times as the server writes them in mails and on the dashboard
  // (yoyaku/formatting.py): "Tue, Dec 8, 2026 · 10:00 – 10:30 AM", "2026年12月8日(火) 10:00～10:30".
  function whenLabel(startIso, minutes, zone) {
    var start = new Date(startIso);
    var end = new Date(start.getTime() + minutes * 60000);
    // The clock follows the booker's choice (the 12/24-hour toggle).
    var day = new Intl.DateTimeFormat(lang, {
      timeZone: zone, weekday: "short", year: "numeric", month: "short", day: "numeric",
    }).format(start);
    var t = new Intl.DateTimeFormat(lang, {
      timeZone: zone, hour: "numeric", minute: "2-digit", hourCycle: state.hour12 ? "h12" : "h23",
    });
    var japanese = lang.slice(0, 2) === "ja";
    // ICU writes a Japanese range as "20時00分～20時15分"; the clock form matches the mails.
    var times = japanese ? t.format(start) + "〜" + t.format(end)
      : typeof t.formatRange === "function" ? t.formatRange(start, end) : t.format(start);
    return day + (japanese ? " " : " · ") + times + " · " + zoneLabel(zone);
  }

  // -- status and steps ----------------------------------------------------------------

  function setStatus(message, kind, action) {
    var box = $("status");
    box.textContent = "";
    box.className = "status" + (kind ? " " + kind : "");
    if (!message) { return; }
    var p = document.createElement("p");
    p.textContent = message;
    box.appendChild(p);
    if (action) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link-button";
      button.textContent = action.label;
      button.addEventListener("click", action.run);
      box.appendChild(button);
    }
  }

  function show(step) {
    var steps = { pick: "step-pick", details: "details", move: "confirm-move", cancel: "cancel-step", done: "done" };
    Object.keys(steps).forEach(function (name) {
      var el = $(steps[name]);
      if (el) { el.hidden = step !== name; }
    });
    $("booking").setAttribute("data-state", step);
  }

  function focusHeading(id) {
    var el = $(id);
    if (!el) { return; }
    el.setAttribute("tabindex", "-1");
    el.focus({ preventScroll: false });
  }

  // -- time zone and duration controls --------------------------------------------------

  // A combobox over every IANA zone the server lists (WAI-ARIA combobox with a listbox popup):
  // type any part of a name or an offset ("tokyo", "new york", "+5:30"), arrows and Enter pick.
  var zoneOptions = [];

  function zoneEntries() {
    var zones = cfg.timeZones.slice();
    if (zones.indexOf(detectedZone) < 0) { zones.unshift(detectedZone); }
    return zones.map(function (zone) {
      var offset = zoneOffsetLabel(zone);
      var label = zone === detectedZone ? fmt(S.detected, { zone: zoneLabel(zone) }) : zoneLabel(zone);
      return { zone: zone, label: label, offset: offset, key: (zone + " " + offset).toLowerCase().replace(/_/g, " ") };
    }).sort(function (a, b) {
      // The detected zone first, then by offset west to east, then by name.
      if (a.zone === detectedZone) { return -1; }
      if (b.zone === detectedZone) { return 1; }
      return offsetMinutes(a.offset) - offsetMinutes(b.offset) || (a.zone < b.zone ? -1 : 1);
    });
  }

  function offsetMinutes(label) {
    var m = /([+\u2212-])(\d{1,2})(?::(\d{2}))?/.exec(label || "");
    if (!m) { return 0; }
    var value = Number(m[2]) * 60 + Number(m[3] || 0);
    return m[1] === "+" ? value : -value;
  }

  function matches(entry, query) {
    var words = query.toLowerCase().replace(/_/g, " ").split(/\s+/).filter(Boolean);
    return words.every(function (word) {
      if (entry.key.indexOf(word) >= 0) { return true; }
      // "+9", "+09:00" and "gmt+9" all find GMT+9.
      var off = /^(?:gmt|utc)?([+-])0?(\d{1,2})(?::?(\d{2}))?$/.exec(word);
      return !!off && offsetMinutes(entry.offset || "GMT+0") ===
        (off[1] === "-" ? -1 : 1) * (Number(off[2]) * 60 + Number(off[3] || 0));
    });
  }

  function fillZones() {
    var input = $("tz-input");
    var list = $("tz-list");
    if (!input) { return; }
    var entries = zoneEntries();
    var active = -1;

    function labelOf(zone) {
      for (var i = 0; i < entries.length; i++) { if (entries[i].zone === zone) { return entries[i].label; } }
      return zone;
    }

    function render(query) {
      list.textContent = "";
      zoneOptions = entries.filter(function (e) { return !query || matches(e, query); });
      zoneOptions.forEach(function (entry, i) {
        var li = document.createElement("li");
        li.id = "tz-opt-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("data-zone", entry.zone);
        li.setAttribute("aria-selected", entry.zone === state.zone ? "true" : "false");
        li.textContent = entry.label;
        li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(entry.zone); });
        list.appendChild(li);
      });
      if (!zoneOptions.length) {
        var none = document.createElement("li");
        none.className = "none";
        none.textContent = S.noZone;
        list.appendChild(none);
      }
      setActive(zoneOptions.length ? 0 : -1);
    }

    function setActive(index) {
      var old = active >= 0 ? $("tz-opt-" + active) : null;
      if (old) { old.classList.remove("active"); }
      active = index;
      var el = index >= 0 ? $("tz-opt-" + index) : null;
      if (el) {
        el.classList.add("active");
        input.setAttribute("aria-activedescendant", el.id);
        el.scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function open(query) {
      render(query);
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function choose(zone) {
      close();
      input.value = labelOf(zone);
      input.setAttribute("data-zone", zone);
      if (zone === state.zone) { return; }
      state.zone = zone;
      state.selectedSlot = null;
      // The month shown may be over in the new zone (Tokyo is already in December while New York
      // is still on November 30): show the new zone's current month, and move past a month with no
      // times left, as the first load does.
      var today = todayIn(zone);
      if (monthIndex(state.year, state.month) < monthIndex(today.y, today.m)) {
        state.year = today.y;
        state.month = today.m;
      }
      state.autoAdvance = Math.max(state.autoAdvance, 1);
      loadMonth();
      renderCurrent();
    }

    input.value = labelOf(state.zone);
    input.setAttribute("data-zone", state.zone);
    input.addEventListener("focus", function () { input.select(); });
    input.addEventListener("click", function () { if (list.hidden) { open(""); } });
    input.addEventListener("input", function () { open(input.value.trim()); });
    input.addEventListener("blur", function () { close(); input.value = labelOf(state.zone); });
    input.addEventListener("keydown", function (event) {
      var key = event.key;
      if (key === "ArrowDown" || key === "ArrowUp") {
        event.preventDefault();
        if (list.hidden) { open(""); return; }
        var next = active + (key === "ArrowDown" ? 1 : -1);
        setActive(Math.max(0, Math.min(zoneOptions.length - 1, next)));
      } else if (key === "Enter") {
        if (!list.hidden && active >= 0) {
          event.preventDefault();
          choose(zoneOptions[active].zone);
        }
      } else if (key === "Escape") {
        if (!list.hidden) {
          event.preventDefault();
          close();
          input.value = labelOf(state.zone);
          input.select();
        }
      }
    });
  }

  function bindClock() {
    var radios = document.querySelectorAll('input[name="clock"]');
    Array.prototype.forEach.call(radios, function (radio) {
      radio.checked = (radio.value === "12") === state.hour12;
      radio.addEventListener("change", function () {
        if (!radio.checked) { return; }
        state.hour12 = radio.value === "12";
        try { window.localStorage.setItem("yoyaku-clock", radio.value); } catch (e) { /* private mode */ }
        renderSlots();
        renderCurrent();
        if (state.selectedSlot && !$("details").hidden) { chooseSlot(state.selectedSlot); }
      });
    });
  }

  function bindDurations() {
    var radios = document.querySelectorAll('input[name="duration"]');
    Array.prototype.forEach.call(radios, function (radio) {
      radio.addEventListener("change", function () {
        if (!radio.checked) { return; }
        state.duration = Number(radio.value);
        state.selectedSlot = null;
        // A longer meeting may no longer fit in what is left of the month (an hour at 4:30 PM on
        // the last working day): move on to a month with times, as the first load does.
        state.autoAdvance = Math.max(state.autoAdvance, 1);
        loadMonth();
      });
    });
  }

  // -- month calendar -----------------------------------------------------------------------

  function monthBounds() {
    var last = new Date(Date.UTC(state.year, state.month + 1, 0)).getUTCDate();
    return { start: isoDate(state.year, state.month, 1), end: isoDate(state.year, state.month, last), last: last };
  }

  function monthIndex(y, m) { return y * 12 + m; }

  function loadMonth() {
    var seq = ++state.fetchSeq;
    var bounds = monthBounds();
    var today = todayIn(state.zone);
    var start = bounds.start;
    if (monthIndex(state.year, state.month) === monthIndex(today.y, today.m)) {
      start = isoDate(today.y, today.m, today.d);
    }
    var params = new URLSearchParams({
      start: start, end: bounds.end, timezone: state.zone, duration: String(state.duration),
      lang: cfg.language,
    });
    // The month is drawn at once with no open days, and the times column says it is loading:
    // both keep their size, so nothing moves when the times arrive.
    state.days = {};
    state.loading = true;
    renderCalendar();
    renderSlots();
    setStatus("");
    $("booking").setAttribute("aria-busy", "true");
    return fetch(cfg.availabilityUrl + "?" + params.toString(), { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          var failure = new Error("HTTP " + response.status);
          failure.status = response.status;
          failure.retryAfter = response.headers.get("Retry-After");
          throw failure;
        }
        return response.json();
      })
      .then(function (data) {
        if (seq !== state.fetchSeq) { return; } // a newer request superseded this one
        $("booking").removeAttribute("aria-busy");
        state.loading = false;
        setStatus("");
        if (data.calendar_error) {
          if (cfg.mode === "reschedule") {
            setStatus(S.calendarDownMove, "error", { label: S.retry, run: loadMonth });
            renderCalendar();
            renderSlots();
            return;
          }
          showRequestForm(null);
          return;
        }
        state.offline = !!data.offline;
        state.days = {};
        data.days.forEach(function (day) {
          if (day.slots.length) { state.days[day.date] = day.slots; }
        });
        var available = Object.keys(state.days).sort();
        if (!available.length && state.autoAdvance > 0 && monthIndex(state.year, state.month) < lastMonth()) {
          state.autoAdvance -= 1;
          stepMonth(1);
          return;
        }
        state.autoAdvance = 0;
        if (state.pendingDate && state.days[state.pendingDate]) { state.selectedDate = state.pendingDate; }
        state.pendingDate = null;
        if (!state.selectedDate || !state.days[state.selectedDate]) {
          state.selectedDate = available.length ? available[0] : null;
        }
        applyMode();
        renderCalendar();
        renderSlots();
        if ($("booking").getAttribute("data-state") === "loading") { show("pick"); }
      })
      .catch(function (error) {
        if (seq !== state.fetchSeq) { return; }
        $("booking").removeAttribute("aria-busy");
        state.loading = false;
        renderSlots();
        show("pick");
        // Throttled: say how long to wait rather than suggesting the connection is at fault.
        var message = error && error.status === 429 ? tooManyMessage(error.retryAfter) : S.loadFailed;
        setStatus(message, "error", { label: S.retry, run: loadMonth });
      });
  }

  function stepMonth(delta) {
    var index = monthIndex(state.year, state.month) + delta;
    index = Math.max(firstMonth(), Math.min(lastMonth(), index));
    if (index === monthIndex(state.year, state.month)) { return; }
    state.year = Math.floor(index / 12);
    state.month = index % 12;
    loadMonth();
  }

  function applyMode() {
    // A meeting being moved stays a booking, even if its host has no calendar connected any more.
    var requests = state.offline && cfg.mode === "book";
    var title = $("pick-title");
    title.textContent = requests ? title.getAttribute("data-request") : title.getAttribute("data-book");
    $("offline-note").hidden = !requests;
  }

  // -- the month grid (WAI-ARIA grid, roving tabindex: one day is in the tab order) ----------

  function weekdayHeader() {
    var row = document.createElement("div");
    row.className = "week weekdays";
    row.setAttribute("role", "row");
    var short = new Intl.DateTimeFormat(lang, { timeZone: "UTC", weekday: "short" });
    var long = new Intl.DateTimeFormat(lang, { timeZone: "UTC", weekday: "long" });
    // 2023-01-01 was a Sunday; the grid starts its weeks on Sunday.
    for (var i = 0; i < 7; i++) {
      var day = new Date(Date.UTC(2023, 0, 1 + i));
      var head = document.createElement("span");
      head.setAttribute("role", "columnheader");
      head.setAttribute("aria-label", long.format(day));
      head.textContent = short.format(day);
      row.appendChild(head);
    }
    return row;
  }

  function parseDate(text) {
    var p = text.split("-").map(Number);
    return new Date(Date.UTC(p[0], p[1] - 1, p[2]));
  }

  function dateString(d) { return isoDate(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()); }

  function rovingDate() {
    var bounds = monthBounds();
    var inMonth = function (date) { return date && date >= bounds.start && date <= bounds.end; };
    if (inMonth(state.focusDate)) { return state.focusDate; }
    if (inMonth(state.selectedDate)) { return state.selectedDate; }
    var open = Object.keys(state.days).sort();
    if (open.length) { return open[0]; }
    var today = todayIn(state.zone);
    var todayString = isoDate(today.y, today.m, today.d);
    return inMonth(todayString) ? todayString : bounds.start;
  }

  function renderCalendar() {
    var grid = $("days");
    if (!grid) { return; }
    var bounds = monthBounds();
    var today = todayIn(state.zone);
    var todayString = isoDate(today.y, today.m, today.d);
    var hadFocus = grid.contains(document.activeElement);
    $("month-title").textContent = new Intl.DateTimeFormat(lang, {
      timeZone: "UTC", year: "numeric", month: "long",
    }).format(new Date(Date.UTC(state.year, state.month, 1)));
    var index = monthIndex(state.year, state.month);
    $("month-prev").disabled = index <= firstMonth();
    $("month-next").disabled = index >= lastMonth();

    // Only a day the booker moved to is kept (state.focusDate); otherwise the chosen day, the first
    // open one, today or the 1st takes the tab stop.
    var roving = rovingDate();
    grid.textContent = "";
    grid.appendChild(weekdayHeader());
    var lead = new Date(Date.UTC(state.year, state.month, 1)).getUTCDay();
    var anyOpen = false;
    var cell = 0;
    // Always six weeks, so a month of five (or four) rows takes the same room as one of six.
    for (var week = 0; week < 6; week++) {
      var row = document.createElement("div");
      row.className = "week";
      row.setAttribute("role", "row");
      for (var wd = 0; wd < 7; wd++, cell++) {
        var d = cell - lead + 1;
        var el = document.createElement("span");
        el.setAttribute("role", "gridcell");
        if (d < 1 || d > bounds.last) {
          el.className = "blank";
          row.appendChild(el);
          continue;
        }
        var date = isoDate(state.year, state.month, d);
        var open = !!state.days[date];
        anyOpen = anyOpen || open;
        el.className = "day" + (open ? " open" : "") + (date === todayString ? " today" : "");
        el.textContent = String(d);
        el.setAttribute("data-date", date);
        el.setAttribute("tabindex", date === roving ? "0" : "-1");
        el.setAttribute("aria-label", dayLabel(date, false) + (open ? ", " + S.available : ""));
        el.setAttribute("aria-selected", date === state.selectedDate ? "true" : "false");
        if (!open) { el.setAttribute("aria-disabled", "true"); }
        if (date === todayString) { el.setAttribute("aria-current", "date"); }
        row.appendChild(el);
      }
      grid.appendChild(row);
    }
    $("month-hint").textContent = anyOpen || state.loading ? "" : S.noTimesMonth;
    if (hadFocus) { focusDay(roving); }
  }

  function focusDay(date) {
    var el = $("days").querySelector('[data-date="' + date + '"]');
    if (!el) { return; }
    Array.prototype.forEach.call($("days").querySelectorAll('[tabindex="0"]'), function (other) {
      other.setAttribute("tabindex", "-1");
    });
    el.setAttribute("tabindex", "0");
    el.focus();
  }

  function moveFocus(target) {
    var date = dateString(target);
    var bounds = monthBounds();
    if (date >= bounds.start && date <= bounds.end) {
      state.focusDate = date;
      focusDay(date);
      return;
    }
    var index = monthIndex(target.getUTCFullYear(), target.getUTCMonth());
    if (index < firstMonth() || index > lastMonth()) { return; } // outside the bookable months
    state.focusDate = date;
    state.year = target.getUTCFullYear();
    state.month = target.getUTCMonth();
    loadMonth();
  }

  function addMonths(from, count) {
    var y = from.getUTCFullYear();
    var m = from.getUTCMonth() + count;
    var last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
    return new Date(Date.UTC(y, m, Math.min(from.getUTCDate(), last)));
  }

  function onGridKey(event) {
    var cell = event.target.closest ? event.target.closest(".day") : null;
    if (!cell) { return; }
    var current = parseDate(cell.getAttribute("data-date"));
    var target = null;
    switch (event.key) {
      case "ArrowRight": target = new Date(current.getTime() + DAY_MS); break;
      case "ArrowLeft": target = new Date(current.getTime() - DAY_MS); break;
      case "ArrowDown": target = new Date(current.getTime() + 7 * DAY_MS); break;
      case "ArrowUp": target = new Date(current.getTime() - 7 * DAY_MS); break;
      case "Home": target = new Date(current.getTime() - current.getUTCDay() * DAY_MS); break;
      case "End": target = new Date(current.getTime() + (6 - current.getUTCDay()) * DAY_MS); break;
      case "PageUp": target = addMonths(current, event.shiftKey ? -12 : -1); break;
      case "PageDown": target = addMonths(current, event.shiftKey ? 12 : 1); break;
      case "Enter":
      case " ":
        event.preventDefault();
        selectDay(cell);
        return;
      default:
        return;
    }
    event.preventDefault();
    moveFocus(target);
  }

  function selectDay(cell) {
    if (state.loading) {
      // Enter on a day of a month still loading: pick it once its times are known.
      state.pendingDate = cell.getAttribute("data-date");
      return;
    }
    if (!cell.classList.contains("open")) { return; }
    state.selectedDate = cell.getAttribute("data-date");
    state.focusDate = state.selectedDate;
    Array.prototype.forEach.call($("days").querySelectorAll(".day"), function (b) {
      b.setAttribute("aria-selected", b.getAttribute("data-date") === state.selectedDate ? "true" : "false");
    });
    focusDay(state.selectedDate);
    renderSlots();
    var first = $("slots").querySelector("button");
    if (first && window.matchMedia("(max-width: 760px)").matches) {
      $("times-title").scrollIntoView({ behavior: "smooth", block: "start" });
    }
  }

  function onDayClick(event) {
    var cell = event.target.closest ? event.target.closest(".day") : null;
    if (cell) { selectDay(cell); }
  }

  function renderSlots() {
    var list = $("slots");
    if (!list) { return; }
    list.textContent = "";
    var title = $("times-title");
    if (state.loading) {
      title.textContent = S.loading;
      return;
    }
    if (!state.selectedDate || !state.days[state.selectedDate]) {
      title.textContent = S.noTimesDay;
      return;
    }
    title.textContent = fmt(S.timesFor, { date: dayLabel(state.selectedDate, false) });
    var f = timeFormat();
    state.days[state.selectedDate].forEach(function (iso) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "slot";
      button.setAttribute("data-start", iso);
      button.textContent = f.format(new Date(iso));
      button.addEventListener("click", function () { chooseSlot(iso); });
      li.appendChild(button);
      list.appendChild(li);
    });
  }

  // The meeting being moved or cancelled, in the chosen zone and clock.
  function renderCurrent() {
    if (!cfg.current) { return; }
    var text = whenLabel(cfg.current.start, cfg.current.duration, state.zone);
    ["summary-current", "cancel-when"].forEach(function (id) {
      if ($(id)) { $(id).textContent = text; }
    });
  }

  // -- details form -----------------------------------------------------------------------

  function chooseSlot(iso) {
    if (cfg.mode === "reschedule") {
      chooseNewTime(iso);
      return;
    }
    if (state.selectedSlot !== iso) { state.idempotencyKey = null; }
    state.selectedSlot = iso;
    state.mode = "book";
    var when = whenLabel(iso, state.duration, state.zone);
    $("chosen").textContent = when;
    $("chosen").hidden = false;
    $("summary-time").textContent = when;
    $("summary-time-item").hidden = false;
    var checked = document.querySelector('input[name="duration"]:checked');
    if (checked && checked.nextElementSibling) {
      $("summary-duration").textContent = checked.nextElementSibling.textContent;
    }
    $("back").hidden = false;
    $("message-field").hidden = true;
    $("submit").textContent = state.offline ? S.requestTime : S.book;
    clearErrors();
    setStatus("");
    show("details");
    focusHeading("details-title");
  }

  function forgetSlot() {
    state.selectedSlot = null;
    $("summary-time-item").hidden = true;
    $("summary-duration").textContent = allDurations;
  }

  function showRequestForm(notice) {
    forgetSlot();
    state.mode = "request";
    state.idempotencyKey = null;
    $("unavailable").hidden = false;
    $("step-pick").hidden = true;
    $("chosen").hidden = true;
    $("back").hidden = true;
    $("message-field").hidden = false;
    $("submit").textContent = S.sendRequest;
    $("offline-note").hidden = true;
    clearErrors();
    if (notice) { setStatus(notice, "error"); }
    show("details");
  }

  function fieldControls() {
    var form = $("details");
    return Array.prototype.filter.call(form.querySelectorAll("input, textarea, select"), function (el) {
      return !el.closest("[hidden]");
    });
  }

  function clearErrors() {
    Array.prototype.forEach.call(document.querySelectorAll(".field-error"), function (el) {
      el.textContent = "";
    });
    fieldControls().forEach(function (el) { el.removeAttribute("aria-invalid"); });
    var box = $("form-status");
    box.hidden = true;
    box.textContent = "";
  }

  function errorTarget(key) {
    var els = document.querySelectorAll(".field-error");
    for (var i = 0; i < els.length; i++) {
      if (els[i].getAttribute("data-error-for") === key && !els[i].closest("[hidden]")) { return els[i]; }
    }
    return null;
  }

  function showErrors(errors, summary) {
    var unplaced = [];
    var firstInvalid = null;
    Object.keys(errors).forEach(function (key) {
      var target = errorTarget(key);
      if (!target) {
        unplaced.push(errors[key]);
        return;
      }
      target.textContent = errors[key];
      var control = document.querySelector('[aria-describedby="' + target.id + '"]');
      if (control) {
        control.setAttribute("aria-invalid", "true");
        firstInvalid = firstInvalid || control;
      }
    });
    var box = $("form-status");
    box.textContent = "";
    [summary].concat(unplaced).forEach(function (text) {
      var p = document.createElement("p");
      p.textContent = text;
      box.appendChild(p);
    });
    box.hidden = false;
    if (firstInvalid) { firstInvalid.focus(); }
  }

  function collect() {
    var answers = {};
    Array.prototype.forEach.call(document.querySelectorAll("[data-answer]"), function (el) {
      var key = el.getAttribute("data-answer");
      var kind = el.getAttribute("data-kind");
      if (kind === "checkbox") {
        answers[key] = el.checked;
      } else if (kind === "radio") {
        if (el.checked) answers[key] = el.value;
      } else if (el.value.trim() !== "") {
        answers[key] = el.value;
      }
    });
    return {
      first_name: $("f-first_name").value,
      last_name: $("f-last_name").value,
      email: $("f-email").value.trim(),
      answers: answers,
    };
  }

  function missingRequired() {
    var errors = {};
    fieldControls().forEach(function (el) {
      if (!el.required) { return; }
      var empty = el.type === "checkbox" ? !el.checked : el.value.trim() === "";
      if (!empty) { return; }
      var target = document.getElementById(el.getAttribute("aria-describedby"));
      if (target) { errors[target.getAttribute("data-error-for")] = S.required; }
    });
    return errors;
  }

  function setBusy(busy) {
    state.submitting = busy;
    var button = $("submit");
    button.disabled = busy;
    button.setAttribute("aria-busy", busy ? "true" : "false");
    if (busy) {
      button.setAttribute("data-label", button.textContent);
      button.textContent = S.sending;
    } else if (button.getAttribute("data-label")) {
      button.textContent = button.getAttribute("data-label");
    }
  }

  function onSubmit(event) {
    event.preventDefault();
    if (state.submitting) { return; }
    clearErrors();
    var missing = missingRequired();
    if (Object.keys(missing).length) {
      showErrors(missing, S.fixFields);
      return;
    }
    var body = collect();
    body.timezone = state.zone;
    state.idempotencyKey = state.idempotencyKey || newKey();
    body.idempotency_key = state.idempotencyKey;
    var url;
    if (state.mode === "request") {
      url = cfg.requestUrl;
      body.message = $("f-message").value;
    } else {
      url = cfg.bookUrl;
      body.start = state.selectedSlot;
      body.duration = state.duration;
    }
    setBusy(true);
    // The answers (and the mails) speak the page's language, even where the cookie is not sent.
    fetch(url + "?lang=" + encodeURIComponent(cfg.language), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          return { status: response.status, data: data, retryAfter: response.headers.get("Retry-After") };
        });
      })
      .then(function (result) {
        setBusy(false);
        handleResult(result, body);
      })
      .catch(function () {
        // The key is kept: a retry after a lost response returns the booking already made.
        setBusy(false);
        showErrors({}, S.networkError);
      });
  }

  function pickAgain(reason) {
    state.idempotencyKey = null;
    forgetSlot();
    show("pick");
    loadMonth().then(function () { setStatus(reason, "error"); });
    setStatus(reason, "error");
    focusHeading("pick-title");
  }

  function handleResult(result, body) {
    var status = result.status;
    var data = result.data || {};
    if (status === 200 || status === 201) {
      showDone(data, body.email);
    } else if (status === 422 && data.errors && data.errors.start) {
      // The time is no longer offered (it passed, or now falls within the page's notice): the
      // details stay filled in, and the booker picks another time, told why.
      pickAgain(data.errors.start);
    } else if (status === 422) {
      showErrors(data.errors || {}, S.fixFields);
    } else if (status === 409) {
      pickAgain(S.taken);
    } else if (status === 503) {
      showRequestForm(S.calendarDown);
      focusHeading("details-title");
    } else if (status === 429) {
      showErrors({}, tooManyMessage(result.retryAfter));
    } else {
      showErrors({}, S.serverError);
    }
  }

  // The booking limit may mean a wait of up to an hour: say how long, from the API's Retry-After
  // (seconds; a proxy's refusal may come without it).
  function tooManyMessage(retryAfter) {
    var seconds = /^\d+$/.test(retryAfter || "") ? parseInt(retryAfter, 10) : 0;
    if (seconds <= 0) { return S.tooManyLater; }
    var minutes = Math.ceil(seconds / 60);
    return fmt(minutes === 1 ? S.tooManyOne : S.tooManyOther, { minutes: minutes });
  }

  function showDone(booking, email) {
    var requested = booking.status === "requested";
    $("done-title").textContent = requested ? S.requestedTitle : S.bookedTitle;
    var body = !requested ? S.bookedBody : booking.start ? S.requestedBody : S.requestNoTimeBody;
    $("done-body").textContent = fmt(body, { host: booking.host || cfg.host });
    $("done-when").textContent = booking.start ? whenLabel(booking.start, state.duration, state.zone) : "";
    $("done-when").hidden = !booking.start;
    // A booking mails the invitation; a request mails a receipt, and the host answers later.
    $("done-email").textContent = fmt(requested ? S.receiptSent : S.emailSent, { email: email });
    var message = $("done-message");
    message.textContent = booking.confirmation_message || "";
    message.hidden = !booking.confirmation_message;
    $("unavailable").hidden = true;
    $("offline-note").hidden = true;
    showManageLinks(booking);
    setStatus("");
    show("done");
    focusHeading("done-title");
    var target = booking.redirect_url;
    if (target && /^https?:\/\//i.test(target)) {
      setStatus(S.redirecting);
      window.setTimeout(function () { window.location.assign(target); }, 1500);
    }
  }

  // The booker's own links: move, cancel, and the meeting as a file with the invitation's UID (so a
  // calendar app keeps one entry). No Google or Outlook "add" links: those make a second event
  // beside the invitation the booker already gets.
  function showManageLinks(booking) {
    var links = [["done-ics", booking.calendar_file_url], ["done-reschedule", booking.reschedule_url],
      ["done-cancel", booking.cancel_url]];
    var any = false;
    links.forEach(function (pair) {
      var el = $(pair[0]);
      el.hidden = !pair[1];
      if (pair[1]) { el.setAttribute("href", pair[1]); any = true; }
    });
    $("done-ics-note").hidden = !booking.calendar_file_url;
    var note = $("done-change-note");
    note.textContent = booking.change_note || "";
    note.hidden = !booking.change_note;
    $("done-manage").hidden = !any && !booking.change_note;
  }

  // -- moving and cancelling through a manage link ---------------------------------------

  function chooseNewTime(iso) {
    state.selectedSlot = iso;
    var when = whenLabel(iso, state.duration, state.zone);
    $("move-when").textContent = when;
    $("summary-time").textContent = when;
    $("summary-time-item").hidden = false;
    $("move-status").hidden = true;
    setStatus("");
    show("move");
    focusHeading("move-title");
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data, retryAfter: response.headers.get("Retry-After") };
      });
    });
  }

  function failureText(result) {
    var data = result.data || {};
    if (result.status === 429) { return tooManyMessage(result.retryAfter); }
    if (result.status === 404) { return S.linkGone; }
    if (result.status === 503) { return S.calendarDownMove; }
    if (data.errors && Object.keys(data.errors).length) {
      return Object.keys(data.errors).map(function (k) { return data.errors[k]; }).join(" ");
    }
    return data.detail || S.serverError;
  }

  function showAlert(id, text) {
    var box = $(id);
    box.textContent = "";
    var p = document.createElement("p");
    p.textContent = text;
    box.appendChild(p);
    box.hidden = false;
  }

  function submitMove() {
    if (state.submitting) { return; }
    var button = $("move-submit");
    state.submitting = true;
    button.disabled = true;
    postJson(cfg.rescheduleUrl, { start: state.selectedSlot })
      .then(function (result) {
        state.submitting = false;
        button.disabled = false;
        if (result.status === 200) {
          showChanged(result.data, S.movedTitle, S.movedBody);
        } else if (result.status === 409 || (result.status === 422 && result.data.errors && result.data.errors.start)) {
          $("summary-time-item").hidden = true;
          show("pick");
          loadMonth();
          setStatus(result.status === 409 ? S.taken : result.data.errors.start, "error");
          focusHeading("pick-title");
        } else {
          showAlert("move-status", failureText(result));
        }
      })
      .catch(function () {
        state.submitting = false;
        button.disabled = false;
        showAlert("move-status", S.networkError);
      });
  }

  function submitCancel(event) {
    event.preventDefault();
    if (state.submitting) { return; }
    var button = $("cancel-submit");
    state.submitting = true;
    button.disabled = true;
    postJson(cfg.cancelUrl, { reason: $("f-reason").value })
      .then(function (result) {
        state.submitting = false;
        button.disabled = false;
        if (result.status === 200) {
          showChanged(result.data, S.cancelledTitle, S.cancelledBody);
        } else {
          showAlert("cancel-status", failureText(result));
        }
      })
      .catch(function () {
        state.submitting = false;
        button.disabled = false;
        showAlert("cancel-status", S.networkError);
      });
  }

  function showChanged(booking, title, body) {
    $("done-title").textContent = title;
    $("done-body").textContent = fmt(body, { host: booking.host || cfg.host });
    var cancelled = booking.status === "cancelled";
    $("done-when").textContent = whenLabel(booking.start, booking.duration, state.zone);
    $("done-when").hidden = false;
    $("done-when").classList.toggle("struck", cancelled);
    $("done-email").textContent = S.updateSent;
    $("done-message").hidden = true;
    if (cancelled) {
      $("done-manage").hidden = true;
    } else {
      showManageLinks(booking);
    }
    if ($("summary-current")) {
      $("summary-current").textContent = cancelled ? S.cancelledShort : whenLabel(booking.start, booking.duration, state.zone);
    }
    $("summary-time-item").hidden = true;
    setStatus("");
    show("done");
    focusHeading("done-title");
  }

  // -- start ------------------------------------------------------------------------------

  function start() {
    var today = todayIn(state.zone);
    state.year = today.y;
    state.month = today.m;
    renderCurrent();
    if (cfg.mode === "cancel") {
      if ($("cancel-step")) {
        $("cancel-step").addEventListener("submit", submitCancel);
        show("cancel");
      }
      return;
    }
    if (!$("step-pick")) { return; } // a refusal is shown instead
    fillZones();
    bindDurations();
    bindClock();
    $("days").addEventListener("keydown", onGridKey);
    $("days").addEventListener("click", onDayClick);
    $("month-prev").addEventListener("click", function () { stepMonth(-1); });
    $("month-next").addEventListener("click", function () { stepMonth(1); });
    $("back").addEventListener("click", function () {
      forgetSlot();
      show("pick");
      renderSlots();
      focusHeading("pick-title");
    });
    if ($("move-submit")) {
      $("move-submit").addEventListener("click", submitMove);
      $("move-back").addEventListener("click", function () {
        state.selectedSlot = null;
        $("summary-time-item").hidden = true;
        show("pick");
        focusHeading("pick-title");
      });
    }
    $("details").addEventListener("submit", onSubmit);
    show("pick");
    loadMonth();
  }

  start();
})();
