"use client";

import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";

function newId() {
  return crypto.randomUUID();
}

function send(events) {
  // Same-origin route handler, which adds the visitor token and the API key.
  const body = JSON.stringify({ events });
  if (!navigator.sendBeacon?.("/api/events", new Blob([body], { type: "application/json" }))) {
    fetch("/api/events", { method: "POST", body, keepalive: true, headers: { "Content-Type": "application/json" } });
  }
}

/** A link that reports its click, with the decision it belongs to, for attribution. */
export function TrackedLink({ href, decisionId, placement, children, ...props }) {
  function onClick() {
    const properties = { link: href };
    if (decisionId) properties.decision_id = decisionId;
    if (placement) properties.placement = placement;
    send([{ type: "click", id: newId(), properties }]);
  }
  return (
    <a href={href} onClick={onClick} {...props}>
      {children}
    </a>
  );
}

/**
 * Records a page view once the page is shown (not when Next.js merely prefetches it).
 * `eventId` comes from the server render, one per page view: React's strict mode (npm run dev)
 * runs this effect twice, and the repeated id makes Wagtail count it once.
 */
export function TrackPageView({ eventId, properties }) {
  useEffect(() => {
    send([{ type: "page_view", id: eventId, properties }]);
  }, [eventId]); // eslint-disable-line react-hooks/exhaustive-deps
  return null;
}

/** Rendered when Wagtail refused the visitor's token: forget it and ask for consent again. */
export function StartAgain() {
  const router = useRouter();
  useEffect(() => {
    fetch("/api/consent", { method: "DELETE" }).then(() => router.refresh());
  }, [router]);
  return null;
}

/** Asks for consent; the route handler stores the visitor token in an HttpOnly cookie. */
export function ConsentBanner() {
  const router = useRouter();
  const [busy, setBusy] = useState(false);

  async function answer(all) {
    setBusy(true);
    const purposes = { analytics: all, personalization: all, marketing: false };
    const res = await fetch("/api/consent", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ purposes }),
    });
    if (res.ok && all) {
      // Time-of-day segments use the visitor's own clock.
      const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      document.cookie = `pz_tz=${encodeURIComponent(zone)}; path=/; max-age=31536000; samesite=lax`;
    }
    setBusy(false);
    if (res.ok) router.refresh(); // server components render again, now with the token
  }

  return (
    <aside role="dialog" aria-label="Cookie consent">
      <p>With your consent we use a cookie and your browsing on this site to tailor what you see.</p>
      <button type="button" disabled={busy} onClick={() => answer(true)}>Accept all</button>{" "}
      <button type="button" disabled={busy} onClick={() => answer(false)}>Only necessary</button>
    </aside>
  );
}
