// Problems where the eye is. The server swaps each problem into its field's slot (see
// webapp/server/problems.py); this file makes sure the learner sees it: a copy goes on top of
// the result it concerns (which stays on screen, dimmed and labelled as from before), and the
// page scrolls and moves focus there unless the learner is typing in the field at fault,
// whose own slot is then in sight. Every page loads it (base.html).
(function () {
  "use strict";
  const _ = window.convlens.gettext;

  // A field the learner types into: moving focus away from it mid-word would be hostile.
  function typingIn(element) {
    return element && element.matches &&
      element.matches("input:not([type=file]):not([type=radio]):not([type=checkbox]), textarea");
  }

  function inView(element) {
    const box = element.getBoundingClientRect();
    return box.top >= 0 && box.bottom <= window.innerHeight && box.width > 0;
  }

  function targetOf(source) {
    const selector = source.getAttribute && source.getAttribute("hx-target");
    return selector ? document.querySelector(selector) : null;
  }

  // A problem answered before routing (the body-size limit, 413) is JSON, not a fragment:
  // never swap it raw; draw it like the others, in the slot of the field at fault.
  document.addEventListener("htmx:beforeSwap", function (event) {
    const xhr = event.detail.xhr;
    if (!xhr || xhr.status < 400) return;
    const type = xhr.getResponseHeader("content-type") || "";
    if (type.indexOf("json") === -1) return;
    event.detail.shouldSwap = false;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch (error) { body = {}; }
    const form = event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    const problem = document.createElement("p");
    problem.className = "problem";
    problem.dataset.status = String(xhr.status);
    const title = document.createElement("strong");
    title.textContent = (body.title || _("The request failed")) + ".";
    problem.append(title, " " + (body.detail || xhr.statusText || ""));
    let slot = null;
    // An upload too large for the server is the photo's fault, whatever the body says.
    const file = form && form.querySelector("input[type=file]");
    if (xhr.status === 413 && file && file.files.length) {
      problem.dataset.field = file.name;
      slot = form.querySelector("#error-" + CSS.escape(file.name));
    } else if (body.field) {
      problem.dataset.field = body.field;
      slot = form && form.querySelector("#error-" + CSS.escape(body.field));
    }
    slot = slot || (form && form.querySelector(".form-problem")) || document.getElementById("problem");
    if (slot) {
      slot.replaceChildren(problem);
      event.detail.target = slot;
    }
  });

  // Mark what is at fault when no control bears the field's name (a receptive-field layer
  // names its row, "layer-2").
  function markRow(form, field) {
    if (!field || form.querySelector("[name='" + CSS.escape(field) + "']")) return;
    const slot = form.querySelector("#error-" + CSS.escape(field));
    const row = slot && slot.closest("li, fieldset");
    if (row) row.classList.add("is-invalid");
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    const form = event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (form) form.querySelectorAll(".is-invalid").forEach(function (row) {
      row.classList.remove("is-invalid");
    });
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    const source = event.detail.elt;
    const xhr = event.detail.xhr;
    if (!xhr || xhr.status < 400 || !source.closest) return;
    const form = source.closest("form");
    const shown = document.querySelector(
      "[data-status='" + xhr.status + "'].problem:not(.result-problem .problem)");
    if (!form || !shown) return;
    markRow(form, shown.dataset.field);
    // A body too large is the photo's fault: say it next to the file picker too.
    const file = form.querySelector("input[type=file]");
    const fileSlot = file && form.querySelector("#error-" + CSS.escape(file.name));
    if (xhr.status === 413 && file.files.length && fileSlot && !fileSlot.contains(shown)) {
      fileSlot.replaceChildren(shown.cloneNode(true));
      file.setAttribute("aria-invalid", "true");
    }
    const target = targetOf(form) || targetOf(source);
    if (!target || target.contains(shown)) return;
    // The copy on top of the result, with what the dimmed result below it is.
    let notice = target.querySelector(":scope > .result-problem");
    if (!notice) {
      notice = document.createElement("div");
      notice.className = "result-problem";
      notice.tabIndex = -1;
      target.prepend(notice);
    }
    const copy = shown.cloneNode(true);
    copy.removeAttribute("id");
    const stale = document.createElement("span");
    stale.className = "stale-note";
    stale.textContent = target.children.length > 1
      ? " " + _("What is shown below is from the last settings that worked.") : "";
    copy.append(stale);
    notice.replaceChildren(copy);
    const active = document.activeElement;
    if (typingIn(active) && form.contains(active)) {
      if (!inView(shown)) shown.scrollIntoView({ block: "nearest" });
      return;
    }
    notice.focus({ preventScroll: true });
    if (!inView(notice)) notice.scrollIntoView({ block: "start" });
  });
})();
