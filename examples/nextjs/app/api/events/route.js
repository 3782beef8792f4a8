import { cookies, headers } from "next/headers";
import { NextResponse } from "next/server";
import { TIMEZONE_COOKIE, TOKEN_COOKIE, sendEvents, visitorContext } from "../../../lib/personalization";

// POST {"events": [...]} from the browser (sendBeacon): forwarded with the visitor's token.
export async function POST(request) {
  const jar = await cookies();
  const token = jar.get(TOKEN_COOKIE)?.value;
  if (!token) return new NextResponse(null, { status: 204 }); // no answer to the banner yet
  const { events } = await request.json();
  const h = await headers();
  // The beacon comes from the page it reports on, so its Referer is that page's URL.
  const context = visitorContext(h, { url: h.get("referer") ?? "", timezone: jar.get(TIMEZONE_COOKIE)?.value });
  const { status, body } = await sendEvents({ token, events, context });
  return NextResponse.json(body, { status });
}
