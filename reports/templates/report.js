/* hostmedic HTML report: copy buttons, and every fold open on paper. No network, no data. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function fallbackCopy(text) {
    // Browsers without the async clipboard API (or that refuse it on file://).
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.top = "-1000px";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  function show(button, ok, code) {
    button.textContent = ok ? "Copied" : "Select";
    button.classList.toggle("done", ok);
    button.classList.toggle("failed", !ok);
    if (!ok) {  // let the reader copy by hand: select the command
      var range = document.createRange();
      range.selectNodeContents(code);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
    window.setTimeout(function () {
      button.textContent = "Copy";
      button.classList.remove("done", "failed");
    }, 2000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy") : null;
    if (!button) { return; }
    var code = button.parentNode.querySelector("code");
    var text = code.textContent;
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(
        function () { show(button, true, code); },
        function () { show(button, fallbackCopy(text), code); });
    } else {
      show(button, fallbackCopy(text), code);
    }
  });

  var closed = [];
  window.addEventListener("beforeprint", function () {
    closed = Array.prototype.filter.call(document.querySelectorAll("details"), function (d) { return !d.open; });
    closed.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    closed.forEach(function (d) { d.open = false; });
    closed = [];
  });
})();
