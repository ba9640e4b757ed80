// The small-CNN page: add and remove blocks in place, send an upload once (then its key),
// draw every grid at one scale, and explain the cell of a map that is clicked or tapped.
// Without JavaScript the same buttons post the form and the server edits the stack; the
// numbers always come from the server.
(function () {
  "use strict";

  const _ = window.convlens.gettext;
  const form = document.getElementById("stack-form");
  if (!form) return;
  const list = form.querySelector("#blocks");
  const template = document.getElementById("block-template");
  const maxBlocks = Number(form.dataset.maxBlocks) || 4;
  const explainForm = document.getElementById("stack-explain-form");
  const upload = form.querySelector("#stack-image");
  const key = form.querySelector("#stack-photo-key");
  const cell = form.querySelector("#stack-cell");
  let sentFile = null;  // the upload the key stands for

  function changed() {
    form.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // The add/remove buttons submit the plain form with "edit"; here they edit the list only.
  function takeOver(root) {
    root.querySelectorAll("button[name='edit']").forEach(function (button) {
      button.type = "button";
      button.dataset.edit = button.value;
      button.removeAttribute("name");
    });
  }

  // Names, ids, labels and error slots follow the order of the list: block-N-<field>.
  function renumber() {
    const blocks = list.querySelectorAll("li.block");
    blocks.forEach(function (block, index) {
      const number = index + 1;
      const rename = function (text) { return text.replace(/block-\d+-/g, "block-" + number + "-"); };
      block.querySelector(".layer-number").textContent = String(number);
      block.querySelectorAll("select, input").forEach(function (control) {
        control.name = rename(control.name);
        control.id = control.name;
        const described = control.getAttribute("aria-describedby");
        if (described) control.setAttribute("aria-describedby", rename(described));
      });
      block.querySelectorAll("label").forEach(function (label) {
        const control = label.querySelector("select, input");
        if (control) label.htmlFor = control.id;
      });
      block.querySelectorAll(".field-error").forEach(function (slot) { slot.id = rename(slot.id); });
      const remove = block.querySelector(".remove-block");
      remove.dataset.edit = "remove-" + number;
      remove.setAttribute("aria-label", _("Remove block %(number)s", { number: number }));
      remove.disabled = blocks.length === 1;
    });
    form.querySelector("[data-edit='add']").disabled = blocks.length >= maxBlocks;
    explainForm.querySelector("[name=block]").max = String(blocks.length);
  }

  form.addEventListener("click", function (event) {
    const button = event.target.closest("[data-edit]");
    if (!button) return;
    event.preventDefault();
    if (button.dataset.edit === "add") {
      if (list.children.length >= maxBlocks) return;
      const block = template.content.firstElementChild.cloneNode(true);
      takeOver(block);
      list.append(block);
      renumber();
      block.querySelector("select").focus();
    } else {
      if (list.children.length <= 1) return;
      const block = button.closest("li.block");
      const next = block.nextElementSibling || block.previousElementSibling;
      block.remove();
      renumber();
      cell.value = "";
      next.querySelector("select").focus();
    }
    changed();
  });

  // --- the photo: sent once, then its key -------------------------------------------------
  upload.addEventListener("change", function () { key.value = ""; sentFile = null; });
  form.querySelectorAll("input[name=sample]").forEach(function (radio) {
    radio.addEventListener("change", function () {
      upload.value = "";
      key.value = "";
      sentFile = null;
    });
  });

  document.addEventListener("htmx:configRequest", function (event) {
    const source = event.detail.elt;
    if (source !== form && source !== explainForm) return;
    const data = event.detail.formData;
    const file = upload.files[0];
    if (!file) {
      data.delete("photo_key");  // a sample travels by name
      return;
    }
    if (key.value && file === sentFile) {
      data.set("image", new File([], "", { type: "application/octet-stream" }));
    } else {
      data.delete("photo_key");
      sentFile = file;
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    const source = event.detail.elt;
    if (source !== form && source !== explainForm) return;
    const status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 410 && upload.files[0]) {  // the server let the photo go: send it again
      key.value = "";
      sentFile = null;
      source.requestSubmit();
    }
  });

  // --- every grid at one scale ----------------------------------------------------------
  // The server draws them at one scale; a narrow screen shrinks them all alike, never the
  // widest alone (which a plain max-width would do).
  function fitGrids() {
    const maps = document.getElementById("stack-maps");
    if (!maps) return;
    const pictures = maps.querySelectorAll(".stack-grid-picture");
    let widest = 0;
    pictures.forEach(function (picture) { widest = Math.max(widest, Number(picture.dataset.width)); });
    const room = maps.clientWidth;
    const scale = widest > room ? room / widest : 1;
    pictures.forEach(function (picture) {
      picture.style.width = (Number(picture.dataset.width) * scale) + "px";
    });
  }
  window.addEventListener("resize", fitGrids);

  // --- a cell clicked, tapped or typed ---------------------------------------------------
  function cellAt(picture, clientX, clientY) {
    const box = picture.getBoundingClientRect();
    const data = picture.dataset;
    const x = (clientX - box.left) * picture.naturalWidth / box.width;
    const y = (clientY - box.top) * picture.naturalHeight / box.height;
    const gap = Number(data.gap);
    const tileWidth = Number(data.tileWidth), tileHeight = Number(data.tileHeight);
    const tileColumn = Math.floor(x / (tileWidth + gap));
    const tileRow = Math.floor(y / (tileHeight + gap));
    const withinX = x - tileColumn * (tileWidth + gap), withinY = y - tileRow * (tileHeight + gap);
    const map = tileRow * Number(data.columns) + tileColumn;
    if (withinX >= tileWidth || withinY >= tileHeight || map >= Number(data.count) || map < 0) return null;
    return {
      block: Number(data.block), map: map,
      row: Math.min(Number(data.mapHeight) - 1, Math.floor(withinY * Number(data.mapHeight) / tileHeight)),
      column: Math.min(Number(data.mapWidth) - 1, Math.floor(withinX * Number(data.mapWidth) / tileWidth)),
    };
  }

  function explain(chosen) {
    explainForm.querySelector("[name=block]").value = chosen.block;
    explainForm.querySelector("[name=map]").value = chosen.map;
    explainForm.querySelector("[name=row]").value = chosen.row;
    explainForm.querySelector("[name=column]").value = chosen.column;
    explainForm.requestSubmit();
  }

  document.getElementById("stack-result").addEventListener("click", function (event) {
    const picture = event.target.closest(".stack-grid");
    if (!picture) return;
    const chosen = cellAt(picture, event.clientX, event.clientY);
    if (chosen) explain(chosen);
  });

  // The explained cell: marked on its grid, kept in the URL (cell=block,map,row,column) so
  // that a link opens on it, and its picker limits follow the maps.
  // Block n's grid of conv maps (no id: htmx would copy an old picture's style onto its
  // namesake while settling, which the Content-Security-Policy refuses).
  function grid(block) {
    return document.querySelector("#stack-maps [data-grid='" + block + "-maps'] img");
  }

  function markCell() {
    document.querySelectorAll("#stack-maps .cell-box").forEach(function (mark) { mark.hidden = true; });
    const explained = document.getElementById("stack-explained");
    if (!explained) return;
    const data = explained.dataset;
    const picture = grid(data.block);
    if (!picture) return;
    const tiles = picture.dataset;
    const columns = Number(tiles.columns), gap = Number(tiles.gap);
    const tileWidth = Number(tiles.tileWidth), tileHeight = Number(tiles.tileHeight);
    const map = Number(data.map);
    const left = (map % columns) * (tileWidth + gap) + Number(data.column) * tileWidth / Number(tiles.mapWidth);
    const top = Math.floor(map / columns) * (tileHeight + gap) + Number(data.row) * tileHeight / Number(tiles.mapHeight);
    const scale = picture.getBoundingClientRect().width / picture.naturalWidth || 1;
    const mark = picture.parentNode.querySelector(".cell-box");
    mark.style.left = (left * scale) + "px";
    mark.style.top = (top * scale) + "px";
    mark.style.width = Math.max(3, tileWidth / Number(tiles.mapWidth) * scale) + "px";
    mark.style.height = Math.max(3, tileHeight / Number(tiles.mapHeight) * scale) + "px";
    mark.hidden = false;
  }

  function remember() {
    const explained = document.getElementById("stack-explained");
    cell.value = explained ? explained.dataset.cell : "";
    const params = new URLSearchParams(location.search);
    if (cell.value) params.set("cell", cell.value); else params.delete("cell");
    history.replaceState(history.state, "", location.pathname + "?" + params + location.hash);
  }

  function limits() {
    const maps = document.getElementById("stack-maps");
    if (!maps) return;
    const block = Number(explainForm.querySelector("[name=block]").value) || 1;
    const picture = grid(block);
    if (!picture) return;
    explainForm.querySelector("[name=map]").max = String(Number(picture.dataset.count) - 1);
    explainForm.querySelector("[name=row]").max = String(Number(picture.dataset.mapHeight) - 1);
    explainForm.querySelector("[name=column]").max = String(Number(picture.dataset.mapWidth) - 1);
  }
  explainForm.querySelector("[name=block]").addEventListener("change", limits);

  function settle() {
    fitGrids();
    limits();
    markCell();
  }

  document.body.addEventListener("htmx:afterSwap", function (event) {
    const target = event.detail.target;
    if (target.id === "stack-result") {
      const maps = document.getElementById("stack-maps");
      if (maps && upload.files[0] && maps.dataset.photoKey) key.value = maps.dataset.photoKey;
      document.querySelectorAll("#stack-result img").forEach(function (picture) {
        if (!picture.complete) picture.addEventListener("load", settle, { once: true });
      });
      settle();
    }
    if (target.id === "stack-explanation") {
      remember();
      markCell();
      const explained = document.getElementById("stack-explained");
      const box = explained && explained.getBoundingClientRect();
      if (box && (box.top < 0 || box.top > window.innerHeight)) {
        explained.scrollIntoView({ block: "start" });
      }
    }
  });

  takeOver(form);
  renumber();
  document.querySelectorAll("#stack-result img").forEach(function (picture) {
    if (!picture.complete) picture.addEventListener("load", settle, { once: true });
  });
  settle();
})();
