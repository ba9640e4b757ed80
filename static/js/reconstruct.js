// The /reconstruct page: a canvas to draw a digit on (mouse, touch and pen, through pointer
// events), undo and clear, and sending the drawing to POST /reconstruct as a PNG.
//
// The server does everything else: it prepares the digit as MNIST's were made, runs the
// models and answers with the HTML this page shows (webapp/routes/reconstruct.py). htmx
// posts the form; this file adds the drawing to it as the `image` file.
(function () {
  "use strict";

  const _ = window.convlens.gettext;
  const form = document.getElementById("reconstruct-form");
  if (!form) return;
  const canvas = document.getElementById("canvas");
  const pen = canvas.getContext("2d");
  const placeholder = document.getElementById("canvas-placeholder");
  const undoButton = document.getElementById("undo");
  const clearButton = document.getElementById("clear");
  const brush = document.getElementById("brush");
  const brushPreview = document.getElementById("brush-size");
  const live = document.getElementById("live");
  const noise = document.getElementById("noise");
  const noiseValue = document.getElementById("noise-value");
  const seed = document.getElementById("seed");
  const result = document.getElementById("reconstruction");

  // Only these fields go to the API: its options forbid any other (such as `ink`).
  const SENT_FIELDS = ["image", "model", "noise", "seed", "layers"];
  const LIVE_DELAY_MS = 300; // after the pen lifts, so a digit of three strokes is one request
  const DIGIT_SIZE = 28;

  // --- The drawing is a list of actions ---------------------------------------------------
  // Strokes are kept as points, not pixels: undo repaints the list without its last action,
  // and the colours can change at any time. A "digit" is a test digit from the figure (28x28
  // ink values, 0..255); a "clear" hides everything before it, so it can be undone too.
  const actions = [];
  let stroke = null; // the stroke under the pen, until it lifts
  let version = 0; // counts changes, to tell whether the result shown is for this drawing
  let shownVersion = null;
  let liveTimer = null;

  function onCanvas() {
    let start = 0;
    actions.forEach(function (action, index) {
      if (action.kind === "clear") start = index + 1;
    });
    return actions.slice(start);
  }

  function hasInk() {
    return onCanvas().length > 0;
  }

  // White ink on black paper, as MNIST stores digits, or black on white, as people write.
  function colours() {
    const light = form.querySelector("input[name='ink']:checked").value === "light";
    return light ? { paper: 0, ink: 255 } : { paper: 255, ink: 0 };
  }

  function grey(level) {
    return "rgb(" + level + "," + level + "," + level + ")";
  }

  // One straight piece of a stroke. Strokes are painted piece by piece both while drawing and
  // when repainting, so that an undo gives back exactly the pixels there were.
  function segment(from, to, width, ink) {
    pen.strokeStyle = grey(ink);
    pen.lineWidth = width;
    pen.lineCap = "round";
    pen.beginPath();
    pen.moveTo(from[0], from[1]);
    pen.lineTo(to[0], to[1]);
    pen.stroke();
  }

  function paintStroke(action, ink) {
    const points = action.points;
    segment(points[0], points[0], action.width, ink); // a dot, for a single tap
    for (let index = 1; index < points.length; index += 1) {
      segment(points[index - 1], points[index], action.width, ink);
    }
  }

  // A test digit fills the canvas, scaled up smoothly from 28x28 (MNIST digits sit in the
  // middle 20x20, so it looks drawn at a natural size).
  function paintDigit(values, paper, ink) {
    const small = document.createElement("canvas");
    small.width = small.height = DIGIT_SIZE;
    const smallPen = small.getContext("2d");
    const pixels = smallPen.createImageData(DIGIT_SIZE, DIGIT_SIZE);
    values.forEach(function (value, index) {
      const level = Math.round(paper + (ink - paper) * value / 255);
      pixels.data.set([level, level, level, 255], index * 4);
    });
    smallPen.putImageData(pixels, 0, 0);
    pen.imageSmoothingEnabled = true;
    pen.imageSmoothingQuality = "high";
    pen.drawImage(small, 0, 0, canvas.width, canvas.height);
  }

  function repaint() {
    const { paper, ink } = colours();
    pen.fillStyle = grey(paper);
    pen.fillRect(0, 0, canvas.width, canvas.height);
    onCanvas().forEach(function (action) {
      if (action.kind === "digit") paintDigit(action.values, paper, ink);
      else paintStroke(action, ink);
    });
  }

  // After every change: repaint, update the buttons, and (live) rebuild after a pause.
  function changed(sendNow) {
    version += 1;
    canvas.dataset.version = String(version); // the result says which version it shows
    repaint();
    const ink = hasInk();
    placeholder.hidden = ink;
    undoButton.disabled = actions.length === 0;
    clearButton.disabled = !ink;
    markStale();
    clearTimeout(liveTimer);
    if (sendNow) send();
    else if (live.checked && ink) liveTimer = setTimeout(send, LIVE_DELAY_MS);
  }

  function markStale() {
    const stale = shownVersion !== null && shownVersion !== version;
    result.classList.toggle("is-stale", stale && (!live.checked || !hasInk()));
  }

  function undo() {
    if (actions.length === 0) return;
    actions.pop();
    changed(false);
  }

  undoButton.addEventListener("click", undo);
  clearButton.addEventListener("click", function () {
    if (!hasInk()) return;
    actions.push({ kind: "clear" });
    changed(false);
    canvas.focus();
  });

  // --- Pointer events: one code path for mouse, touch and pen ------------------------------
  // The canvas has 560x560 pixels whatever its size on screen; points are mapped to them.
  function point(event) {
    const box = canvas.getBoundingClientRect();
    return [
      (event.clientX - box.left) * canvas.width / box.width,
      (event.clientY - box.top) * canvas.height / box.height,
    ];
  }

  canvas.addEventListener("pointerdown", function (event) {
    // One stroke at a time (a second finger is ignored); only the main mouse button draws.
    if (stroke || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    canvas.focus({ preventScroll: true }); // so that Enter and Ctrl+Z work right after
    canvas.setPointerCapture(event.pointerId);
    stroke = { kind: "stroke", width: Number(brush.value), points: [point(event)],
               pointer: event.pointerId };
    segment(stroke.points[0], stroke.points[0], stroke.width, colours().ink);
    placeholder.hidden = true;
  });

  canvas.addEventListener("pointermove", function (event) {
    if (!stroke || event.pointerId !== stroke.pointer) return;
    // Browsers deliver one move per frame; the coalesced ones in between make smooth curves.
    const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    const ink = colours().ink;
    (moves.length ? moves : [event]).forEach(function (move) {
      const last = stroke.points[stroke.points.length - 1];
      const next = point(move);
      stroke.points.push(next);
      segment(last, next, stroke.width, ink);
    });
  });

  function liftPen(event) {
    if (!stroke || event.pointerId !== stroke.pointer) return;
    actions.push({ kind: "stroke", width: stroke.width, points: stroke.points });
    stroke = null;
    changed(false);
  }
  canvas.addEventListener("pointerup", liftPen);
  canvas.addEventListener("pointercancel", liftPen);

  // --- Keyboard: Enter rebuilds, Ctrl+Z (Cmd+Z) undoes -------------------------------------
  canvas.addEventListener("keydown", function (event) {
    if (event.key === "Enter") {
      event.preventDefault();
      send();
    }
  });
  document.addEventListener("keydown", function (event) {
    const typing = event.target.matches &&
      event.target.matches("input:not([type='range']):not([type='radio']):not([type='checkbox']), textarea, select");
    if ((event.ctrlKey || event.metaKey) && !event.shiftKey && event.key.toLowerCase() === "z" &&
        !typing) {
      event.preventDefault();
      undo();
    }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    send();
  });

  // --- Sending: the canvas as a PNG, through htmx -------------------------------------------
  // toBlob is asynchronous and htmx builds its request synchronously, so the PNG is made
  // first and htmx is then asked to send (the form's hx-trigger is "reconstruct").
  let pending = null; // {blob, version}: the drawing the next request carries
  let inFlight = null;

  function send() {
    clearTimeout(liveTimer);
    const drawn = version;
    canvas.toBlob(function (blob) {
      pending = { blob: blob, version: drawn };
      htmx.trigger(form, "reconstruct");
    }, "image/png");
  }

  form.addEventListener("htmx:configRequest", function (event) {
    const data = event.detail.formData;
    Array.from(data.keys()).forEach(function (name) {
      if (!SENT_FIELDS.includes(name)) data.delete(name);
    });
    if (pending) data.set("image", new File([pending.blob], "drawing.png", { type: "image/png" }));
    inFlight = pending;
  });

  // The answer is in: show the drawing it was made from beside it.
  let drawingUrl = null;
  // On the document, so that this runs after convlens.js has un-dimmed the result.
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt !== form || !event.detail.successful || !inFlight) return;
    shownVersion = inFlight.version;
    result.dataset.version = String(shownVersion);
    markStale();
    const slot = document.getElementById("drawing-slot");
    if (!slot) return;
    if (drawingUrl) URL.revokeObjectURL(drawingUrl);
    drawingUrl = URL.createObjectURL(inFlight.blob);
    const image = new Image(112, 112);
    image.id = "sent-drawing";
    image.className = "drawing";
    image.alt = _("Your drawing, as it was sent");
    image.src = drawingUrl;
    slot.replaceChildren(image);
  });

  // --- Controls ------------------------------------------------------------------------------
  live.addEventListener("change", function () {
    if (live.checked && hasInk() && shownVersion !== version) send();
    markStale();
  });

  form.querySelectorAll("input[name='ink']").forEach(function (radio) {
    // The same digit in other colours: the server finds the ink either way, no need to ask.
    radio.addEventListener("change", repaint);
  });

  function showBrush() {
    // The preview is the brush's true size on screen.
    const size = Number(brush.value) * canvas.getBoundingClientRect().width / canvas.width;
    brushPreview.style.width = brushPreview.style.height = Math.max(2, size) + "px";
    brushPreview.setAttribute("aria-label", _("%(size)s of 560 pixels", { size: brush.value }));
  }
  brush.addEventListener("input", showBrush);
  window.addEventListener("resize", showBrush);
  showBrush();

  function showNoise() {
    noiseValue.textContent = Number(noise.value).toFixed(2);
  }
  noise.addEventListener("input", showNoise);
  noise.addEventListener("change", function () {
    // Arrow keys change the slider a step at a time: rebuild once they pause.
    clearTimeout(liveTimer);
    if (hasInk()) liveTimer = setTimeout(send, 150);
  });
  showNoise();

  document.getElementById("new-noise").addEventListener("click", function () {
    seed.value = String(Math.floor(Math.random() * 2147483647));
    if (hasInk()) send();
  });

  // A model picked: rebuild with it, and redraw the lesson's figure with it.
  function pickModel(name) {
    const url = new URL(window.location.href);
    url.searchParams.set("model", name);
    history.replaceState(history.state, "", url.pathname + url.search);
    // With nothing drawn, the layer table comes with the figure; else with the rebuild.
    const ink = hasInk();
    htmx.ajax("GET", "/reconstruct?model=" + encodeURIComponent(name) + (ink ? "" : "&inside"),
              { target: "#sample-figure", swap: "outerHTML" });
    if (ink) send();
  }
  form.querySelectorAll("input[name='model']").forEach(function (radio) {
    radio.addEventListener("change", function () {
      if (radio.checked) pickModel(radio.value);
    });
  });

  // --- The result: pick a model from the comparison, read the code's numbers ---------------
  result.addEventListener("click", function (event) {
    const button = event.target.closest("[data-pick-model]");
    if (!button) return;
    const radio = form.querySelector("input[name='model'][value='" +
                                     CSS.escape(button.dataset.pickModel) + "']");
    if (radio && !radio.checked) {
      radio.checked = true;
      pickModel(radio.value);
    }
  });

  function readCode(event) {
    const cell = event.target.closest && event.target.closest("rect[data-value]");
    const readout = document.getElementById("code-readout");
    if (!cell || !readout) return;
    result.querySelectorAll(".code-map rect.read").forEach(function (other) {
      other.classList.remove("read");
    });
    cell.classList.add("read");
    readout.textContent = _("Map %(map)s, row %(row)s, column %(column)s: %(value)s", {
      map: cell.dataset.map, row: cell.dataset.row, column: cell.dataset.column,
      value: cell.dataset.value,
    });
  }
  result.addEventListener("pointerover", readCode);
  result.addEventListener("click", readCode);

  // --- The lesson's figure: a test digit into the canvas -----------------------------------
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest(".sample-digit");
    if (!button) return;
    const image = button.querySelector("img");
    const small = document.createElement("canvas");
    small.width = small.height = DIGIT_SIZE;
    const smallPen = small.getContext("2d");
    smallPen.drawImage(image, 0, 0, DIGIT_SIZE, DIGIT_SIZE);
    const rgba = smallPen.getImageData(0, 0, DIGIT_SIZE, DIGIT_SIZE).data;
    const values = [];
    for (let index = 0; index < rgba.length; index += 4) values.push(rgba[index]);
    actions.push({ kind: "digit", values: values });
    changed(true);
    const box = canvas.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) {
      const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      canvas.scrollIntoView({ block: "center", behavior: smooth ? "smooth" : "auto" });
    }
  });

  repaint();
})();
