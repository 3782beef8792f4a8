/* Reach of each variant of a personalized block, in the Wagtail editor. No dependencies.
 *
 * Every list of variants (the children of a StreamField or ListBlock whose block carries the
 * `pz-variant-block` class: PersonalizedBlock in pages, PersonalizedContent snippets) is read in
 * editor order - each variant's segments and "any"/"all" - and sent to the reach endpoint, which
 * answers how many stored visitors each variant would reach, the first match winning. The answer
 * is shown under each variant (and beside its collapsed title) and under the list for the
 * default content. Changes are debounced; a MutationObserver picks up variants added, removed,
 * moved or duplicated, since Wagtail draws and redraws these blocks itself.
 *
 * The numbers are upper bounds: request-time conditions (device, time of day) and schedules are
 * not applied. Users who may not estimate (HTTP 403) see nothing.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var url = script && script.getAttribute("data-reach-url");
  if (!url) return;

  var DELAY = 600; // ms after the last change
  var MAX_VARIANTS = 50; // the endpoint's limit
  var VARIANT = ".pz-variant-block";
  var CONTAINER = "[data-streamfield-list-container], [data-streamfield-stream-container]";
  var OWN = "pz-reach-own"; // marks what this script adds, so its own redraws are not "changes"
  var HINT =
    "Stored visitor profiles that could see this, the first matching variant winning. An upper " +
    "bound: device, time of day and other request-time conditions, and schedules, are not applied.";

  var timer = null;
  var refused = false;
  var lists = new Map(); // container element -> {key, seq, summary}

  function el(tag, className, text) {
    var node = document.createElement(tag);
    node.className = OWN + " " + className;
    if (text) node.textContent = text;
    return node;
  }

  /* -- reading the editor ------------------------------------------------------------------ */

  function isDeleted(node) {
    // Wagtail hides a deleted block and sets its "-deleted" input; the block stays in the DOM.
    for (var child = node.closest("[data-streamfield-child]"); child; ) {
      var input = child.querySelector(':scope > input[name$="-deleted"]');
      if ((input && input.value === "1") || child.getAttribute("aria-hidden") === "true") return true;
      child = child.parentElement && child.parentElement.closest("[data-streamfield-child]");
    }
    return false;
  }

  function field(block, name) {
    // The variant's own field: a direct child of the struct, not one inside its content.
    return (
      block.querySelector(':scope > [data-contentpath="' + name + '"]') ||
      block.querySelector('[data-contentpath="' + name + '"]')
    );
  }

  function readVariant(block) {
    var segments = [];
    var match = "any";
    var segmentsField = field(block, "segments");
    if (segmentsField) {
      segmentsField.querySelectorAll("select option:checked, input:checked").forEach(function (o) {
        if (o.value) segments.push(o.value);
      });
    }
    var matchField = field(block, "match");
    if (matchField) {
      var input = matchField.querySelector("select, input:checked");
      if (input && input.value) match = input.value;
    }
    return { segments: segments, match: match };
  }

  function collect() {
    // Lists of live variants, keyed by their container, each in editor (DOM) order.
    var found = new Map();
    document.querySelectorAll(VARIANT).forEach(function (block) {
      var child = block.closest("[data-streamfield-child]");
      var container = child && child.parentElement && child.parentElement.closest(CONTAINER);
      if (!container || isDeleted(block)) return;
      if (!found.has(container)) found.set(container, []);
      found.get(container).push({ block: block, child: child, value: readVariant(block) });
    });
    return found;
  }

  /* -- showing ----------------------------------------------------------------------------- */

  function plural(n) {
    return n.toLocaleString() + " visitor" + (n === 1 ? "" : "s");
  }

  function percent(share) {
    var value = share * 100;
    return value.toFixed(value > 0 && value < 10 ? 1 : 0) + "%";
  }

  function lineFor(variant) {
    var line = variant.block.pzReachLine;
    if (!line || !variant.block.contains(line)) {
      line = el("p", "pz-reach");
      line.title = HINT;
      line.setAttribute("aria-live", "polite");
      var matchField = field(variant.block, "match");
      if (matchField && matchField.parentElement === variant.block) matchField.after(line);
      else variant.block.appendChild(line);
      variant.block.pzReachLine = line;
    }
    return line;
  }

  function badgeFor(variant) {
    // Beside the title in the variant's header, so a collapsed variant still shows it.
    var heading = variant.child.querySelector("[data-panel-heading]");
    if (!heading || heading.closest("[data-streamfield-child]") !== variant.child) return null;
    var badge = heading.querySelector(".pz-reach-badge");
    if (!badge) {
      badge = el("span", "pz-reach-badge");
      badge.title = HINT;
      heading.appendChild(badge);
    }
    return badge;
  }

  function summaryFor(container, state) {
    if (!state.summary || !state.summary.isConnected) {
      state.summary = el("p", "pz-reach pz-reach--fallback");
      state.summary.title = HINT;
      state.summary.setAttribute("aria-live", "polite");
      container.after(state.summary);
    }
    return state.summary;
  }

  function setStale(variants, state) {
    variants.forEach(function (variant) {
      lineFor(variant).classList.add("pz-reach--stale");
    });
    summaryFor(state.container, state).classList.add("pz-reach--stale");
  }

  function show(variants, state, body) {
    variants.forEach(function (variant, i) {
      var result = body.variants[i] || { reach: 0, share: 0 };
      var line = lineFor(variant);
      var text = "Reach ≈ " + plural(result.reach) + " (" + percent(result.share) + ")";
      if (result.request_share !== null && result.request_share !== undefined) {
        // Its segments have per-request conditions (device, time of day...): the stored
        // matches times the share of recent page views that pass them.
        text += ": " + result.stored.toLocaleString() + " stored matches; per-request conditions pass " +
          percent(result.request_share) + " of recent page views";
      }
      line.textContent = text;
      line.classList.remove("pz-reach--stale", "pz-reach--error");
      var badge = badgeFor(variant);
      if (badge) badge.textContent = "≈ " + result.reach.toLocaleString() + " · " + percent(result.share);
    });
    var summary = summaryFor(state.container, state);
    summary.textContent =
      "Default content ≈ " + plural(body.fallback.reach) + " (" + percent(body.fallback.share) +
      "), of " + body.total.toLocaleString() + " stored visitor" + (body.total === 1 ? "" : "s");
    summary.classList.remove("pz-reach--stale", "pz-reach--error");
  }

  function showError(variants, state, text) {
    variants.forEach(function (variant) {
      var line = lineFor(variant);
      line.textContent = "";
      var badge = badgeFor(variant);
      if (badge) badge.textContent = "";
    });
    var summary = summaryFor(state.container, state);
    summary.textContent = text;
    summary.classList.remove("pz-reach--stale");
    summary.classList.add("pz-reach--error");
  }

  function removeAll() {
    document.querySelectorAll("." + OWN).forEach(function (node) { node.remove(); });
  }

  /* -- asking ------------------------------------------------------------------------------ */

  function csrfToken(node) {
    var form = node.closest("form");
    var input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function ask(state, variants) {
    var payload = variants.map(function (variant) { return variant.value; });
    var seq = ++state.seq;
    setStale(variants, state);
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken(state.container),
      },
      body: JSON.stringify({ variants: payload }),
    })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          return { status: response.status, body: body };
        });
      })
      .then(function (result) {
        if (seq !== state.seq) return; // a newer question is on its way
        if (result.status === 403 && !/CSRF/.test(String(result.body.detail || ""))) {
          refused = true; // not an editor of personalized content: say nothing at all
          removeAll();
        } else if (result.status === 200 && Array.isArray(result.body.variants)) {
          show(variants, state, result.body);
        } else {
          state.key = null; // ask again on the next change
          showError(variants, state, "Could not estimate reach (HTTP " + result.status + ").");
        }
      })
      .catch(function () {
        if (seq !== state.seq) return;
        state.key = null;
        showError(variants, state, "Could not reach the server to estimate reach.");
      });
  }

  function refresh() {
    timer = null;
    if (refused) return;
    var found = collect();
    lists.forEach(function (state, container) {
      if (found.has(container)) return;
      if (state.summary) state.summary.remove(); // the list or its block went away
      lists.delete(container);
    });
    found.forEach(function (variants, container) {
      var state = lists.get(container);
      if (!state) {
        state = { container: container, key: null, seq: 0, summary: null };
        lists.set(container, state);
      }
      if (variants.length > MAX_VARIANTS) {
        state.key = null;
        showError(variants, state, "Too many variants to estimate reach (at most " + MAX_VARIANTS + ").");
        return;
      }
      // The same question in the same order as last time: the answer shown still holds, unless
      // a variant was redrawn (duplicated, moved between lists) without its line.
      var key = JSON.stringify(variants.map(function (variant) { return variant.value; }));
      var drawn = variants.every(function (variant) {
        return variant.block.pzReachLine && variant.block.contains(variant.block.pzReachLine);
      });
      if (key === state.key && drawn) return;
      state.key = key;
      ask(state, variants);
    });
  }

  function schedule() {
    if (refused) return;
    clearTimeout(timer);
    timer = setTimeout(refresh, DELAY);
  }

  /* -- watching ---------------------------------------------------------------------------- */

  function isOwn(node) {
    return node.nodeType === 1 ? node.classList.contains(OWN) : !!(node.parentElement && node.parentElement.classList.contains(OWN));
  }

  function relevant(record) {
    if (record.type === "attributes") return true; // a block hidden on delete
    var nodes = Array.prototype.slice.call(record.addedNodes).concat(
      Array.prototype.slice.call(record.removedNodes)
    );
    return nodes.some(function (node) { return !isOwn(node); }) && !isOwn(record.target);
  }

  function onEdit(event) {
    var target = event.target;
    if (target && target.closest && target.closest(VARIANT)) schedule();
  }

  function start() {
    document.addEventListener("change", onEdit, true);
    new MutationObserver(function (records) {
      if (records.some(relevant)) schedule();
    }).observe(document.body, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ["aria-hidden"],
    });
    schedule();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
