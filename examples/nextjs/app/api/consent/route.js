import { cookies } from "next/headers";
import { NextResponse } from "next/server";
import { TOKEN_COOKIE, recordConsent } from "../../../lib/personalization";

// POST {"purposes": {"analytics": true, "personalization": true, "marketing": false}}
export async function POST(request) {
  const { purposes } = await request.json();
  const token = (await cookies()).get(TOKEN_COOKIE)?.value;
  const answer = await recordConsent({ token, purposes });
  const response = NextResponse.json({ purposes: answer.purposes });
  // Kept even after a refusal: it is what lets us remember the refusal.
  response.cookies.set(TOKEN_COOKIE, answer.visitor_token, {
    httpOnly: true,
    sameSite: "lax",
    secure: process.env.NODE_ENV === "production",
    path: "/",
    maxAge: 60 * 60 * 24 * 395,
  });
  return response;
}
