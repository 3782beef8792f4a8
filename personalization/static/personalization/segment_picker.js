/* A variant's segment picker (personalization/variants/widgets.py): a search box filters the
 * checkboxes by name or slug, and a line says how many are chosen. Event delegation on the
 * document, so blocks added to a StreamField after the page loaded work too. */
(function () {
  "use strict";
  if (window.pzSegmentPicker) return;
  window.pzSegmentPicker = true;

  function options(picker) {
    return Array.prototype.slice.call(picker.querySelectorAll("input[type=checkbox]"));
  }

  function row(input) {
    return input.closest("div") || input.parentNode;
  }

  function count(picker) {
    var chosen = options(picker).filter(function (input) { return input.checked; }).length;
    var line = picker.querySelector("[data-pz-segment-count]");
    if (line) line.textContent = chosen ? chosen + " chosen" : "None chosen: the variant is for everyone";
  }

  function filter(picker, text) {
    var needle = text.trim().toLowerCase();
    var shown = 0;
    options(picker).forEach(function (input) {
      var label = input.closest("label");
      var haystack = ((label ? label.textContent : "") + " " + input.value).toLowerCase();
      var hit = !needle || haystack.indexOf(needle) !== -1 || input.checked;
      row(input).hidden = !hit;
      if (hit) shown += 1;
    });
    var empty = picker.querySelector("[data-pz-segment-empty]");
    if (empty) empty.hidden = shown !== 0;
  }

  document.addEventListener("input", function (event) {
    var search = event.target.closest && event.target.closest("[data-pz-segment-search]");
    if (search) filter(search.closest("[data-pz-segment-picker]"), search.value);
  });
  document.addEventListener("change", function (event) {
    var picker = event.target.closest && event.target.closest("[data-pz-segment-picker]");
    if (picker && event.target.type === "checkbox") count(picker);
  });
  // Keep Enter in the search box from submitting the page form.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.matches && event.target.matches("[data-pz-segment-search]")) {
      event.preventDefault();
    }
  });
  function countAll(root) {
    Array.prototype.forEach.call(root.querySelectorAll("[data-pz-segment-picker]"), count);
  }
  document.addEventListener("DOMContentLoaded", function () { countAll(document); });
  var scheduled = false;
  new MutationObserver(function () {
    if (scheduled) return; // one recount per frame, however many nodes a block insertion adds
    scheduled = true;
    window.requestAnimationFrame(function () { scheduled = false; countAll(document); });
  }).observe(document.documentElement, {
    childList: true,
    subtree: true,
  });
})();
