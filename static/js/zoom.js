// Zoom and pan on /convolve: both pictures zoom alike and show the same part (the same
// fractions of each picture), with square pixels (image-rendering: pixelated). Each picture
// sits in a .viewport that clips it; its .frame is scaled and moved with a CSS transform,
// so the overlays inside it follow, and picking a pixel (convolve.js reads the picture's
// on-screen box) works at any zoom. The buttons, Ctrl + wheel (a trackpad pinch), two
// fingers, and + / - / 0 on the focused output zoom; a drag (mouse or finger) pans.
(function () {
  "use strict";

  const _ = window.convlens.gettext;
  const result = document.getElementById("result");
  if (!result) return;
  const LEVELS = [1, 2, 4, 8, 16, 32, 64];
  const view = { zoom: 1, x: 0.5, y: 0.5 };  // x, y: the fraction of each picture in the middle

  function frames() { return result.querySelectorAll(".pair .viewport > .frame"); }

  function clamp(value, low, high) { return Math.max(low, Math.min(high, value)); }

  // The real scale on screen: screen pixels per pixel of the input picture.
  function describeScale() {
    const note = result.querySelector(".scale-note");
    const input = document.getElementById("input-image");
    if (!note || !input || !input.complete) return;
    const shown = input.getBoundingClientRect().width / Number(input.dataset.columns || 1);
    if (!shown) return;
    const percent = shown * 100;
    note.textContent = shown >= 2
      ? _("Each pixel is shown %(size)s × %(size)s screen pixels.", { size: Math.round(shown * 10) / 10 })
      : _("Shown at %(percent)s%% of the pictures' pixels.",
        { percent: percent < 10 ? percent.toFixed(1) : Math.round(percent) });
    note.dataset.scale = shown.toFixed(4);
  }

  function apply(announce) {
    const pair = result.querySelector(".pair");
    if (!pair) return;
    const zoom = view.zoom;
    // Keep the middle point where the picture still fills its viewport.
    const half = 0.5 / zoom;
    view.x = clamp(view.x, half, 1 - half);
    view.y = clamp(view.y, half, 1 - half);
    frames().forEach(function (frame) {
      const width = frame.offsetWidth, height = frame.offsetHeight;
      const left = width / 2 - view.x * width * zoom;
      const top = height / 2 - view.y * height * zoom;
      frame.style.transform = zoom === 1 ? "" : "translate(" + left + "px, " + top + "px) scale(" + zoom + ")";
    });
    pair.classList.toggle("zoomed", zoom > 1);
    const level = result.querySelector(".zoom-level");
    if (level) level.textContent = zoom + "×";
    const out = result.querySelector("[data-zoom='out']");
    const into = result.querySelector("[data-zoom='in']");
    if (out) out.disabled = zoom <= LEVELS[0];
    if (into) into.disabled = zoom >= LEVELS[LEVELS.length - 1];
    describeScale();
    if (announce !== false) {
      document.dispatchEvent(new CustomEvent("convlens:zoomed", { detail: Object.assign({}, view) }));
    }
  }

  // Zoom to `zoom`, keeping the point at fractions (atX, atY) of the picture where it is.
  function zoomTo(zoom, atX, atY) {
    zoom = clamp(zoom, LEVELS[0], LEVELS[LEVELS.length - 1]);
    if (atX === undefined) { atX = view.x; atY = view.y; }
    const ratio = view.zoom / zoom;
    view.x = atX + (view.x - atX) * ratio;
    view.y = atY + (view.y - atY) * ratio;
    view.zoom = zoom;
    apply();
  }

  function step(direction) {
    const index = LEVELS.indexOf(view.zoom);
    const next = index === -1
      ? LEVELS.find(function (level) { return direction > 0 ? level > view.zoom : level >= view.zoom; })
      : LEVELS[clamp(index + direction, 0, LEVELS.length - 1)];
    zoomTo(direction < 0 && index === -1 ? LEVELS[Math.max(0, LEVELS.indexOf(next) - 1)] : next);
  }

  // The fraction of the picture under a point of the screen.
  function fractionAt(frame, clientX, clientY) {
    const box = frame.getBoundingClientRect();
    return { x: (clientX - box.left) / box.width, y: (clientY - box.top) / box.height };
  }

  result.addEventListener("click", function (event) {
    const button = event.target.closest("[data-zoom]");
    if (!button) return;
    const action = button.dataset.zoom;
    if (action === "in") step(1);
    else if (action === "out") step(-1);
    else { view.x = view.y = 0.5; zoomTo(1); }
  });

  result.addEventListener("wheel", function (event) {
    const frame = event.target.closest(".viewport > .frame");
    if (!frame || !(event.ctrlKey || event.metaKey)) return;
    event.preventDefault();
    const at = fractionAt(frame, event.clientX, event.clientY);
    zoomTo(view.zoom * Math.pow(2, -event.deltaY / 200), at.x, at.y);
  }, { passive: false });

  // Panning: a drag moves the view; a drag that moved is not a click (no pixel is picked).
  const pointers = new Map();
  let dragged = false;

  result.addEventListener("pointerdown", function (event) {
    const frame = event.target.closest(".viewport > .frame");
    if (!frame || event.button > 0) return;
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY, frame: frame });
    dragged = false;
  });

  result.addEventListener("pointermove", function (event) {
    const last = pointers.get(event.pointerId);
    if (!last) return;
    const dx = event.clientX - last.x, dy = event.clientY - last.y;
    if (pointers.size === 2) {
      const [a, b] = Array.from(pointers.values());
      const other = a === last ? b : a;
      const distance = Math.hypot(event.clientX - other.x, event.clientY - other.y);
      const before = Math.hypot(last.x - other.x, last.y - other.y);
      if (before > 0) {
        const at = fractionAt(last.frame, (event.clientX + other.x) / 2, (event.clientY + other.y) / 2);
        zoomTo(view.zoom * distance / before, at.x, at.y);
      }
      dragged = true;
    } else if (view.zoom > 1 && (dragged || Math.hypot(dx, dy) > 4)) {
      const width = last.frame.offsetWidth * view.zoom, height = last.frame.offsetHeight * view.zoom;
      view.x -= dx / width;
      view.y -= dy / height;
      dragged = true;
      apply();
    } else {
      return;  // a small move: still a click
    }
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY, frame: last.frame });
  });

  function release(event) { pointers.delete(event.pointerId); }
  result.addEventListener("pointerup", release);
  result.addEventListener("pointercancel", release);

  // Runs before convolve.js's click handler (capture): a drag picks no pixel.
  result.addEventListener("click", function (event) {
    if (dragged && event.target.closest(".viewport")) {
      event.stopPropagation();
      dragged = false;
    }
  }, true);

  // Keys on the focused output: + and - zoom around the chosen pixel; arrows (convolve.js)
  // move the chosen pixel, and the view follows it when it leaves the picture's viewport.
  result.addEventListener("keydown", function (event) {
    if (!event.target.matches("#output-frame")) return;
    if (event.key === "+" || event.key === "=") { event.preventDefault(); step(1); }
    else if (event.key === "-" || event.key === "_") { event.preventDefault(); step(-1); }
    else if (event.key === "0") { event.preventDefault(); zoomTo(1); }
    else if (event.key.indexOf("Arrow") === 0) follow();
  });

  function follow() {
    const box = result.querySelector(".cell-box");
    const viewport = result.querySelector("#output-frame");
    if (!box || box.hidden || view.zoom === 1 || !viewport) return;
    const cell = box.getBoundingClientRect();
    const shown = viewport.parentNode.getBoundingClientRect();
    if (cell.left >= shown.left && cell.right <= shown.right &&
        cell.top >= shown.top && cell.bottom <= shown.bottom) return;
    view.x = (parseFloat(box.style.left) + parseFloat(box.style.width) / 2) / 100;
    view.y = (parseFloat(box.style.top) + parseFloat(box.style.height) / 2) / 100;
    apply();
  }

  // A link's zoom (share.js), and the same view on each new result.
  document.addEventListener("convlens:zoom", function (event) {
    const asked = event.detail;
    if (!(asked.zoom >= 1)) return;
    view.x = Number.isFinite(asked.x) ? asked.x : 0.5;
    view.y = Number.isFinite(asked.y) ? asked.y : 0.5;
    view.zoom = clamp(asked.zoom, LEVELS[0], LEVELS[LEVELS.length - 1]);
    apply(false);
  });
  // htmx carries the old frames' attributes over to the new ones of the same id while it
  // settles, and writing a style attribute is what the Content-Security-Policy forbids: the
  // old frames drop theirs first (the new ones get the view right after).
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target === result) {
      frames().forEach(function (frame) { frame.removeAttribute("style"); });
    }
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.target === result) apply(false);
  });
  document.body.addEventListener("htmx:afterRequest", function () { apply(false); });
  result.addEventListener("load", function () { apply(false); }, true);
  window.addEventListener("resize", function () { apply(false); });
  apply(false);
})();
