// The padding lesson: step through the windows one output cell at a time.
// Without JavaScript every step is listed; here one is shown, with Previous and Next.
(function () {
  "use strict";
  const _ = window.convlens.gettext;

  const result = document.getElementById("lesson-result");
  if (!result) return;
  let current = 0;
  let showAll = false;

  function steps() { return Array.from(result.querySelectorAll(".step")); }

  function render() {
    const all = steps();
    if (all.length === 0) return;
    current = Math.max(0, Math.min(current, all.length - 1));
    all.forEach(function (step, index) { step.hidden = !showAll && index !== current; });
    result.querySelectorAll(".out").forEach(function (value, index) {
      value.classList.toggle("current", !showAll && index === current);
    });
    const now = result.querySelector(".step-now");
    if (now) now.textContent = String(current + 1);
    const count = result.querySelector(".step-count");
    if (count) count.hidden = showAll;
    const previous = result.querySelector("[data-step='previous']");
    const next = result.querySelector("[data-step='next']");
    const toggle = result.querySelector("[data-step='all']");
    // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
    if (previous) previous.setAttribute("aria-disabled", String(showAll || current === 0));
    if (next) next.setAttribute("aria-disabled", String(showAll || current === all.length - 1));
    if (toggle) toggle.textContent = showAll ? _("One at a time") : _("Show all");
  }

  result.addEventListener("click", function (event) {
    const button = event.target.closest("[data-step]");
    if (!button) return;
    const action = button.dataset.step;
    if (button.getAttribute("aria-disabled") === "true") return;
    if (action === "previous") current -= 1;
    if (action === "next") current += 1;
    if (action === "all") showAll = !showAll;
    render();
  });

  // Left and right arrows step too, while the stepper has the focus.
  result.addEventListener("keydown", function (event) {
    if (!event.target.closest(".stepper")) return;
    if (event.key === "ArrowLeft") current -= 1;
    else if (event.key === "ArrowRight") current += 1;
    else return;
    event.preventDefault();
    render();
  });

  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target === result) render();
  });

  render();
})();
