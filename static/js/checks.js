// What the browser can check before asking the server: a photo too large or of a kind the
// server does not read, a kernel cell that is not a number, a number field empty or out of
// its range. Each problem shows at once in the field's own slot; while any stands, the form
// sends nothing (so nothing falls back silently on a default) and its result is dimmed as
// no longer matching. The server checks everything again (webapp/server/bodies.py).
(function () {
  "use strict";
  const _ = window.convlens.gettext;

  const messages = new WeakMap();  // control -> the sentence shown for it

  function number(text) {
    return text.trim() === "" ? NaN : Number(text);
  }

  // Another control of the same name holds a value (the padding's name and its cells): then
  // an empty one means "the other one", as the server reads it.
  function sharedAndSet(control) {
    const form = control.form;
    if (!form) return false;
    return Array.prototype.some.call(
      form.querySelectorAll("[name='" + CSS.escape(control.name) + "']"),
      function (other) { return other !== control && other.value.trim() !== ""; });
  }

  function labelOf(control) {
    const label = control.labels && control.labels[0];
    const text = label ? label.childNodes[0].textContent.trim() : control.name;
    return text || control.name;
  }

  function checkNumber(control) {
    const text = control.value;
    const low = control.min === "" ? -Infinity : Number(control.min);
    const high = control.max === "" ? Infinity : Number(control.max);
    // The range, when there is one: "from 1 to 9", else "of at least 1", else none.
    const range = Number.isFinite(low) && Number.isFinite(high) ? "both"
      : Number.isFinite(low) ? "low" : "";
    const values = { label: labelOf(control), low: low, high: high, text: text.trim() };
    if (text.trim() === "") {
      // A placeholder says what empty means ("centre"); a twin control may hold the value.
      if (control.placeholder && !control.required) return "";
      if (control.name && sharedAndSet(control)) return "";
      if (range === "both") {
        return _("%(label)s is empty: type a whole number from %(low)s to %(high)s.", values);
      }
      if (range === "low") return _("%(label)s is empty: type a whole number of at least %(low)s.", values);
      return _("%(label)s is empty: type a whole number.", values);
    }
    const value = number(text);
    if (control.validity.badInput || !Number.isFinite(value)) {
      return _("%(label)s: %(quoted)s is not a number.",
        { label: values.label, quoted: JSON.stringify(text) });
    }
    if (!Number.isInteger(value) || value < low || value > high) {
      if (range === "both") {
        return _("%(label)s must be a whole number from %(low)s to %(high)s, not %(text)s.", values);
      }
      if (range === "low") {
        return _("%(label)s must be a whole number of at least %(low)s, not %(text)s.", values);
      }
      return _("%(label)s must be a whole number, not %(text)s.", values);
    }
    return "";
  }

  function checkCell(control) {
    const where = { row: Number(control.dataset.row) + 1, column: Number(control.dataset.column) + 1 };
    if (control.value.trim() === "") {
      return _("Row %(row)s, column %(column)s is empty: type a number (0 for none).", where);
    }
    // A cell takes a fraction too (convolve.js shows 1/9 so).
    const fraction = /^\s*([-+]?\d*\.?\d+)\s*\/\s*(\d*\.?\d+)\s*$/.exec(control.value);
    if (fraction && Number(fraction[2]) === 0) {
      return _("Row %(row)s, column %(column)s: a fraction cannot divide by 0.", where);
    }
    if (!fraction && !Number.isFinite(number(control.value))) {
      return _("Row %(row)s, column %(column)s: %(quoted)s is not a number.",
        Object.assign({ quoted: JSON.stringify(control.value.trim()) }, where));
    }
    return "";
  }

  function checkWeights(control) {
    if (control.value.trim() === "") return "";
    let rows = null;
    try { rows = JSON.parse(control.value); } catch (error) { rows = null; }
    const flat = Array.isArray(rows) ? rows.flat() : [];
    if (!flat.length || !flat.every(Number.isFinite)) {
      return _("Weights: write a list of rows of numbers, e.g. [[1, 0, -1], [2, 0, -2], [1, 0, -1]].");
    }
    return "";
  }

  function checkFile(control) {
    const file = control.files && control.files[0];
    if (!file) return "";
    const limit = Number(control.dataset.maxBytes);
    if (limit && file.size > limit) {
      return _("%(name)s is %(size)s MiB; the limit is %(limit)s MiB. Choose a smaller photo (or a sample).", {
        name: file.name, size: (file.size / 1048576).toFixed(1),
        limit: (limit / 1048576).toFixed(0),
      });
    }
    const kinds = (control.accept || "").split(",").map(function (kind) { return kind.trim(); });
    if (file.type && kinds[0] && kinds.indexOf(file.type) === -1) {
      return _("%(name)s is %(type)s; choose a PNG, JPEG, WebP, GIF or BMP photo.",
        { name: file.name, type: file.type });
    }
    return "";
  }

  function check(control) {
    if (control.disabled || control.closest("[hidden], template")) return "";
    if (control.matches("#matrix input")) return checkCell(control);
    if (control.matches("textarea[name='weights']")) return checkWeights(control);
    if (control.matches("input[type=file]")) return checkFile(control);
    if (control.matches("input[type=number]")) return checkNumber(control);
    return "";
  }

  // The slot a control's problem goes in: its field's, else the nearest one around it.
  function slotFor(control) {
    const form = control.form || control.closest("form");
    const id = control.closest("#matrix") ? "error-cells" : "error-" + control.name;
    const own = form && form.querySelector("#" + CSS.escape(id));
    if (own) return own;
    const around = control.closest("li, fieldset, .row-of-fields");
    return around ? around.querySelector(".field-error") : null;
  }

  function show(control, message) {
    const slot = slotFor(control);
    if (message) {
      control.setAttribute("aria-invalid", "true");
      messages.set(control, message);
    } else {
      if (messages.has(control)) control.removeAttribute("aria-invalid");
      messages.delete(control);
    }
    if (!slot) return;
    // One slot may serve several controls (every kernel cell): show the first problem.
    const form = control.form || control.closest("form");
    const first = Array.prototype.find.call(
      form.querySelectorAll("input, textarea, select"),
      function (other) { return messages.has(other) && slotFor(other) === slot; });
    const old = slot.querySelector(".problem.client-check");
    if (!first) {
      if (old) old.remove();
      return;
    }
    const problem = old || document.createElement("p");
    problem.className = "problem client-check";
    problem.dataset.field = first.name || "cells";
    problem.textContent = messages.get(first);
    if (!old) slot.replaceChildren(problem);
  }

  function checkAll(form) {
    let failed = null;
    form.querySelectorAll("input, textarea").forEach(function (control) {
      const message = check(control);
      show(control, message);
      if (message && !failed) failed = control;
    });
    return failed;
  }

  // The result a form draws into: dimmed while the form holds something it cannot send.
  function markStale(form) {
    const selector = form.getAttribute("hx-target");
    const target = selector && document.querySelector(selector);
    if (target && form.id !== "explain-form") target.classList.add("is-stale");
  }

  function inView(element) {
    const box = element.getBoundingClientRect();
    return box.top >= 0 && box.bottom <= window.innerHeight;
  }

  function onEdit(event) {
    const control = event.target;
    if (!control.form || !control.matches("input, textarea")) return;
    const message = check(control);
    show(control, message);
    if (message) {
      markStale(control.form);
      // A file picked from the system dialog leaves the focus nowhere: bring it back here.
      if (!document.activeElement || document.activeElement === document.body) {
        control.focus({ preventScroll: true });
      }
      const slot = slotFor(control);
      if (slot && !inView(slot)) slot.scrollIntoView({ block: "center" });
    }
    // A sample chosen, the padding's name changed: their twins may now be fine.
    control.form.querySelectorAll("[aria-invalid='true']").forEach(function (other) {
      if (other !== control) show(other, check(other));
    });
  }
  document.addEventListener("input", onEdit, true);
  document.addEventListener("change", onEdit, true);

  // The form asks the server only when everything the browser can check is right; the
  // result it shows is marked as no longer matching until then.
  document.addEventListener("htmx:beforeRequest", function (event) {
    const form = event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (!form) return;
    // A form that includes another (the explanation includes the convolve form) waits on it.
    const included = form.getAttribute("hx-include");
    const forms = [form].concat(included ? Array.from(document.querySelectorAll(included)) : []);
    const failed = forms.map(checkAll).filter(Boolean)[0];
    if (!failed) return;
    event.preventDefault();
    markStale(form);
    if (event.detail.elt === form && document.activeElement === document.body) {
      failed.focus({ preventScroll: true });
    }
    const slot = slotFor(failed);
    if (slot && !inView(slot)) slot.scrollIntoView({ block: "center" });
  });
})();
