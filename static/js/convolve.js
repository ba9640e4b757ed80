// The /convolve page: the photo picker, the kernel matrix editor, and choosing an output
// pixel to explain. The server does every sum (POST /convolve, POST /convolve/explain);
// this file only edits the form and places highlight boxes over the pictures.
(function () {
  "use strict";

  const _ = window.convlens.gettext;
  const form = document.getElementById("convolve-form");
  if (!form) return;
  const explainForm = document.getElementById("explain-form");
  const result = document.getElementById("result");
  const maxKernel = Number(form.dataset.maxKernel) || 31;

  // htmx re-renders when the form says "change"; edits made here say it themselves.
  function changed() {
    form.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // --- The photo: a sample or an upload, never both --------------------------------------
  const fileInput = form.querySelector("#image");
  const samples = form.querySelectorAll("input[name='sample']");
  fileInput.addEventListener("change", function () {
    if (fileInput.files.length) samples.forEach(function (radio) { radio.checked = false; });
  });
  samples.forEach(function (radio) {
    radio.addEventListener("change", function () {
      if (radio.checked) fileInput.value = "";
    });
  });

  // --- Sending a photo once ---------------------------------------------------------------
  // The first request with an uploaded photo sends its bytes; the answer names the photo's
  // key (data-photo-key on the input picture), and later requests send the key instead
  // (webapp/server/photocache.py). A server that no longer has the photo answers 410: the
  // photo goes again by itself, and the learner sees only the result.
  const photoKey = form.querySelector("#photo-key");
  const workingSize = form.querySelector("#max_side");
  let kept = null; // {file, key, side}: the upload the server holds, at which working size
  let pictureRetries = 0;

  function chosenFile() {
    return fileInput.files.length ? fileInput.files[0] : null;
  }

  function sampleChosen() {
    return Array.prototype.some.call(samples, function (radio) { return radio.checked; });
  }

  function sendPhotoAgain() {
    kept = null;
    photoKey.value = "";
    form.requestSubmit();
  }

  document.body.addEventListener("htmx:configRequest", function (event) {
    const source = event.detail.elt;
    if (source !== form && source !== explainForm) return;
    const data = event.detail.formData;
    const file = chosenFile();
    if (file && kept && kept.file === file && kept.side === workingSize.value) {
      data.set("image", new File([], "", { type: "application/octet-stream" }));
      data.set("photo_key", kept.key);
    } else if (file || sampleChosen()) {
      data.delete("photo_key"); // a new upload, or a sample: no earlier photo
    }
  });

  // A number typed in says "input" as you type and "change" when you leave the field: the
  // same form twice. The second would redraw what is already shown (and race a click on the
  // output made meanwhile), so an automatic request for the very form last sent is dropped;
  // a submit, and the photo sent again after a 410, always go.
  let lastSent = null;

  // The form as the learner set it: the photo by its file (or none), not by the key the
  // server gave it, which only says how the same photo travels.
  function formState() {
    const parts = [];
    new FormData(form).forEach(function (value, name) {
      if (name === "photo_key") return;
      parts.push([name, typeof value === "string" ? value
        : value.size ? [value.name, value.size, value.lastModified].join(":") : ""]);
    });
    return JSON.stringify(parts);
  }

  document.body.addEventListener("htmx:confirm", function (event) {
    if (event.detail.elt !== form) return;
    const state = formState();
    const trigger = event.detail.triggeringEvent;
    if (trigger && trigger.type !== "submit" && state === lastSent) {
      event.preventDefault();
      return;
    }
    lastSent = state;
  });

  document.body.addEventListener("htmx:afterRequest", function (event) {
    const request = event.detail.requestConfig;
    if (request && request.elt === form && !event.detail.successful) lastSent = null;
    if (!request || request.elt !== form || !event.detail.successful) return;
    const picture = document.getElementById("input-image");
    const key = picture ? picture.dataset.photoKey || "" : "";
    const sent = request.formData.get("image");
    if (sent instanceof File && sent.size > 0) {
      // Kept only if the server said so (a photo over its whole budget is not).
      kept = key ? { file: sent, key: key, side: String(request.formData.get("max_side")) } : null;
    }
    photoKey.value = sampleChosen() ? "" : key;
  });

  document.body.addEventListener("htmx:beforeSwap", function (event) {
    const request = event.detail.requestConfig;
    if (!request || event.detail.xhr.status !== 410) return;
    if (request.elt !== form && request.elt !== explainForm) return;
    // Gone from the server: send the photo again, unless there is none to send (a link
    // naming a key), when the problem shows and says so.
    if (!request.formData.get("photo_key") || !chosenFile()) return;
    event.detail.shouldSwap = false;
    sendPhotoAgain();
  });

  // The input picture is fetched by its key; a server without the photo (another replica,
  // a restart) cannot draw it: send the photo again, once.
  result.addEventListener("load", function (event) {
    if (event.target.id === "input-image") pictureRetries = 0;
  }, true);
  result.addEventListener("error", function (event) {
    if (event.target.id !== "input-image" || !chosenFile() || pictureRetries > 0) return;
    pictureRetries += 1;
    sendPhotoAgain();
  }, true);

  // --- Padding: a name (valid, same, full) or a number of cells ---------------------------
  // Both controls are named "padding"; the server takes the last non-empty one, so a number
  // wins. Keep them consistent so that what is shown is what is sent.
  const paddingName = form.querySelector("#padding");
  const paddingCells = form.querySelector("#padding-cells");
  paddingCells.addEventListener("input", function () {
    if (paddingCells.value !== "") paddingName.value = "";
  });
  paddingName.addEventListener("change", function () {
    if (paddingName.value !== "") paddingCells.value = "";
    else if (paddingCells.value === "") paddingCells.value = "1";
  });

  // --- Pooling usually moves by its own size ---------------------------------------------
  const stride = form.querySelector("#stride");
  const poolSize = form.querySelector("#pool_size");
  form.querySelectorAll("input[name='operation']").forEach(function (radio) {
    radio.addEventListener("change", function () {
      if (radio.checked && radio.value !== "convolve" && stride.value === "1") {
        stride.value = poolSize.value;
      }
    });
  });

  // --- The kernel matrix ------------------------------------------------------------------
  // `grid` holds the numbers as typed. What is sent is `weights` (JSON): empty while a preset
  // is chosen unchanged, else the grid (divided by its sum when "Normalise" is ticked).
  const preset = form.querySelector("#kernel");
  const weights = form.querySelector("#weights");
  const matrix = form.querySelector("#matrix tbody");
  const sizeLabel = form.querySelector("#matrix-size");
  const normalise = form.querySelector("#normalise");
  const description = form.querySelector("#kernel-description");
  let grid = [];

  function rowsOf(value) {
    if (!Array.isArray(value) || value.length === 0) return null;
    const rows = Array.isArray(value[0]) ? value : [value];
    const width = rows[0].length;
    const ok = rows.every(function (row) {
      return Array.isArray(row) && row.length === width && row.every(Number.isFinite);
    });
    return ok && width > 0 ? rows.map(function (row) { return row.slice(); }) : null;
  }

  function parseWeights(text) {
    try { return rowsOf(JSON.parse(text)); } catch (error) { return null; }
  }

  function presetRows() {
    const option = preset.selectedOptions[0];
    return option && option.dataset.weights ? parseWeights(option.dataset.weights) : null;
  }

  // A weight as a cell shows it: whole numbers as they are, simple fractions as fractions
  // (1/9 fits a narrow cell where 0.1111 does not), the rest to four digits.
  function shown(value) {
    if (Number.isInteger(value)) return String(value);
    for (let denominator = 2; denominator <= 64; denominator += 1) {
      const numerator = Math.round(value * denominator);
      if (Math.abs(value * denominator - numerator) < 1e-9) return numerator + "/" + denominator;
    }
    return String(Number(value.toPrecision(4)));
  }

  // What a cell holds: a number or a fraction ("1/9"); NaN for anything else.
  function cellValue(text) {
    const fraction = /^\s*([-+]?\d*\.?\d+)\s*\/\s*(\d*\.?\d+)\s*$/.exec(text);
    if (fraction) return Number(fraction[2]) === 0 ? NaN : Number(fraction[1]) / Number(fraction[2]);
    return text.trim() === "" ? NaN : Number(text);
  }

  function total(rows) {
    return rows.flat().reduce(function (sum, value) { return sum + value; }, 0);
  }

  function sent(rows) {
    const sum = total(rows);
    if (!normalise.checked || Math.abs(sum) < 1e-12) return rows;
    return rows.map(function (row) { return row.map(function (value) { return value / sum; }); });
  }

  function describe() {
    const option = preset.selectedOptions[0];
    const sum = total(grid);
    const rounded = Number(sum.toPrecision(6));
    const sumText = Math.abs(sum) < 1e-9
      ? _("Its weights sum to %(sum)s: an edge detector, zero on flat areas.", { sum: rounded })
      : _("Its weights sum to %(sum)s.", { sum: rounded });
    description.textContent = (option && option.value
      ? option.dataset.description : _("Your own kernel.")) + " " + sumText;
    normalise.disabled = Math.abs(sum) < 1e-9;
  }

  function drawMatrix() {
    matrix.replaceChildren();
    grid.forEach(function (row, r) {
      const tableRow = document.createElement("tr");
      row.forEach(function (value, c) {
        const cell = document.createElement("td");
        const input = document.createElement("input");
        // Text, not type=number: what was typed stays visible, so "abc" can be named as not a
        // number (checks.js) instead of silently reading as empty. Weights show as `shown`
        // writes them (the full value is sent unless the cell is edited).
        input.type = "text";
        input.inputMode = "decimal";
        input.autocomplete = "off";
        input.spellcheck = false;
        input.value = shown(value);
        if (Number(input.value) !== value) input.title = String(value);
        input.dataset.row = String(r);
        input.dataset.column = String(c);
        input.setAttribute("aria-label", _("Weight in row %(row)s, column %(column)s",
          { row: r + 1, column: c + 1 }));
        cell.append(input);
        tableRow.append(cell);
      });
      matrix.append(tableRow);
    });
    const height = grid.length, width = grid[0].length;
    // Wide kernels get narrow cells, as wide as their longest value (every value readable).
    const longest = Math.max.apply(null, grid.flat().map(function (value) { return shown(value).length; }));
    matrix.parentNode.classList.toggle("compact", width > 5);
    matrix.parentNode.style.setProperty("--cell-chars", String(Math.max(3, longest)));
    sizeLabel.textContent = height + " × " + width;
    form.querySelector("[data-matrix='add-row']").disabled = height >= maxKernel;
    form.querySelector("[data-matrix='add-column']").disabled = width >= maxKernel;
    form.querySelector("[data-matrix='remove-row']").disabled = height <= 1;
    form.querySelector("[data-matrix='remove-column']").disabled = width <= 1;
    describe();
  }

  // The grid is now the learner's own kernel: send it, and say so in the preset list.
  function useGrid() {
    preset.value = "";
    weights.value = JSON.stringify(sent(grid));
    describe();
  }

  matrix.addEventListener("input", function (event) {
    const input = event.target;
    // An empty or non-number cell is not 0: checks.js says so and holds the request back.
    const value = cellValue(input.value);
    if (!Number.isFinite(value)) return;
    grid[Number(input.dataset.row)][Number(input.dataset.column)] = value;
    useGrid();
  });

  preset.addEventListener("change", function () {
    const rows = presetRows();
    if (rows) {
      grid = rows;
      normalise.checked = false;
      weights.value = "";
      weights.placeholder = JSON.stringify(rows);
      drawMatrix();
    } else {
      useGrid();
    }
  });

  normalise.addEventListener("change", useGrid);

  weights.addEventListener("input", function () {
    const rows = parseWeights(weights.value);
    if (rows) {
      grid = rows;
      preset.value = "";
      drawMatrix();
    }
  });

  form.querySelector(".matrix-tools").addEventListener("click", function (event) {
    const button = event.target.closest("[data-matrix]");
    if (!button) return;
    const action = button.dataset.matrix;
    if (action === "add-row") grid.push(grid[0].map(function () { return 0; }));
    if (action === "remove-row" && grid.length > 1) grid.pop();
    if (action === "add-column") grid.forEach(function (row) { row.push(0); });
    if (action === "remove-column" && grid[0].length > 1) grid.forEach(function (row) { row.pop(); });
    drawMatrix();
    useGrid();
    changed();
  });

  grid = parseWeights(weights.value) || presetRows() || [[0, 0, 0], [0, 1, 0], [0, 0, 0]];
  drawMatrix();

  // --- Choosing an output pixel -----------------------------------------------------------
  // `chosen` is the pixel the learner wants explained (by click, tap or arrow keys). It
  // survives re-renders: move a slider and its explanation follows.
  let chosen = null;

  function outputImage() { return document.getElementById("output-image"); }

  function outputSize() {
    const image = outputImage();
    return image
      ? { rows: Number(image.dataset.rows), columns: Number(image.dataset.columns),
          channels: Number(image.dataset.channels), color: image.dataset.color }
      : null;
  }

  function clampCell(cell, size) {
    return {
      row: Math.max(0, Math.min(size.rows - 1, cell.row)),
      column: Math.max(0, Math.min(size.columns - 1, cell.column)),
    };
  }

  // Place an overlay over a picture, in percentages of it, so it follows any scaling.
  function place(box, top, left, height, width, rows, columns) {
    box.style.top = (100 * top / rows) + "%";
    box.style.left = (100 * left / columns) + "%";
    box.style.height = (100 * height / rows) + "%";
    box.style.width = (100 * width / columns) + "%";
    box.hidden = false;
  }

  function markCell(cell) {
    const size = outputSize();
    const box = result.querySelector(".cell-box");
    if (!size || !box) return;
    place(box, cell.row, cell.column, 1, 1, size.rows, size.columns);
  }

  function markWindow() {
    const explained = document.getElementById("explained");
    const box = result.querySelector(".window-box");
    const input = document.getElementById("input-image");
    if (!explained || !box || !input) return;
    const d = explained.dataset;
    place(box, Number(d.top), Number(d.left), Number(d.height), Number(d.width),
      Number(input.dataset.rows), Number(input.dataset.columns));
  }

  function explain(cell) {
    chosen = cell;
    markCell(cell);
    explainForm.querySelector("#explain-row").value = cell.row;
    explainForm.querySelector("#explain-column").value = cell.column;
    explainForm.requestSubmit();
  }

  // The explain form follows the output: its limits and its channels.
  function fitExplainForm() {
    const size = outputSize();
    if (!size) return;
    explainForm.querySelector("#explain-row").max = size.rows - 1;
    explainForm.querySelector("#explain-column").max = size.columns - 1;
    const channel = explainForm.querySelector("#explain-channel");
    const names = size.channels === 3 ? [_("red"), _("green"), _("blue")] : [_("gray")];
    if (channel.options.length !== names.length) {
      channel.replaceChildren.apply(channel, names.map(function (name, index) {
        return new Option(name, String(index));
      }));
    }
  }

  result.addEventListener("click", function (event) {
    const frame = event.target.closest("#output-frame");
    const size = outputSize();
    if (!frame || !size) return;
    const bounds = outputImage().getBoundingClientRect();
    explain(clampCell({
      row: Math.floor((event.clientY - bounds.top) / bounds.height * size.rows),
      column: Math.floor((event.clientX - bounds.left) / bounds.width * size.columns),
    }, size));
  });

  const moves = {
    ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1],
  };
  let moveTimer = null;
  result.addEventListener("keydown", function (event) {
    if (!event.target.matches("#output-frame")) return;
    const size = outputSize();
    if (!size) return;
    const from = chosen || { row: 0, column: 0 };
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      explain(clampCell(from, size));
      return;
    }
    const move = moves[event.key];
    if (!move) return;
    event.preventDefault();
    const step = event.shiftKey ? 10 : 1;
    chosen = clampCell({ row: from.row + move[0] * step, column: from.column + move[1] * step }, size);
    markCell(chosen);
    // Explain where the arrows stop, not every cell they pass.
    clearTimeout(moveTimer);
    moveTimer = setTimeout(function () { explain(chosen); }, 300);
  });

  // A pixel asked for from elsewhere (share.js, opening a link that names one).
  result.addEventListener("convlens:pick", function (event) {
    const size = outputSize();
    if (size) explain(clampCell(event.detail, size));
  });

  explainForm.querySelector("#explain-channel").addEventListener("change", function () {
    explainForm.requestSubmit();
  });

  // htmx fires afterSwap on each element it swapped: the result, then the numbers out of
  // band (whose detail.target is still the result), so the element swapped is event.target.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.target === result) {
      fitExplainForm();
      if (chosen) {
        // The new pictures come without overlays: the explanation still shown keeps its
        // window outlined until the new one (same cell, kept inside the new output) arrives.
        markWindow();
        explain(clampCell(chosen, outputSize()));
      }
    } else if (event.target.id === "explanation") {
      // The window is drawn once the server has said where it is; the chosen cell is
      // left alone (the arrows may have moved on while this answer was coming).
      if (document.getElementById("explained")) markWindow();
    }
  });

  fitExplainForm();
})();
