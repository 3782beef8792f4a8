// StreamField blocks as the decide API and the pages API return them: {type, value, id}.
import { resolveLink } from "../lib/personalization";
import { TrackedLink } from "./client";

export function Blocks({ blocks, decisionId, placement }) {
  return blocks.map((block, index) => {
    const key = block.id ?? index;
    switch (block.type) {
      case "heading":
        return <h2 key={key}>{block.value}</h2>;
      case "paragraph":
        // Rich text written by editors, as display HTML (we asked for rich_text_format=html).
        return <div key={key} dangerouslySetInnerHTML={{ __html: block.value }} />;
      case "quote":
        return <blockquote key={key}>{block.value}</blockquote>;
      case "call_to_action":
        return (
          <p key={key}>
            <TrackedLink
              href={resolveLink(block.value.link)}
              className={`btn ${block.value.style}`}
              decisionId={decisionId}
              placement={placement}
            >
              {block.value.text}
            </TrackedLink>
          </p>
        );
      case "personalized":
        // A PersonalizedBlock in a page body (pages API): already resolved to one variant.
        return <Blocks key={key} blocks={block.value.content} placement={placement} />;
      default:
        // e.g. "image": an image id, to look up in Wagtail's images API if you register it.
        return null;
    }
  });
}
