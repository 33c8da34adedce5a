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
