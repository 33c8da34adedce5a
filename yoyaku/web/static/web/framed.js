// A booking page shown in an iframe tells the page around it how tall it is, so embed.js there
// can size the iframe to fit (no inner scrollbar). The height goes only to an origin the
// workspace allows (the same list the server puts in CSP frame-ancestors); elsewhere nothing is sent.
(function () {
  "use strict";
  if (window.parent === window) return;
  var config = JSON.parse(document.getElementById("booking-config").textContent);
  var allowed = config.embedOrigins || [];
  var parent = "";
  if (window.location.ancestorOrigins && window.location.ancestorOrigins.length) {
    parent = window.location.ancestorOrigins[0];
  } else if (document.referrer) {
    try { parent = new URL(document.referrer).origin; } catch (e) { parent = ""; }
  }
  if (allowed.indexOf(parent) < 0) return;
  document.documentElement.classList.add("framed");
  var last = 0;
  function send() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height === last) return;
    last = height;
    window.parent.postMessage({ type: "yoyaku:height", height: height }, parent);
  }
  if (window.ResizeObserver) new ResizeObserver(send).observe(document.documentElement);
  window.addEventListener("load", send);
  send();
})();
