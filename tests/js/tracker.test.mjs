// Tests for personalization/static/personalization/tracker.js: node --test tests/js/
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

const SOURCE = readFileSync(
  new URL("../../personalization/static/personalization/tracker.js", import.meta.url),
  "utf8",
);

/** Run tracker.js in a fresh sandbox with a minimal fake browser; returns the pieces to poke. */
function load({ dataset = {}, navigator = {}, crypto, fetchResponse, before, elements = {} } = {}) {
  const listeners = { document: {}, window: {} };
  const on = (bucket) => (type, fn) => (listeners[bucket][type] ||= []).push(fn);
  const fire = (bucket, type, event = {}) => (listeners[bucket][type] || []).forEach((fn) => fn(event));
  const timers = [];
  const beacons = [];
  const fetches = [];
  const document = {
    currentScript: { dataset },
    referrer: "https://search.example/",
    title: "Home",
    visibilityState: "visible",
    addEventListener: on("document"),
    getElementById: (id) => (id in elements ? { textContent: elements[id] } : null),
  };
  const history = { pushState(state, title, url) { window.location.href = "https://site.example" + url; } };
  const window = {
    document,
    history,
    location: { href: "https://site.example/" },
    navigator: { language: "en-GB", ...navigator },
    crypto: crypto === undefined ? { randomUUID: () => `uuid-${++window.__n}` } : crypto,
    __n: 0,
    addEventListener: on("window"),
    fetch(url, init) {
      fetches.push({ url, init, body: JSON.parse(init.body) });
      const body = fetchResponse || { accepted: 1, visitor_token: null };
      return Promise.resolve({ status: 202, ok: true, json: () => Promise.resolve(body) });
    },
  };
  if (!("sendBeacon" in navigator)) {
    window.navigator.sendBeacon = (url, blob) => {
      beacons.push({ url, blob });
      return true;
    };
  }
  const sandbox = {
    window,
    document,
    Blob,
    JSON,
    Date,
    Math,
    Uint8Array,
    Array,
    Promise,
    setTimeout: (fn, ms) => { timers.push({ fn, ms }); return timers.length; },
    clearTimeout: (id) => { if (timers[id - 1]) timers[id - 1].cleared = true; },
  };
  vm.createContext(sandbox);
  if (before) vm.runInContext(before, sandbox, { filename: "page.html" });
  vm.runInContext(SOURCE, sandbox, { filename: "tracker.js" });
  const runTimers = () => timers.filter((t) => !t.cleared && !t.ran).forEach((t) => { t.ran = true; t.fn(); });
  return { pz: window.personalization, window, document, fire, timers, runTimers, beacons, fetches, listeners };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test("batches events until the flush interval, with id and ISO timestamp", async () => {
  const t = load({ dataset: { flushInterval: "1000" } });
  t.pz.track("click", { category: "cta" });
  t.pz.track("search", { query: "shoes" });
  assert.equal(t.fetches.length, 0, "nothing is sent before the interval");
  assert.equal(t.timers.length, 1, "one timer for the batch");
  assert.equal(t.timers[0].ms, 1000);
  t.runTimers();
  assert.equal(t.fetches.length, 1, "both events go in one request");
  const { events, context } = t.fetches[0].body;
  assert.deepEqual(events.map((e) => e.type), ["click", "search"]);
  assert.deepEqual(events[0].properties, { category: "cta" });
  assert.equal(events[0].id, "uuid-1");
  assert.equal(events[1].id, "uuid-2");
  for (const e of events) {
    assert.match(e.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(Object.keys(e).sort(), ["id", "properties", "timestamp", "type"]);
  }
  assert.equal(context.url, "https://site.example/");
  assert.equal(context.referrer, "https://search.example/");
  t.runTimers();
  assert.equal(t.fetches.length, 1, "an empty queue sends nothing");
});

test("a full batch is sent at once, in chunks of maxBatch", () => {
  const t = load({ dataset: { maxBatch: "3" } });
  for (let i = 0; i < 7; i++) t.pz.track("click", { n: i });
  assert.equal(t.fetches.length, 2);
  assert.equal(t.fetches[0].body.events.length, 3);
  t.pz.flush();
  assert.equal(t.fetches.length, 3);
  assert.deepEqual(t.fetches[2].body.events.map((e) => e.properties.n), [6]);
});

test("ids fall back to crypto.getRandomValues without randomUUID", () => {
  const t = load({ crypto: { getRandomValues: (a) => { a.fill(171); return a; } } });
  t.pz.track("click");
  t.pz.flush();
  assert.equal(t.fetches[0].body.events[0].id, "ab".repeat(16));
  const bare = load({ crypto: null });
  bare.pz.track("click");
  bare.pz.track("click");
  bare.pz.flush();
  const [a, b] = bare.fetches[0].body.events.map((e) => e.id);
  assert.match(a, /^[0-9a-f]{32}$/);
  assert.notEqual(a, b);
});

test("pagehide and hidden visibility send an application/json beacon", async () => {
  const t = load();
  t.pz.track("click", { category: "nav" });
  t.fire("window", "pagehide");
  assert.equal(t.fetches.length, 0, "no fetch when the beacon was queued");
  assert.equal(t.beacons.length, 1);
  assert.equal(t.beacons[0].url, "/api/personalization/v1/events");
  assert.equal(t.beacons[0].blob.type, "application/json");
  const payload = JSON.parse(await t.beacons[0].blob.text());
  assert.equal(payload.events[0].type, "click");
  assert.equal(payload.visitor_id, undefined, "the cookie identifies a same-origin visitor");
  t.pz.track("click");
  t.document.visibilityState = "hidden";
  t.fire("document", "visibilitychange");
  assert.equal(t.beacons.length, 2);
  t.fire("window", "pagehide");
  assert.equal(t.beacons.length, 2, "nothing queued, nothing sent");
});

test("a refused beacon falls back to fetch", () => {
  const t = load({ navigator: { sendBeacon: () => false } });
  t.pz.track("click");
  t.fire("window", "pagehide");
  assert.equal(t.fetches.length, 1);
  assert.equal(t.fetches[0].init.keepalive, true);
});

test("fetch carries X-Visitor-Id and remembers the returned token", async () => {
  const t = load({
    dataset: { visitorToken: "tok-1", endpoint: "https://api.example/events" },
    navigator: { sendBeacon: undefined },
    fetchResponse: { accepted: 1, visitor_token: "tok-2" },
  });
  t.pz.track("signup");
  t.pz.flush();
  const { url, init } = t.fetches[0];
  assert.equal(url, "https://api.example/events");
  assert.equal(init.method, "POST");
  assert.equal(init.credentials, "same-origin");
  assert.equal(init.keepalive, true);
  assert.equal(init.headers["Content-Type"], "application/json");
  assert.equal(init.headers["X-Visitor-Id"], "tok-1");
  await tick();
  t.pz.track("click");
  t.pz.flush();
  assert.equal(t.fetches[1].init.headers["X-Visitor-Id"], "tok-2", "token from the response");
  t.pz.setVisitorToken("tok-3");
  t.pz.track("click");
  t.fire("window", "pagehide"); // no sendBeacon: fetch fallback
  assert.equal(t.fetches[2].init.headers["X-Visitor-Id"], "tok-3");
});

test("beacons carry a headless visitor's token in the body", async () => {
  const t = load({ dataset: { visitorToken: "tok-9" } });
  t.pz.track("click");
  t.fire("window", "pagehide");
  assert.equal(JSON.parse(await t.beacons[0].blob.text()).visitor_id, "tok-9");
});

test("without a token no X-Visitor-Id header is sent", () => {
  const t = load();
  t.pz.track("click");
  t.pz.flush();
  assert.equal("X-Visitor-Id" in t.fetches[0].init.headers, false);
});

for (const [name, navigator] of [
  ["Do Not Track", { doNotTrack: "1" }],
  ["Global Privacy Control", { globalPrivacyControl: true }],
]) {
  test(`${name} suppresses sending`, () => {
    const t = load({ navigator, dataset: { pageViews: "true", maxBatch: "1" } });
    t.pz.track("click");
    t.pz.flush();
    t.runTimers();
    t.fire("window", "pagehide");
    assert.equal(t.fetches.length, 0);
    assert.equal(t.beacons.length, 0);
    assert.equal(Object.keys(t.listeners.document).length, 0, "no listeners installed");
  });
}

test("delegated clicks on data-pz-event, bad JSON properties ignored", () => {
  const t = load();
  const button = {
    nodeType: 1,
    attrs: { "data-pz-event": "click", "data-pz-props": '{"category": "cta", "tags": ["a"]}' },
    getAttribute(name) { return this.attrs[name] ?? null; },
    closest(sel) { return sel === "[data-pz-event]" ? this : null; },
  };
  const text = { nodeType: 3, parentElement: button };
  t.fire("document", "click", { target: text });
  button.attrs["data-pz-props"] = "{not json";
  t.fire("document", "click", { target: button });
  t.fire("document", "click", { target: { nodeType: 1, closest: () => null } });
  t.pz.flush();
  const events = t.fetches[0].body.events;
  assert.equal(events.length, 2);
  assert.deepEqual(events[0].properties, { category: "cta", tags: ["a"] });
  assert.deepEqual(events[1].properties, {});
});

test("page views only with data-page-views, on load and history navigation", () => {
  const off = load();
  off.pz.flush();
  assert.equal(off.fetches.length, 0, "no page_view by default");
  const t = load({ dataset: { pageViews: "true" } });
  t.window.history.pushState({}, "", "/shop");
  t.window.history.pushState({}, "", "/shop"); // same URL: not a new view
  t.window.location.href = "https://site.example/";
  t.fire("window", "popstate");
  t.pz.flush();
  const events = t.fetches[0].body.events;
  assert.deepEqual(events.map((e) => e.type), ["page_view", "page_view", "page_view"]);
  assert.deepEqual(events.map((e) => e.properties.url), [
    "https://site.example/", "https://site.example/shop", "https://site.example/",
  ]);
});

test("a page rendered with {% tracker_page_view %} reports its load with the render id", () => {
  const rendered = JSON.stringify({
    render_id: "0123456789abcdef0123456789abcdef",
    properties: { page_id: 7, tags: ["ai"], url: "/articles/a/" },
  });
  const loads = [load({ elements: { "pz-page-view": rendered } }), load({ elements: { "pz-page-view": rendered } })];
  const sent = loads.map((t) => { t.pz.flush(); return t.fetches[0].body.events; });
  for (const events of sent) {
    assert.equal(events.length, 1, "one page view per load");
    assert.equal(events[0].type, "page_view");
    assert.deepEqual(events[0].properties, {
      page_id: 7, tags: ["ai"], url: "/articles/a/", render_id: "0123456789abcdef0123456789abcdef",
    });
  }
  assert.ok(!sent[0][0].id.includes("0123456789abcdef"), "each load has its own random id");

  const broken = load({ elements: { "pz-page-view": "{not json" } });
  broken.pz.flush();
  assert.equal(broken.fetches.length, 0, "a malformed element sends nothing");
  const dnt = load({ navigator: { doNotTrack: "1" }, elements: { "pz-page-view": rendered } });
  dnt.pz.flush();
  assert.equal(dnt.fetches.length, 0, "nothing under Do Not Track");
  const spa = load({ dataset: { pageViews: "true" }, elements: { "pz-page-view": rendered } });
  spa.pz.flush();
  assert.equal(spa.fetches[0].body.events.length, 1, "a single-page app counts its own views");
  assert.equal(spa.fetches[0].body.events[0].properties.render_id, undefined);
});

test("a failed request is re-queued and retried with the same ids", async () => {
  const t = load();
  let fail = true;
  t.window.fetch = (url, init) => {
    t.fetches.push({ url, init, body: JSON.parse(init.body) });
    return fail ? Promise.reject(new TypeError("offline"))
      : Promise.resolve({ status: 202, json: () => Promise.resolve({}) });
  };
  t.pz.track("click");
  t.pz.flush();
  await tick();
  fail = false;
  t.runTimers();
  assert.equal(t.fetches.length, 2);
  assert.equal(t.fetches[1].body.events[0].id, t.fetches[0].body.events[0].id);
});

test("calls queued by the README's stub before the script loaded are replayed in order", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const stub = /<script>(window\.personalization=window\.personalization\|\|[^<]*)<\/script>/.exec(readme)[1];
  const t = load({
    before: `${stub}
      window.personalization.setVisitorToken("tok:sig");  // (in a browser window is the global)
      window.personalization.track("search", {query: "pricing"});
      window.personalization.track("click", {category: "cta"});`,
  });
  assert.equal(t.pz.version, 1, "the stub is replaced by the tracker");
  t.pz.flush();
  assert.equal(t.fetches.length, 1);
  assert.deepEqual(t.fetches[0].body.events.map((e) => e.type), ["search", "click"]);
  assert.deepEqual(t.fetches[0].body.events[0].properties, { query: "pricing" });
  assert.equal(t.fetches[0].init.headers["X-Visitor-Id"], "tok:sig");
});

const ZONE = (name) =>
  `window.Intl = {DateTimeFormat: function () { return {resolvedOptions: () => ({timeZone: ${JSON.stringify(name)}})}; }};`;

test("no pz_tz cookie before the server accepts an event (consent); then the zone, once", async () => {
  const t = load({ before: ZONE("America/Argentina/Buenos_Aires") });
  assert.equal(t.document.cookie, undefined, "no cookie on load before consent");
  t.pz.track("click", {});
  t.runTimers();
  await tick();
  await tick();
  assert.equal(t.document.cookie, "pz_tz=America/Argentina/Buenos_Aires; path=/; max-age=31536000; SameSite=Lax");
  const again = load({ before: ZONE("Asia/Tokyo") + 'document.cookie = "a=1; pz_tz=Asia/Tokyo";' });
  assert.equal(again.document.cookie, "a=1; pz_tz=Asia/Tokyo", "an unchanged zone is not rewritten");
  const moved = load({ before: ZONE("Asia/Tokyo") + 'document.cookie = "pz_tz=Europe/Paris";' });
  assert.equal(moved.document.cookie, "pz_tz=Asia/Tokyo; path=/; max-age=31536000; SameSite=Lax",
    "a visitor who already has the cookie gets it kept current on load");
});

test("events ignored for want of consent set no pz_tz, and remove one", async () => {
  const refused = { accepted: 0, ignored: 1, ignored_reason: "no_consent", visitor_token: null };
  const t = load({ before: ZONE("Europe/Paris"), fetchResponse: refused });
  t.pz.track("click", {});
  t.runTimers();
  await tick();
  await tick();
  assert.equal(t.document.cookie, undefined);
  const withdrawn = load({ before: ZONE("Europe/Paris") + 'document.cookie = "pz_tz=Europe/Paris";', fetchResponse: refused });
  withdrawn.pz.track("click", {});
  withdrawn.runTimers();
  await tick();
  await tick();
  assert.equal(withdrawn.document.cookie, "pz_tz=; path=/; max-age=0; SameSite=Lax");
});

test("no pz_tz cookie for an odd zone name or when turned off, even after consent", async () => {
  const accepted = async (options) => {
    const t = load(options);
    t.pz.track("click", {});
    t.runTimers();
    await tick();
    await tick();
    assert.equal(t.fetches.length, 1);
    return t.document.cookie;
  };
  assert.equal(await accepted({ before: ZONE("x; domain=evil.example") }), undefined);
  assert.equal(await accepted({ before: ZONE("") }), undefined);
  assert.equal(await accepted({ dataset: { timezoneCookie: "false" }, before: ZONE("Europe/Paris") }), undefined);
});
