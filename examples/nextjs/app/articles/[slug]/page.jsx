import { cookies, headers } from "next/headers";
import { notFound } from "next/navigation";
import { Blocks } from "../../../components/blocks";
import { StartAgain, TrackPageView } from "../../../components/client";
import {
  TIMEZONE_COOKIE,
  TOKEN_COOKIE,
  decide,
  fetchPage,
  pageUrl,
  visitorContext,
} from "../../../lib/personalization";

const PLACEMENT = process.env.PERSONALIZATION_PLACEMENT ?? "welcome-banner";
const PAGE_TYPE = process.env.WAGTAIL_ARTICLE_TYPE ?? "demo.ArticlePage";

export default async function Article({ params, searchParams }) {
  const [{ slug }, query, h, jar] = await Promise.all([params, searchParams, headers(), cookies()]);
  const token = jar.get(TOKEN_COOKIE)?.value;
  const context = visitorContext(h, {
    url: pageUrl(h, `/articles/${slug}`, query),
    referrer: h.get("referer"),
    timezone: jar.get(TIMEZONE_COOKIE)?.value,
  });
  // Decide first: its segment_key lets a CDN in front of the pages API answer from its cache.
  const decision = await decide([PLACEMENT], { token, context });
  const page = await fetchPage(
    { type: PAGE_TYPE, slug },
    { token, segmentKey: decision?.segment_key, headers: h },
  );
  if (!page) notFound();
  const banner = decision?.placements[PLACEMENT];

  return (
    <main>
      {banner && (
        <aside>
          <Blocks blocks={banner.content} decisionId={banner.decision_id} placement={PLACEMENT} />
        </aside>
      )}
      <article>
        <h1>{page.title}</h1>
        {page.intro && <p>{page.intro}</p>}
        <Blocks blocks={page.body ?? []} />
      </article>
      {decision?.tokenRejected && <StartAgain />}
      <TrackPageView
        eventId={crypto.randomUUID()}
        properties={{ page_id: page.id, page_type: page.meta.type, tags: page.tags ?? [], category: page.category ?? "" }}
      />
    </main>
  );
}
