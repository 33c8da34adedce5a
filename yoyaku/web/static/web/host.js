// Signed-in pages. Everything here is an enhancement: without JavaScript the same
// buttons are plain links and forms (?connect=<step> renders the dialog open).
(function () {
  "use strict";

  // Forms that change something hard to undo ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });

  // Copy a shown-once API key.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.getAttribute("data-copy"));
      if (!input) return;
      input.select();
      var done = function () {
        button.textContent = button.getAttribute("data-copied");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () {});
      } else if (document.execCommand && document.execCommand("copy")) {
        done();
      }
    });
  });

  // The new key is shown in the answer to the POST that made it. Turning this history entry into a
  // plain GET means reloading shows the list (without the key) instead of posting again for a second key.
  if (document.getElementById("new-key-value") && window.history.replaceState) {
    window.history.replaceState(null, "", window.location.href);
  }

  // Small dialogs in the page (cancel a meeting, decline a request) instead of the browser's confirm box.
  document.querySelectorAll("[data-opens-dialog]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-opens-dialog"));
    if (!target || typeof target.showModal !== "function") return;
    button.addEventListener("click", function () {
      target.showModal();
      var field = target.querySelector("textarea, input:not([type=hidden])");
      if (field) field.focus();
    });
    target.querySelectorAll("[data-closes-dialog]").forEach(function (close) {
      close.addEventListener("click", function () {
        target.close();
        button.focus();
      });
    });
  });

  // The picker of free times (moving a meeting, confirming a request): a week at a time from the
  // server, which computes them as the booking page would; the chosen time goes into a hidden input.
  document.querySelectorAll(".slot-picker").forEach(function (picker) {
    var url = picker.getAttribute("data-url");
    var input = document.getElementById(picker.getAttribute("data-target"));
    var submit = document.getElementById(picker.getAttribute("data-submit"));
    var days = picker.querySelector(".picker-days");
    var range = picker.querySelector(".picker-range");
    var chosen = picker.querySelector(".picker-chosen");
    var previous = picker.querySelector("[data-picker=previous]");
    var next = picker.querySelector("[data-picker=next]");
    var loaded = false;
    var pages = { previous: null, next: null };

    function choose(button, time, dayLabel) {
      picker.querySelectorAll(".slot-button[aria-pressed=true]").forEach(function (other) {
        other.setAttribute("aria-pressed", "false");
      });
      button.setAttribute("aria-pressed", "true");
      input.value = time.value;
      if (submit) submit.disabled = false;
      chosen.textContent = picker.getAttribute("data-chosen-text").replace("{time}", dayLabel + " " + time.label);
    }

    function render(data) {
      days.textContent = "";
      days.setAttribute("aria-busy", "false");
      if (data.error) {
        var error = document.createElement("p");
        error.className = "callout error";
        error.textContent = data.error;
        days.appendChild(error);
      }
      var any = false;
      data.days.forEach(function (day) {
        var column = document.createElement("div");
        column.className = "picker-day";
        var heading = document.createElement("p");
        heading.className = "picker-day-label";
        heading.textContent = day.label;
        column.appendChild(heading);
        day.times.forEach(function (time) {
          any = true;
          var button = document.createElement("button");
          button.type = "button";
          button.className = "slot-button";
          button.setAttribute("aria-pressed", time.value === input.value ? "true" : "false");
          button.textContent = time.label;
          button.setAttribute("aria-label", day.label + " " + time.label);
          button.addEventListener("click", function () { choose(button, time, day.label); });
          column.appendChild(button);
        });
        if (!day.times.length) {
          var none = document.createElement("p");
          none.className = "help";
          none.textContent = "–";
          column.appendChild(none);
        }
        days.appendChild(column);
      });
      if (!any && !data.error) {
        var empty = document.createElement("p");
        empty.className = "help picker-empty";
        empty.textContent = picker.getAttribute("data-none-text");
        days.appendChild(empty);
      }
      range.textContent = data.days[0].label + " – " + data.days[data.days.length - 1].label;
      pages.previous = data.previous;
      pages.next = data.next;
      previous.disabled = !!data.at_start;
      next.disabled = false;
    }

    function load(from) {
      days.setAttribute("aria-busy", "true");
      previous.disabled = true;
      next.disabled = true;
      shown = from;
      var query = [];
      if (from) query.push("from=" + encodeURIComponent(from));
      if (length) query.push("duration=" + encodeURIComponent(length.value));
      var address = url + (query.length ? "?" + query.join("&") : "");
      fetch(address, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(render)
        .catch(function () {
          days.setAttribute("aria-busy", "false");
          days.textContent = picker.getAttribute("data-error-text");
          next.disabled = false;
        });
    }

    // Moving a meeting may change its length too: the free times follow the length chosen.
    var form = picker.closest("form");
    var length = form && form.querySelector("select[name=duration]");
    var shown = null;
    if (length) {
      length.addEventListener("change", function () {
        input.value = "";
        chosen.textContent = "";
        if (submit) submit.disabled = true;
        load(shown);
      });
    }

    previous.addEventListener("click", function () { load(pages.previous); });
    next.addEventListener("click", function () { load(pages.next); });
    // Loaded when first shown (the picker sits in a closed <details>), so the dashboard itself stays fast.
    var details = picker.closest("details");
    if (details && !details.open) {
      details.addEventListener("toggle", function () {
        if (details.open && !loaded) { loaded = true; load(null); }
      });
    } else {
      loaded = true;
      load(null);
    }
  });

  var dialog = document.getElementById("connect-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return;

  function showStep(name, focus) {
    var target = null;
    dialog.querySelectorAll("[data-step]").forEach(function (step) {
      var match = step.getAttribute("data-step") === name;
      step.hidden = !match;
      if (match) target = step;
    });
    if (!target || !focus) return;
    // Land on the first field that needs fixing, else the first empty one (after a refused
    // attempt that is the password, which is never sent back), else the step's first control.
    var inputs = Array.prototype.slice.call(target.querySelectorAll("input:not([type=hidden])"));
    var field =
      target.querySelector("[aria-invalid='true']") ||
      inputs.filter(function (input) { return !input.value; })[0] ||
      inputs[0] ||
      target.querySelector("button.provider:not([disabled])");
    var heading = target.querySelector("h3[tabindex]");
    (field || heading || target).focus();
  }

  function open(step) {
    if (dialog.open) dialog.close();
    dialog.showModal();
    showStep(step, true);
  }

  document.querySelectorAll("form[data-opens='connect-dialog']").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      open("choose");
    });
  });

  dialog.querySelectorAll("[data-step-target]").forEach(function (control) {
    control.addEventListener("click", function (event) {
      event.preventDefault();
      showStep(control.getAttribute("data-step-target"), true);
    });
  });

  // The server rendered the dialog open (a form came back with errors, or ?connect=...):
  // reopen it as a modal so focus stays inside and Escape closes it.
  var initial = dialog.getAttribute("data-open-step");
  if (initial) open(initial);
})();
