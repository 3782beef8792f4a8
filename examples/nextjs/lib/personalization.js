// Server-side helpers for the Wagtail personalization API. Import them only from server
// components and route handlers: they use the API key, which must never reach the browser.

const WAGTAIL_URL = (process.env.WAGTAIL_URL ?? "http://127.0.0.1:8000").replace(/\/$/, "");
const API = `${WAGTAIL_URL}/api/personalization/v1`;

// Where browsers reach Wagtail's own pages (links in content that this example has no route for).
const WAGTAIL_PUBLIC_URL = (process.env.WAGTAIL_PUBLIC_URL ?? WAGTAIL_URL).replace(/\/$/, "");

// The visitor's signed token (from the consent endpoint) and their time zone, kept in cookies
// on the frontend's own domain.
export const TOKEN_COOKIE = "pz_token";
export const TIMEZONE_COOKIE = "pz_tz";

// What the browser may report through /api/events. The route forwards with the API key, which
// Wagtail trusts with every type, so trusted ones (purchase, signup) must never come from here:
// send those from server code that knows they happened (an order confirmation, a sign-up form).
export const BROWSER_EVENT_TYPES = new Set(["page_view", "content_view", "click", "search"]);

/**
 * Options of the token cookie. `Secure` in production, so the cookie never travels over plain
 * HTTP; set COOKIE_SECURE=false to try `next start` over http://<a network address> (the browser
 * would otherwise drop the cookie, and with it the consent, on every click).
 */
export function tokenCookieOptions() {
  const secure = process.env.COOKIE_SECURE
    ? process.env.COOKIE_SECURE === "true"
    : process.env.NODE_ENV === "production";
  return { httpOnly: true, sameSite: "lax", secure, path: "/", maxAge: 60 * 60 * 24 * 395 };
}

/**
 * Whether an API answer says the visitor token itself is not accepted (stale or forged): a 400
 * naming `visitor_id` or the `X-Visitor-Id` header it came in.
 */
export function tokenRejected(status, body) {
  if (status !== 400 || body == null || typeof body !== "object") return false;
  return Object.keys(body).some((key) => key.toLowerCase().replace(/-/g, "_").endsWith("visitor_id"));
}

/**
 * Where a link in editors' content goes here: an article to this app's article route, anything
 * else (products, listings) to the page on the Wagtail site, so no link leads to a 404.
 */
export function resolveLink(link) {
  const article = /^\/articles\/([\w-]+)\/?$/.exec(link ?? "");
  if (article) return `/articles/${article[1]}`;
  if (typeof link === "string" && link.startsWith("/")) return `${WAGTAIL_PUBLIC_URL}${link}`;
  return link;
}

// Headers that request conditions read (device, language, referrer, country, privacy signals):
// the pages API sees only what we pass on. Country and region headers are the ones the plugin
// reads by default (PERSONALIZATION_COUNTRY_HEADERS / PERSONALIZATION_REGION_HEADERS).
const FORWARDED_HEADERS = [
  "user-agent",
  "accept-language",
  "referer",
  "dnt",
  "sec-gpc",
  "cf-ipcountry",
  "cloudfront-viewer-country",
  "cloudfront-viewer-country-region",
  "x-vercel-ip-country",
  "x-vercel-ip-country-region",
];

function apiHeaders(token) {
  const headers = {
    "Content-Type": "application/json",
    Authorization: `Api-Key ${process.env.PERSONALIZATION_API_KEY}`,
  };
  if (token) headers["X-Visitor-Id"] = token;
  return headers;
}

function validTimezone(name) {
  if (!name) return "";
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return name;
  } catch {
    return ""; // the API answers 400 to an unknown time zone
  }
}

/** The page's absolute URL as the browser asked for it (query string included). */
export function pageUrl(h, path, searchParams = {}) {
  const proto = h.get("x-forwarded-proto") ?? "http";
  const host = h.get("x-forwarded-host") ?? h.get("host");
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(searchParams)) {
    for (const item of [].concat(value)) query.append(name, item);
  }
  const qs = query.toString();
  return `${proto}://${host}${path}${qs ? `?${qs}` : ""}`;
}

