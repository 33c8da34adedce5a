// The page editor. The form works without this script (the server checks and answers on save);
// with it, the fields that depend on a choice show only when they apply, and the server's checks
// run while the host types (a POST with check=1 saves nothing) and show by the fields touched.
(function () {
  "use strict";
  var form = document.querySelector("form[data-check-url]");
  if (!form) return;
  var param = form.getAttribute("data-check-param") || "check";
  var previewBody = document.querySelector("[data-preview-body]");

  function checked(name) {
    var input = form.querySelector("input[name=" + name + "]:checked");
    return input ? input.value : "";
  }

  function sync() {
    var horizon = checked("horizon");
    form.querySelectorAll("[data-horizon]").forEach(function (block) {
      block.hidden = block.getAttribute("data-horizon") !== horizon;
    });
    var coHosts = document.getElementById("co-hosts-field");
    if (coHosts) coHosts.hidden = checked("kind") === "one_on_one";
    form.querySelectorAll("[data-question]").forEach(function (question) {
      var type = question.querySelector("select[name$=-type]");
      var options = question.querySelector("textarea[name$=-options]");
      if (type && options) {
        options.closest(".field").hidden = type.value !== "select" && type.value !== "radio";
      }
    });
  }

  var touched = {};
  var timer = null;
  var sequence = 0;

  function show(errors) {
    form.querySelectorAll("[data-error-for]").forEach(function (box) {
      var name = box.getAttribute("data-error-for");
      var message = touched[name] || name === "form_fields" ? errors[name] : "";
      box.textContent = "";
      if (message) {
        var p = document.createElement("p");
        p.textContent = message;
        box.appendChild(p);
      }
      var field = box.closest(".field");
      if (field) field.classList.toggle("has-error", Boolean(message));
    });
  }

  function check() {
    var data = new FormData(form);
    data.append(param, "1");
    var mine = ++sequence;
    fetch(form.getAttribute("data-check-url"), {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        // Only the answer to the latest state of the form is shown.
        if (!body || mine !== sequence) return;
        show(body.errors || {});
        // The preview follows what is typed (the server computes it; nothing is saved).
        if (previewBody && body.preview) previewBody.innerHTML = body.preview;
      })
      .catch(function () {});
  }

  function changed(event) {
    var name = event.target.name;
    if (!name) return;
    touched[name] = true;
    // Errors about how far ahead are given on the field of the chosen unit.
    if (name === "horizon") touched.rolling_days = touched.rolling_weeks = touched.fixed_end = true;
    if (name === "fixed_start") touched.fixed_end = true;
    if (name === "kind") touched.co_hosts = true;
    sync();
    window.clearTimeout(timer);
    timer = window.setTimeout(check, 350);
  }

  // "Add a question" / "Add a date": a copy of the list's last row with the next formset index
  // (<button data-add-row="prefix" data-list="id" data-row="selector">).
  form.querySelectorAll("[data-add-row]").forEach(function (add) {
    var prefix = add.getAttribute("data-add-row");
    var total = form.querySelector("input[name=" + prefix + "-TOTAL_FORMS]");
    var list = document.getElementById(add.getAttribute("data-list"));
    var rowSelector = add.getAttribute("data-row");
    if (!total || !list) return;
    add.hidden = false;
    form.querySelectorAll("[data-no-script=" + prefix + "]").forEach(function (note) { note.hidden = true; });
    var pattern = new RegExp(prefix + "-\\d+-");
    add.addEventListener("click", function () {
      var rows = list.querySelectorAll(rowSelector);
      var last = rows[rows.length - 1];
      if (!last) return;
      var index = Number(total.value);
      var copy = last.cloneNode(true);
      copy.querySelectorAll("[name], [id], [for], [data-error-for], [data-field]").forEach(function (el) {
        ["name", "id", "for", "data-error-for", "data-field"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value) el.setAttribute(attr, value.replace(pattern, prefix + "-" + index + "-"));
        });
        if (el.matches("input[type=text], input[type=hidden], input[type=date], textarea")) el.value = "";
        if (el.matches("input[type=checkbox]")) el.checked = false;
        if (el.matches("select")) el.selectedIndex = 0;
        if (el.matches("[data-error-for]")) el.textContent = "";
      });
      // A copy's "Remove" box belongs to saved rows only.
      copy.querySelectorAll("input[name$=-DELETE]").forEach(function (box) { box.closest("label").remove(); });
      copy.querySelectorAll(".has-error").forEach(function (field) { field.classList.remove("has-error"); });
      list.appendChild(copy);
      total.value = String(index + 1);
      sync();
      var first = copy.querySelector("input:not([type=hidden]), select, textarea");
      if (first) first.focus();
    });
  });

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  sync();
})();
