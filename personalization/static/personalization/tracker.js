/*
 * Wagtail personalization: a tiny browser tracker (ES2017, no dependencies, no build step).
 *
 *   <script defer src="{% static 'personalization/tracker.js' %}"
 *           data-endpoint="/api/personalization/v1/events"   (default)
 *           data-flush-interval="5000" data-max-batch="50"   (defaults)
 *           data-visitor-token="..."                          (headless sites; else the cookie)
 *           data-page-views="true"                            (headless SPAs only, see below)
 *           data-timezone-cookie="false"></script>           (don't set the pz_tz cookie)
 *
 *   personalization.track("search", {query: "shoes"});
 *
 * Calls made before this (deferred) script has run are kept by a one-line stub placed above it,
 * and replayed here in order:
 *
 *   <script>window.personalization=window.personalization||{q:[],track:function(){this.q.push(["track",arguments])},setVisitorToken:function(){this.q.push(["setVisitorToken",arguments])}};</script>
 *
 *   personalization.setVisitorToken(token);   // headless: identify the visitor
 *   personalization.flush();                  // send now
 *   <button data-pz-event="click" data-pz-props='{"category": "cta"}'>Buy</button>
 *
 * Events are batched in memory, each with a random `id` (the server drops re-sent ids) and an ISO
 * `timestamp`; a batch is sent every flush interval, when full, and with navigator.sendBeacon when
 * the page is hidden or unloaded (as application/json, the only type the server parses). Wagtail pages record page views on the server, so page_view is
 * only sent with data-page-views="true" (also on history.pushState and popstate), or once per load
 * for a page that carries {% tracker_page_view %} (a page cache may have served it without the
 * server seeing the view: the event names the render, and the server counts the view once).
 * Nothing at all is sent when Do Not Track or Global Privacy Control is on; the server enforces
 * that as well.
 *
 * The browser's IANA time zone (Intl) is kept in the `pz_tz` cookie (no identifier, a year,
 * SameSite=Lax) so that time-of-day and day-of-week conditions on server-rendered pages use the
 * visitor's clock instead of the site's; data-timezone-cookie="false" turns that off. Like every
 * cookie of the plugin it waits for consent: it is set once the server has accepted one of the
 * visitor's events (it only does with their consent), and removed when events are ignored for
 * want of consent.
 */
