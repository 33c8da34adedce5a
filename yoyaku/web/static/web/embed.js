// Put on a website next to a Yoyaku iframe (the page editor gives the snippet). It sizes each
// <iframe data-yoyaku-embed> to the height its booking page reports. Messages are taken only from
// the Yoyaku server this script came from, and only from one of its iframes.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var yoyaku = new URL(script.src).origin;
  window.addEventListener("message", function (event) {
    if (event.origin !== yoyaku) return;
    var data = event.data;
    if (!data || data.type !== "yoyaku:height") return;
    var height = Math.ceil(Number(data.height));
    if (!(height > 0 && height < 20000)) return;
    var frames = document.querySelectorAll("iframe[data-yoyaku-embed]");
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === event.source) {
        frames[i].style.height = height + "px";
        frames[i].style.minHeight = "0";
      }
    }
  });
})();
