import { cookies } from "next/headers";
import { NextResponse } from "next/server";
import { TOKEN_COOKIE, recordConsent, tokenCookieOptions } from "../../../lib/personalization";

const PURPOSES = ["analytics", "personalization", "marketing"];

// POST {"purposes": {"analytics": true, "personalization": true, "marketing": false}}
export async function POST(request) {
  let body;
  try {
    body = await request.json();
  } catch {
    return NextResponse.json({ error: "Expected a JSON body." }, { status: 400 });
  }
  const purposes = body?.purposes;
  if (
    !purposes ||
    typeof purposes !== "object" ||
    Object.entries(purposes).some(([name, value]) => !PURPOSES.includes(name) || typeof value !== "boolean")
  ) {
    return NextResponse.json({ error: `purposes: an object of booleans (${PURPOSES.join(", ")}).` }, { status: 400 });
  }
  const token = (await cookies()).get(TOKEN_COOKIE)?.value;
  let answer;
  try {
    answer = await recordConsent({ token, purposes });
  } catch (error) {
    console.error("personalization:", error);
    return NextResponse.json({ error: "Consent could not be recorded; try again." }, { status: 502 });
  }
  const response = NextResponse.json({ purposes: answer.purposes });
  // Kept even after a refusal: it is what lets us remember the refusal.
  response.cookies.set(TOKEN_COOKIE, answer.visitor_token, tokenCookieOptions());
  return response;
}

// DELETE: forget the visitor token (it was refused): the banner asks again, as for someone new.
export async function DELETE() {
  const response = new NextResponse(null, { status: 204 });
  response.cookies.delete(TOKEN_COOKIE);
  return response;
}
