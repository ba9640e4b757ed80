// convlens: behaviour every page shares. Loaded after htmx (both deferred).
//
// There is no inline script anywhere: the Content-Security-Policy forbids it, so pages say
// what they need with data- attributes and these files do the rest. The pages work without
// JavaScript too (plain forms); this only makes them answer as you type.
(function () {
  "use strict";

  // Translation. The page embeds its language's messages as JSON (templates/base.html,
  // from the catalogue's `javascript` domain); English is the source text, so an English
  // page embeds none. Every script writes its messages as
  //     const _ = window.convlens.gettext;
  //     _("Copied %(count)s links", { count: 3 })
  // so that tools/catalogue.py finds them, and a value can move to where Korean puts it.
  const messages = (function () {
    const data = document.getElementById("convlens-messages");
    try {
      return data ? JSON.parse(data.textContent) : {};
    } catch (error) {
      return {};
    }
  })();
  function format(text, values) {
    if (!values) return text.replace(/%%/g, "%");
    return text.replace(/%\(([a-z_]+)\)s|%%/g, function (match, name) {
      return name === undefined ? "%" : String(values[name]);
    });
  }
  function gettext(message, values) {
    return format(Object.prototype.hasOwnProperty.call(messages, message)
      ? messages[message] : message, values);
  }
  function ngettext(singular, plural, count, values) {
    const english = count === 1 ? singular : plural;
    const text = Object.prototype.hasOwnProperty.call(messages, singular)
      ? messages[singular] : english;
    return format(text, Object.assign({ num: count }, values || {}));
  }
  // A shareable address says its language, so that it opens in it for whoever follows it.
  function withLanguage(address) {
    const url = new URL(address, location.href);
    url.searchParams.set("lang", document.documentElement.lang);
    return url.href;
  }
  // A page opened with ?lang= keeps it in its address as the page rewrites its query (the
  // settings written into the URL, htmx's pushed URLs), so the address stays one to share.
  const addressLanguage = new URLSearchParams(location.search).get("lang");
  function keepLanguage(params) {
    if (addressLanguage) params.set("lang", addressLanguage);
    return params;
  }
  document.addEventListener("htmx:pushedIntoHistory", function () {
    const params = new URLSearchParams(location.search);
    if (!addressLanguage || params.get("lang") === addressLanguage) return;
    history.replaceState(history.state, "",
      location.pathname + "?" + keepLanguage(params) + location.hash);
  });
  window.convlens = Object.assign(window.convlens || {}, {
    gettext: gettext,
    ngettext: ngettext,
    language: document.documentElement.lang,
    withLanguage: withLanguage,
    keepLanguage: keepLanguage,
  });

  // Controls that need JavaScript are `hidden` in the HTML; show them now.
  function revealScripted(root) {
    root.querySelectorAll(".js-only[hidden]").forEach(function (element) {
      element.hidden = false;
    });
  }
  document.documentElement.classList.add("js");
  revealScripted(document);
  document.addEventListener("htmx:load", function (event) {
    revealScripted(event.detail.elt.parentNode || event.detail.elt);
  });

  // The form an htmx request came from (a form itself, or the form around the element).
  function formOf(element) {
    return element.closest ? element.closest("form") : null;
  }

  // A new request: the last answer's problems no longer apply.
  document.addEventListener("htmx:beforeRequest", function (event) {
    const form = formOf(event.detail.elt);
    if (!form) return;
    form.querySelectorAll(".field-error, .form-problem").forEach(function (slot) {
      slot.replaceChildren();
    });
    form.querySelectorAll("[aria-invalid]").forEach(function (control) {
      control.removeAttribute("aria-invalid");
    });
    document.getElementById("problem")?.replaceChildren();
  });

  // A problem was swapped into its slot (see webapp/problems.py): mark the field at fault,
  // and dim the previous result, which no longer matches the form.
  document.addEventListener("htmx:afterRequest", function (event) {
    const source = event.detail.elt;
    const failed = event.detail.xhr && event.detail.xhr.status >= 400;
    const targetSelector = source.getAttribute && source.getAttribute("hx-target");
    const target = targetSelector ? document.querySelector(targetSelector) : null;
    if (target) target.classList.toggle("is-stale", Boolean(failed));
    if (!failed) return;
    const problem = event.detail.target && event.detail.target.querySelector(".problem");
    const field = problem && problem.dataset.field;
    const form = formOf(source);
    if (field && form) {
      form.querySelectorAll("[name='" + CSS.escape(field) + "']").forEach(function (control) {
        control.setAttribute("aria-invalid", "true");
      });
    }
  });

  // A photo form's file input left empty: a browser's own submission sends an empty file
  // part, but htmx sends nothing. Send what the browser would, so the server falls back on
  // the chosen sample photo (field `sample`) in both cases.
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt.matches("[data-photo]")) return;
    const data = event.detail.formData;
    if (data && !data.has("image")) {
      data.append("image", new File([], "", { type: "application/octet-stream" }));
    }
  });
})();