/**
 * The `context` of a decide or events call: what the visitor's browser told us. An API-key
 * client is trusted with these fields; the plugin uses them instead of our server's headers.
 */
export function visitorContext(h, { url = "", referrer = "", timezone = "" } = {}) {
  const country = h.get("cf-ipcountry") || h.get("x-vercel-ip-country") || "";
  const context = {
    url,
    referrer: referrer ?? "",
    user_agent: (h.get("user-agent") ?? "").slice(0, 512),
    language: (h.get("accept-language") ?? "").split(",")[0].split(";")[0].trim().slice(0, 35),
    country: /^[A-Za-z]{2}$/.test(country) ? country : "",
    region: (h.get("x-vercel-ip-country-region") ?? "").slice(0, 16),
    dnt: h.get("dnt") === "1",
    gpc: h.get("sec-gpc") === "1",
  };
  const tz = validTimezone(timezone || h.get("x-vercel-ip-timezone"));
  if (tz) context.timezone = tz;
  return context;
}

/**
 * Which variant of each placement (a Personalized content slug) this visitor sees.
 * Returns null when the API cannot be reached, so the page renders without personalization.
 * `tokenRejected: true` in the answer means the visitor's token was refused (stale, forged):
 * the page then renders <StartAgain />, which drops the cookie so they start as someone new.
 */
export async function decide(placements, { token, context }) {
  try {
    const res = await fetch(`${API}/decide?rich_text_format=html`, {
      method: "POST",
      headers: apiHeaders(token),
      body: JSON.stringify({ placements, context }),
      cache: "no-store",
    });
    if (res.status === 400 && token) {
      const body = await res.json().catch(() => null);
      if (tokenRejected(res.status, body)) {
        // Decide as for someone new rather than not at all, and say so.
        const fresh = await decide(placements, { token: null, context });
        return fresh && { ...fresh, tokenRejected: true };
      }
      throw new Error(`400 ${JSON.stringify(body)}`);
    }
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    return await res.json();
  } catch (error) {
    console.error("personalization: decide failed:", error);
    return null;
  }
}

/** Record consent; a new visitor gets a fresh id. Resolves to {visitor_token, purposes}. */
export async function recordConsent({ token, purposes }) {
  // With an API key we name the visitor ourselves: their signed token, or a new random id.
  // Never pass on an id that came from the browser as a bare UUID: the key may act for anyone.
  const res = await fetch(`${API}/consent`, {
    method: "POST",
    headers: apiHeaders(),
    body: JSON.stringify({ visitor_id: token ?? crypto.randomUUID(), purposes }),
    cache: "no-store",
  });
  if (res.status === 400 && token) return recordConsent({ token: null, purposes }); // stale token
  if (!res.ok) throw new Error(`consent: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Send a batch of events for a visitor; resolves to the API's answer (202 with counts). */
export async function sendEvents({ token, events, context }) {
  const res = await fetch(`${API}/events`, {
    method: "POST",
    headers: apiHeaders(token),
    body: JSON.stringify({ events, context }),
    cache: "no-store",
  });
  return { status: res.status, body: await res.json().catch(() => ({})) };
}

/**
 * One page from Wagtail's pages API, its personalized blocks resolved for this visitor.
 * `segmentKey` (from a decide answer) lets a CDN in front of Wagtail answer from its cache.
 */
export async function fetchPage({ type, slug }, { token, segmentKey, headers: h }) {
  const params = new URLSearchParams({ type, slug, fields: "*", rich_text_format: "html" });
  const headers = { Accept: "application/json" };
  for (const name of FORWARDED_HEADERS) {
    const value = h.get(name);
    if (value) headers[name] = value;
  }
  if (token) headers["X-Visitor-Id"] = token;
  if (segmentKey) headers["X-Personalization-Key"] = segmentKey;
  const res = await fetch(`${WAGTAIL_URL}/api/v2/pages/?${params}`, { headers, cache: "no-store" });
  if (!res.ok) throw new Error(`pages API: ${res.status} ${await res.text()}`);
  const { items } = await res.json();
  return items[0] ?? null;
}
