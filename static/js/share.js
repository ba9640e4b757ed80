// Shareable state: a page's settings live in its URL, so that a link opens the same view.
// Forms marked data-share write their fields into the query as they change
// (history.replaceState: no new history entry per nudge); the GET routes read the same
// names back (/convolve?kernel=box-blur&stride=2). What only the browser knows (the pixel
// explained, the zoom) goes after the #. The lesson and the receptive field push their URL
// with htmx (hx-push-url) already. Every "Copy link" button copies the current address.
(function () {
  "use strict";

  const _ = window.convlens.gettext;

  // Fields that are not settings: the photo's bytes, buttons, the noise's private seed.
  const SKIP = new Set(["image", "edit", "seed", "layers"]);

  function query(form) {
    const params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (typeof value !== "string" || SKIP.has(name) || value.trim() === "") return;
      params.append(name, value);
    });
    return params;
  }

  const hash = {};  // what goes after the #, by name

  function hashText() {
    const parts = Object.keys(hash).filter(function (key) { return hash[key]; })
      .map(function (key) { return key + "=" + hash[key]; });
    return parts.length ? "#" + parts.join("&") : "";
  }

  function write(form) {
    const params = window.convlens.keepLanguage(query(form));
    // An upload cannot travel in a link: the sample it replaced would come back instead.
    const upload = form.querySelector("input[type=file]");
    const uploaded = upload && upload.files.length && !params.has("photo_key");
    form.dataset.sharesUpload = uploaded ? "no" : "yes";
    const url = location.pathname + (params.toString() ? "?" + params : "") + hashText();
    if (url !== location.pathname + location.search + location.hash) {
      history.replaceState(history.state, "", url);
    }
  }

  function readHash() {
    const found = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      const at = part.indexOf("=");
      if (at > 0) found[part.slice(0, at)] = part.slice(at + 1);
    });
    return found;
  }

  // Controls the server does not render from the query (a range kept in the browser):
  // restore them from it once, before anything is sent.
  function restore(form) {
    const params = new URLSearchParams(location.search);
    params.forEach(function (value, name) {
      if (SKIP.has(name)) return;
      const controls = form.querySelectorAll("[name='" + CSS.escape(name) + "']");
      const radio = Array.prototype.find.call(controls, function (control) {
        return control.type === "radio" && control.value === value && !control.disabled;
      });
      if (radio && !radio.checked) {
        radio.checked = true;
        radio.dispatchEvent(new Event("change", { bubbles: true }));
      }
      if (controls.length !== 1) return;
      const control = controls[0];
      if (control.type === "range" || control.type === "number") {
        if (control.value !== value) {
          control.value = value;
          control.dispatchEvent(new Event("input", { bubbles: true }));
        }
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const forms = document.querySelectorAll("form[data-share]");
    const saved = readHash();
    forms.forEach(function (form) {
      restore(form);
      form.addEventListener("change", function () { write(form); });
      form.addEventListener("input", function () { write(form); });
      // htmx edits fields itself (the padding's twin, the matrix): write after each answer.
      form.addEventListener("htmx:afterRequest", function () { write(form); });
    });
    Object.assign(hash, saved);
    const result = document.getElementById("result");
    if (result && saved.pixel) {
      const [row, column, channel] = saved.pixel.split(",").map(Number);
      const picker = document.getElementById("explain-channel");
      if (picker && picker.querySelector("option[value='" + channel + "']")) picker.value = String(channel);
      if (Number.isInteger(row) && Number.isInteger(column)) {
        result.dispatchEvent(new CustomEvent("convlens:pick", { detail: { row: row, column: column } }));
      }
    }
    if (saved.zoom) {
      const [zoom, x, y] = saved.zoom.split(",").map(Number);
      document.dispatchEvent(new CustomEvent("convlens:zoom", { detail: { zoom: zoom, x: x, y: y } }));
    }
    forms.forEach(write);
  });

  // The explained pixel and the zoom, as the pages report them.
  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (!form || form.id !== "explain-form" || !event.detail.successful) return;
    hash.pixel = [form.querySelector("[name=row]").value, form.querySelector("[name=column]").value,
      form.querySelector("[name=channel]").value || "0"].join(",");
    document.querySelectorAll("form[data-share]").forEach(write);
  });
  document.addEventListener("convlens:zoomed", function (event) {
    const view = event.detail;
    hash.zoom = view.zoom > 1 ? [view.zoom, view.x.toFixed(3), view.y.toFixed(3)].join(",") : "";
    document.querySelectorAll("form[data-share]").forEach(write);
  });

  // Copy the address: the Clipboard API where the page may use it, else the browser's copy
  // command; failing both, the link is shown to copy by hand.
  function copied(status, text) {
    status.textContent = text;
    clearTimeout(status.timer);
    status.timer = setTimeout(function () { status.textContent = ""; }, 6000);
  }

  // The copy command with the link put on the clipboard by hand: no selection to copy, so
  // nothing is serialised with inline styles (which the Content-Security-Policy refuses).
  function fallbackCopy(url) {
    let done = false;
    function put(event) {
      event.clipboardData.setData("text/plain", url);
      event.preventDefault();
      done = true;
    }
    document.addEventListener("copy", put);
    try { document.execCommand("copy"); } catch (error) { done = false; }
    document.removeEventListener("copy", put);
    return done;
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy-link]");
    if (!button) return;
    const status = button.parentNode.querySelector(".share-status");
    // The address says the page's language, so the link opens in the language it was shared in.
    const url = window.convlens.withLanguage(location.href);
    button.dataset.url = url;
    const form = document.querySelector("form[data-share]");
    const withoutUpload = form && form.dataset.sharesUpload === "no";
    const done = function () {
      copied(status, withoutUpload
        ? _("Link copied (your own photo is not in it: the link opens on a sample).")
        : _("Link copied."));
    };
    const failed = function () {
      if (fallbackCopy(url)) done();
      else copied(status, _("Copy this link: %(url)s", { url: url }));
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(url).then(done, failed);
    } else {
      failed();
    }
  });
})();