(function (window, document) {
  "use strict";
  if (window.personalization && window.personalization.version) return; // loaded twice

  const script = document.currentScript;
  const config = (script && script.dataset) || {};
  const endpoint = config.endpoint || "/api/personalization/v1/events";
  const flushInterval = positive(config.flushInterval, 5000);
  const maxBatch = Math.min(positive(config.maxBatch, 50), 500);
  const maxQueue = maxBatch * 20; // bound memory while the server is unreachable
  const nav = window.navigator || {};
  const optedOut = nav.doNotTrack === "1" || nav.globalPrivacyControl === true;

  let token = config.visitorToken || null;
  let queue = [];
  let timer = null;

  function positive(value, fallback) {
    const n = parseInt(value, 10);
    return n > 0 ? n : fallback;
  }

  function randomId() {
    const c = window.crypto;
    if (c && typeof c.randomUUID === "function") return c.randomUUID();
    const bytes = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") c.getRandomValues(bytes);
    else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.from(bytes, (b) => (b < 16 ? "0" : "") + b.toString(16)).join("");
  }

  function context() {
    const ctx = {url: String(window.location && window.location.href || "").slice(0, 2000),
      referrer: String(document.referrer || "").slice(0, 2000)};
    if (nav.language) ctx.language = String(nav.language).slice(0, 35);
    return ctx;
  }

  function track(type, properties) {
    if (optedOut || typeof type !== "string" || !type) return;
    const props = properties && typeof properties === "object" && !Array.isArray(properties) ? properties : {};
    queue.push({type: type, id: randomId(), timestamp: new Date().toISOString(), properties: props});
    if (queue.length > maxQueue) queue.splice(0, queue.length - maxQueue);
    if (queue.length >= maxBatch) flush();
    else if (!timer) timer = setTimeout(flush, flushInterval);
  }

  function remember(body) {
    if (!body) return;
    if (typeof body.visitor_token === "string" && body.visitor_token) token = body.visitor_token;
    // The server collects this visitor's events only with their consent: that is when the
    // time-zone cookie may be set; events ignored for want of consent take it away again.
    if (body.accepted > 0 || body.duplicates > 0) rememberTimeZone();
    else if (body.ignored_reason === "no_consent") forgetTimeZone();
  }

  function send(events, beacon) {
    const payload = {events: events, context: context()};
    if (beacon && typeof nav.sendBeacon === "function") {
      if (token) payload.visitor_id = token; // a beacon cannot carry headers
      try {
        // application/json: the server parses nothing else (text/plain is what a page on another
        // site could send without a preflight). A browser refusing it throws: fetch below.
        const blob = new Blob([JSON.stringify(payload)], {type: "application/json"});
        if (nav.sendBeacon(endpoint, blob)) return;
      } catch (e) { /* fall back to fetch */ }
      delete payload.visitor_id;
    }
    if (typeof window.fetch !== "function") return;
    const headers = {"Content-Type": "application/json"};
    if (token) headers["X-Visitor-Id"] = token;
    window.fetch(endpoint, {method: "POST", credentials: "same-origin", keepalive: true,
      headers: headers, body: JSON.stringify(payload)})
      .then((response) => {
        if (response.status === 429 || response.status >= 500) throw new Error("retry");
        return response.json().then(remember, () => {});
      })
      .catch(() => { // network error or overload: ids make a re-send harmless
        queue = events.concat(queue).slice(-maxQueue);
        if (!timer) timer = setTimeout(flush, flushInterval * 2);
      });
  }

  function flush(beacon) {
    if (timer) { clearTimeout(timer); timer = null; }
    if (optedOut) { queue = []; return; }
    while (queue.length) send(queue.splice(0, maxBatch), beacon === true);
  }

  function onClick(event) {
    let el = event.target;
    if (el && el.nodeType !== 1) el = el.parentElement;
    el = el && typeof el.closest === "function" ? el.closest("[data-pz-event]") : null;
    if (!el) return;
    let props = {};
    const raw = el.getAttribute("data-pz-props");
    if (raw) {
      try {
        const parsed = JSON.parse(raw);
        if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) props = parsed;
      } catch (e) { /* ignore malformed properties */ }
    }
    track(el.getAttribute("data-pz-event"), props);
  }

  let lastUrl = null;
  function pageView() {
    const url = String(window.location && window.location.href || "");
    if (url === lastUrl) return;
    lastUrl = url;
    track("page_view", {url: url.slice(0, 1000), title: String(document.title || "").slice(0, 1000)});
  }

  function hasTimeZoneCookie() {
    return /(?:^|;\s*)pz_tz=/.test(String(document.cookie || ""));
  }

  function forgetTimeZone() {
    if (hasTimeZoneCookie()) document.cookie = "pz_tz=; path=/; max-age=0; SameSite=Lax";
  }

  function rememberTimeZone() {
    if (config.timezoneCookie === "false") return;
    let zone = "";
    try {
      zone = String(window.Intl.DateTimeFormat().resolvedOptions().timeZone || "");
    } catch (e) { return; }
    if (!/^[A-Za-z0-9_+\-]+(\/[A-Za-z0-9_+\-]+)*$/.test(zone) || zone.length > 64) return;
    const cookies = "; " + String(document.cookie || "");
    if (cookies.indexOf("; pz_tz=" + zone + ";") !== -1 || cookies.endsWith("; pz_tz=" + zone)) return;
    const secure = window.location && window.location.protocol === "https:" ? "; Secure" : "";
    document.cookie = "pz_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax" + secure;
  }
  if (hasTimeZoneCookie()) rememberTimeZone(); // set after consent (remember): keep it current
  // {% tracker_page_view %}: <script type="application/json" id="pz-page-view">, written by the
  // server into every copy of the page, cached or not.
  function renderedPageView() {
    const el = typeof document.getElementById === "function" ? document.getElementById("pz-page-view") : null;
    if (!el) return;
    let data = null;
    try { data = JSON.parse(el.textContent); } catch (e) { return; }
    if (!data || typeof data.render_id !== "string") return;
    const props = data.properties && typeof data.properties === "object" && !Array.isArray(data.properties) ? data.properties : {};
    track("page_view", Object.assign({}, props, {render_id: data.render_id}));
  }

  if (!optedOut) {
    document.addEventListener("click", onClick, true);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") flush(true);
    });
    window.addEventListener("pagehide", () => flush(true));
    if (config.pageViews === "true") {
      const history = window.history;
      if (history && typeof history.pushState === "function") {
        const push = history.pushState;
        history.pushState = function () {
          const result = push.apply(this, arguments);
          pageView();
          return result;
        };
      }
      window.addEventListener("popstate", pageView);
      pageView();
    } else {
      renderedPageView();
    }
  }

  const stub = window.personalization;
  const api = {
    version: 1,
    track: track,
    setVisitorToken: (value) => { token = value || null; },
    flush: () => flush(false),
  };
  window.personalization = api;
  // Replay what the page asked of the stub before this script ran (same order).
  const pending = stub && Array.isArray(stub.q) ? stub.q : [];
  pending.forEach((call) => {
    const method = call && api[call[0]];
    if (typeof method === "function" && call[0] !== "flush") method.apply(api, Array.from(call[1] || []));
  });
})(window, document);
