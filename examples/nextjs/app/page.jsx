import { cookies, headers } from "next/headers";
import Link from "next/link";
import { Blocks } from "../components/blocks";
import { StartAgain } from "../components/client";
import { TIMEZONE_COOKIE, TOKEN_COOKIE, decide, pageUrl, visitorContext } from "../lib/personalization";

const PLACEMENT = process.env.PERSONALIZATION_PLACEMENT ?? "welcome-banner";

export default async function Home({ searchParams }) {
  // Awaiting works on Next.js 14 (plain values) and 15+ (promises) alike.
  const [h, jar, query] = await Promise.all([headers(), cookies(), searchParams]);
  const token = jar.get(TOKEN_COOKIE)?.value;
  const context = visitorContext(h, {
    url: pageUrl(h, "/", query),
    referrer: h.get("referer"),
    timezone: jar.get(TIMEZONE_COOKIE)?.value,
  });
  const decision = await decide([PLACEMENT], { token, context });
  const banner = decision?.placements[PLACEMENT];

  return (
    <main>
      <h1>Northwind Cloud</h1>
      {banner && (
        <section data-variant={banner.variant_name || "default"}>
          <Blocks blocks={banner.content} decisionId={banner.decision_id} placement={PLACEMENT} />
        </section>
      )}
      <p>
        <Link href="/articles/announcing-usage-based-pricing">An article from the pages API</Link>
      </p>
      <p>Your segments: {decision?.segments.join(", ") || "none"}</p>
      {decision?.tokenRejected && <StartAgain />}
    </main>
  );
}
