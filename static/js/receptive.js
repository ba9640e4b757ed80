// The receptive-field page: add and remove layers in place, and choose the output cell by
// clicking the picture. Without JavaScript the same buttons submit the form and the server
// edits the stack; the numbers always come from the server.
(function () {
  "use strict";
  const _ = window.convlens.gettext;

  const form = document.getElementById("stack-form");
  if (!form) return;
  const list = form.querySelector("#layers");
  const template = document.getElementById("layer-template");
  const maxLayers = Number(form.dataset.maxLayers) || 10;

  function changed() {
    form.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // The add/remove buttons are submit buttons named "edit" for the plain form. Here they must
  // not be sent with the next request (htmx includes the last button clicked), so they lose
  // their name and only edit the list.
  function takeOver(root) {
    root.querySelectorAll("button[name='edit']").forEach(function (button) {
      button.type = "button";
      button.dataset.edit = button.value;
      button.removeAttribute("name");
    });
  }

  // Layer numbers, ids, labels and error slots follow the order of the list.
  function renumber() {
    const layers = list.querySelectorAll("li.layer");
    layers.forEach(function (layer, index) {
      const number = index + 1;
      layer.querySelector(".layer-number").textContent = String(number);
      layer.querySelectorAll("select, input").forEach(function (control) {
        control.id = control.name + "-" + number;
      });
      layer.querySelectorAll("label").forEach(function (label) {
        const control = label.querySelector("select, input");
        if (control) label.htmlFor = control.id;
      });
      const remove = layer.querySelector(".remove-layer");
      remove.dataset.edit = "remove-" + number;
      remove.setAttribute("aria-label", _("Remove layer %(number)s", { number: number }));
      remove.disabled = layers.length === 1;
      layer.querySelector(".field-error").id = "error-layer-" + number;
    });
    form.querySelector("[data-edit='add']").disabled = layers.length >= maxLayers;
  }

  form.addEventListener("click", function (event) {
    const button = event.target.closest("[data-edit]");
    if (!button) return;
    event.preventDefault();
    if (button.dataset.edit === "add") {
      if (list.children.length >= maxLayers) return;
      const layer = template.content.firstElementChild.cloneNode(true);
      takeOver(layer);
      list.append(layer);
      renumber();
      layer.querySelector("select").focus();
    } else {
      const layer = button.closest("li.layer");
      if (list.children.length <= 1) return;
      const next = layer.nextElementSibling || layer.previousElementSibling;
      layer.remove();
      renumber();
      next.querySelector("select").focus();
    }
    changed();
  });

  // Click (or tap) the picture: choose the output cell whose centre is nearest.
  document.getElementById("stack-result").addEventListener("click", function (event) {
    const svg = event.target.closest("#field-svg");
    if (!svg) return;
    const point = new DOMPoint(event.clientX, event.clientY)
      .matrixTransform(svg.getScreenCTM().inverse());
    const start = Number(svg.dataset.start), jump = Number(svg.dataset.jump);
    const outputs = Number(svg.dataset.outputs);
    function nearest(coordinate) {
      const index = Math.round((coordinate - 0.5 - start) / jump);
      return Math.max(0, Math.min(outputs - 1, index));
    }
    form.querySelector("#row").value = nearest(point.y);
    form.querySelector("#column").value = nearest(point.x);
    changed();
  });

  // The server keeps the chosen cell inside the output; the inputs follow what it chose.
  function followCell() {
    const svg = document.getElementById("field-svg");
    if (!svg) return;
    const last = Number(svg.dataset.outputs) - 1;
    [["#row", svg.dataset.row], ["#column", svg.dataset.column]].forEach(function (pair) {
      const input = form.querySelector(pair[0]);
      input.max = String(last);
      input.placeholder = _("centre: %(cell)s", { cell: Math.floor(last / 2) });
      if (input.value !== "" && Number(input.value) !== Number(pair[1])) input.value = pair[1];
    });
  }
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target.id === "stack-result") followCell();
  });

  takeOver(form);
  renumber();
})();
