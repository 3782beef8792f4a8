import { cookies, headers } from "next/headers";
import { NextResponse } from "next/server";
import {
  BROWSER_EVENT_TYPES,
  TIMEZONE_COOKIE,
  TOKEN_COOKIE,
  sendEvents,
  tokenRejected,
  visitorContext,
} from "../../../lib/personalization";

const ID = /^[A-Za-z0-9_.:-]{1,64}$/;

function bad(message) {
  return NextResponse.json({ error: message }, { status: 400 });
}

// POST {"events": [...]} from the browser (sendBeacon): forwarded with the visitor's token.
export async function POST(request) {
  let body;
  try {
    body = await request.json();
  } catch {
    return bad("Expected a JSON body.");
  }
  const events = body?.events;
  if (!Array.isArray(events) || events.length === 0 || events.length > 50) {
    return bad("events: a list of 1 to 50 events.");
  }
  for (const [i, event] of events.entries()) {
    if (!event || typeof event !== "object" || !BROWSER_EVENT_TYPES.has(event.type)) {
      // The API key makes Wagtail trust every type: only browser-safe ones pass through here.
      return bad(`events[${i}].type: not an event the browser may send.`);
    }
    if (typeof event.id !== "string" || !ID.test(event.id)) {
      return bad(`events[${i}].id: required, so a repeated send is counted once.`);
    }
  }
  const jar = await cookies();
  const token = jar.get(TOKEN_COOKIE)?.value;
  if (!token) return new NextResponse(null, { status: 204 }); // no answer to the banner yet
  const h = await headers();
  // The beacon comes from the page it reports on, so its Referer is that page's URL.
  const context = visitorContext(h, { url: h.get("referer") ?? "", timezone: jar.get(TIMEZONE_COOKIE)?.value });
  const { status, body: answer } = await sendEvents({ token, events, context });
  if (tokenRejected(status, answer)) {
    // A stale or forged token: forget it, so the banner asks again and a new visitor starts.
    const response = NextResponse.json({ error: "Unknown visitor; ask for consent again." }, { status: 409 });
    response.cookies.delete(TOKEN_COOKIE);
    return response;
  }
  return NextResponse.json(answer, { status });
}
