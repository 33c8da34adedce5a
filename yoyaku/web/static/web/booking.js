/* The public booking page: pick a day and a time in your own time zone, then book it.
 * Talks to the public REST API; no build step and no third-party code. */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("booking-config").textContent);
  var S = JSON.parse(document.getElementById("booking-strings").textContent);
  var lang = document.documentElement.lang || "en";
  var $ = function (id) { return document.getElementById(id); };
  var allDurations = $("summary-duration").textContent;

  var detectedZone = "UTC";
  try {
    detectedZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch (e) { /* very old browsers: UTC is a safe answer */ }

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

  function todayIn(zone) {
    var parts = {};
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone, year: "numeric", month: "numeric", day: "numeric",
    }).formatToParts(new Date()).forEach(function (p) { parts[p.type] = p.value; });
    return { y: Number(parts.year), m: Number(parts.month) - 1, d: Number(parts.day) };
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
    return new Intl.DateTimeFormat(lang, { timeZone: state.zone, hour: "numeric", minute: "2-digit" });
  }

  function dayLabel(dateString, withYear) {
    var p = dateString.split("-").map(Number);
    var options = { timeZone: "UTC", weekday: "long", month: "long", day: "numeric" };
    if (withYear) { options.year = "numeric"; }
    return new Intl.DateTimeFormat(lang, options).format(new Date(Date.UTC(p[0], p[1] - 1, p[2])));
  }

  function whenLabel(startIso, minutes, zone) {
    var start = new Date(startIso);
    var end = new Date(start.getTime() + minutes * 60000);
    var f = new Intl.DateTimeFormat(lang, {
      timeZone: zone, weekday: "long", year: "numeric", month: "long", day: "numeric",
      hour: "numeric", minute: "2-digit",
    });
    var text = typeof f.formatRange === "function" ? f.formatRange(start, end) : f.format(start);
    return text + " · " + zoneLabel(zone);
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
    $("step-pick").hidden = step !== "pick";
    $("details").hidden = step !== "details";
    $("done").hidden = step !== "done";
    $("booking").setAttribute("data-state", step);
  }

  function focusHeading(id) {
    var el = $(id);
    if (!el) { return; }
    el.setAttribute("tabindex", "-1");
    el.focus({ preventScroll: false });
  }

  // -- time zone and duration controls --------------------------------------------------

  function fillZones() {
    var select = $("tz-select");
    var zones = [detectedZone].concat(cfg.timeZones.filter(function (z) { return z !== detectedZone; }));
    zones.forEach(function (zone) {
      var option = document.createElement("option");
      option.value = zone;
      option.textContent = zone === detectedZone ? fmt(S.detected, { zone: zoneLabel(zone) }) : zoneLabel(zone);
      select.appendChild(option);
    });
    select.value = state.zone;
    select.addEventListener("change", function () {
      state.zone = select.value;
      state.selectedSlot = null;
      loadMonth();
    });
  }

  function bindDurations() {
    var radios = document.querySelectorAll('input[name="duration"]');
    Array.prototype.forEach.call(radios, function (radio) {
      radio.addEventListener("change", function () {
        if (!radio.checked) { return; }
        state.duration = Number(radio.value);
        state.selectedSlot = null;
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
    });
    setStatus(S.loading, "loading");
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
        setStatus("");
        if (data.calendar_error) {
          showRequestForm(null);
          return;
        }
        state.offline = !!data.offline;
        state.days = {};
        data.days.forEach(function (day) {
          if (day.slots.length) { state.days[day.date] = day.slots; }
        });
        var available = Object.keys(state.days).sort();
        if (!available.length && state.autoAdvance > 0) {
          state.autoAdvance -= 1;
          stepMonth(1);
          return;
        }
        state.autoAdvance = 0;
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
        show("pick");
        // Throttled: say how long to wait rather than suggesting the connection is at fault.
        var message = error && error.status === 429 ? tooManyMessage(error.retryAfter) : S.loadFailed;
        setStatus(message, "error", { label: S.retry, run: loadMonth });
      });
  }

  function stepMonth(delta) {
    var index = monthIndex(state.year, state.month) + delta;
    state.year = Math.floor(index / 12);
    state.month = index % 12;
    loadMonth();
  }

  function applyMode() {
    var title = $("pick-title");
    title.textContent = state.offline ? title.getAttribute("data-request") : title.getAttribute("data-book");
    $("offline-note").hidden = !state.offline;
  }

  function renderWeekdays() {
    var box = document.querySelector(".weekdays");
    var f = new Intl.DateTimeFormat(lang, { timeZone: "UTC", weekday: "short" });
    // 2023-01-01 was a Sunday; the grid starts its weeks on Sunday.
    for (var i = 0; i < 7; i++) {
      var span = document.createElement("span");
      span.textContent = f.format(new Date(Date.UTC(2023, 0, 1 + i)));
      box.appendChild(span);
    }
  }

  function renderCalendar() {
    var bounds = monthBounds();
    var today = todayIn(state.zone);
    var todayString = isoDate(today.y, today.m, today.d);
    $("month-title").textContent = new Intl.DateTimeFormat(lang, {
      timeZone: "UTC", year: "numeric", month: "long",
    }).format(new Date(Date.UTC(state.year, state.month, 1)));
    $("month-prev").disabled = monthIndex(state.year, state.month) <= monthIndex(today.y, today.m);
    $("month-next").disabled = monthIndex(state.year, state.month) >= monthIndex(today.y, today.m) + 12;

    var grid = $("days");
    grid.textContent = "";
    var lead = new Date(Date.UTC(state.year, state.month, 1)).getUTCDay();
    for (var i = 0; i < lead; i++) {
      var blank = document.createElement("span");
      blank.className = "blank";
      grid.appendChild(blank);
    }
    var anyOpen = false;
    for (var d = 1; d <= bounds.last; d++) {
      var date = isoDate(state.year, state.month, d);
      var open = !!state.days[date];
      anyOpen = anyOpen || open;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "day" + (open ? " open" : "") + (date === todayString ? " today" : "");
      button.textContent = String(d);
      button.disabled = !open;
      button.setAttribute("data-date", date);
      button.setAttribute("aria-label", dayLabel(date, false) + (open ? ", " + S.available : ""));
      button.setAttribute("aria-pressed", date === state.selectedDate ? "true" : "false");
      if (open) { button.addEventListener("click", onDayClick); }
      grid.appendChild(button);
    }
    $("month-hint").textContent = anyOpen ? "" : S.noTimesMonth;
  }

  function onDayClick(event) {
    state.selectedDate = event.currentTarget.getAttribute("data-date");
    var buttons = $("days").querySelectorAll("button.day");
    Array.prototype.forEach.call(buttons, function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-date") === state.selectedDate ? "true" : "false");
    });
    renderSlots();
    var first = $("slots").querySelector("button");
    if (first && window.matchMedia("(max-width: 760px)").matches) {
      $("times-title").scrollIntoView({ behavior: "smooth", block: "start" });
    }
  }

  function renderSlots() {
    var list = $("slots");
    list.textContent = "";
    var title = $("times-title");
    if (!state.selectedDate) {
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

  // -- details form -----------------------------------------------------------------------

  function chooseSlot(iso) {
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
      if (el.getAttribute("data-kind") === "checkbox") {
        answers[key] = el.checked;
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
    fetch(url, {
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
    setStatus("");
    show("done");
    focusHeading("done-title");
    var target = booking.redirect_url;
    if (target && /^https?:\/\//i.test(target)) {
      setStatus(S.redirecting);
      window.setTimeout(function () { window.location.assign(target); }, 1500);
    }
  }

  // -- start ------------------------------------------------------------------------------

  function start() {
    var today = todayIn(state.zone);
    state.year = today.y;
    state.month = today.m;
    fillZones();
    bindDurations();
    renderWeekdays();
    $("month-prev").addEventListener("click", function () { stepMonth(-1); });
    $("month-next").addEventListener("click", function () { stepMonth(1); });
    $("back").addEventListener("click", function () {
      forgetSlot();
      show("pick");
      renderSlots();
      focusHeading("pick-title");
    });
    $("details").addEventListener("submit", onSubmit);
    loadMonth();
  }

  start();
})();
