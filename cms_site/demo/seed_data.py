"""Content for ``seed_demo``: a fictional B2B software company, Northwind Cloud.

Articles and products are plain data so the command stays about *how* to seed, not *what*.
Each article's ``sections`` is a list of (heading, paragraph) pairs; ``quote`` is optional.
"""

from __future__ import annotations

HOME = {
    "title": "Northwind Cloud",
    "intro": (
        "<p>Observability, security and data tooling for teams that ship every day. "
        "Read our guides, follow the news, and find the plan that fits your team.</p>"
    ),
    "body": [
        ("heading", "Built for teams of every size"),
        (
            "paragraph",
            "<p>From two-person startups to regulated enterprises, Northwind Cloud gives you "
            "one place to collect, understand and act on what your systems are doing. "
            "Start free, upgrade when you need to, and never pay for seats you don't use.</p>",
        ),
    ],
}

ARTICLE_INDEX = {
    "title": "Articles",
    "slug": "articles",
    "intro": "<p>News, practical guides, customer stories and opinion from the Northwind team.</p>",
}

PRODUCT_INDEX = {
    "title": "Products",
    "slug": "products",
    "intro": "<p>Software plans, hardware, professional services and training.</p>",
}

ARTICLES: list[dict] = [
    {
        "slug": "announcing-usage-based-pricing",
        "title": "Announcing usage-based pricing for every plan",
        "category": "news",
        "tags": ["pricing", "startup"],
        "intro": "Pay for the data you ingest, not the seats you hold: our new pricing explained.",
        "sections": [
            (
                "What changes",
                "From next month every plan is billed on ingested gigabytes and retained days. "
                "Seats become free and unlimited, so the whole team can look at the same "
                "dashboards without a procurement conversation.",
            ),
            (
                "What stays the same",
                "Existing annual contracts keep their terms until renewal, and the free tier "
                "still includes 5 GB a month. Nobody pays more for the same usage; most teams "
                "we modelled pay between 10% and 30% less.",
            ),
        ],
        "quote": (
            "Seats were a tax on collaboration. We wanted everyone on "
            "the incident call to see the data."
        ),
    },
    {
        "slug": "soc2-type-ii-report-available",
        "title": "Our SOC 2 Type II report is now available",
        "category": "news",
        "tags": ["security", "enterprise"],
        "intro": "Twelve months of audited controls, available under NDA from the trust centre.",
        "sections": [
            (
                "Scope of the audit",
                "The audit covered security, availability and confidentiality across our "
                "production infrastructure in the EU and US regions, including change "
                "management, access reviews and incident response.",
            ),
            (
                "How to request it",
                "Enterprise customers can download the report from the trust centre. Prospects "
                "can request it through their account executive; we sign mutual NDAs within a "
                "working day.",
            ),
        ],
    },
    {
        "slug": "introducing-northwind-ai-assistant",
        "title": "Introducing the Northwind AI assistant",
        "category": "news",
        "tags": ["ai", "analytics"],
        "intro": (
            "Ask questions about your telemetry in plain language and get a query you can edit."
        ),
        "sections": [
            (
                "Queries, not answers",
                "The assistant writes a query and shows it to you before it runs. You stay in "
                "control of what is computed, and you learn the query language as you go.",
            ),
            (
                "Your data stays yours",
                "Prompts and results are never used to train shared models. Enterprise plans can "
                "switch the assistant off per workspace or pin it to an EU-hosted model.",
            ),
        ],
    },
    {
        "slug": "new-frankfurt-region",
        "title": "A new region in Frankfurt",
        "category": "news",
        "tags": ["enterprise", "security"],
        "intro": "Data residency in Germany, with the same features and latency you expect.",
        "sections": [
            (
                "Why Frankfurt",
                "Customers in financial services and healthcare asked for storage that never "
                "leaves Germany. The new region runs on dedicated infrastructure with "
                "customer-managed keys available from day one.",
            ),
            (
                "Migrating a workspace",
                "Existing EU workspaces can move with a scheduled, zero-downtime migration. "
                "Open a ticket and we will propose a window that suits your team.",
            ),
        ],
    },
    {
        "slug": "kubernetes-integration-ga",
        "title": "The Kubernetes integration is generally available",
        "category": "news",
        "tags": ["devops"],
        "intro": "One Helm chart, automatic discovery, and dashboards for every namespace.",
        "sections": [
            (
                "Install in minutes",
                "Add the Helm repository, set your ingest key and install. The agent discovers "
                "pods, services and nodes and labels every metric with its namespace and "
                "workload.",
            ),
            (
                "What's included",
                "Pre-built dashboards for cluster health, pod restarts and resource requests "
                "versus usage, plus alerts for crash loops and evictions that you can tune.",
            ),
        ],
    },
    {
        "slug": "startup-programme-2025",
        "title": "Applications open for the Northwind startup programme",
        "category": "news",
        "tags": ["startup", "pricing"],
        "intro": (
            "A year of the Team plan free, office hours with our engineers, and credits for AI."
        ),
        "sections": [
            (
                "Who can apply",
                "Companies under three years old with less than five million in funding. "
                "Being backed by one of our partner accelerators fast-tracks the review.",
            ),
            (
                "What you get",
                "Twelve months of the Team plan, 50 GB of monthly ingest, monthly office hours "
                "with a solutions engineer and a private channel with other founders.",
            ),
        ],
    },
    {
        "slug": "onboarding-checklist-first-week",
        "title": "Your first week: an onboarding checklist",
        "category": "guides",
        "tags": ["onboarding", "startup"],
        "intro": "Seven small steps that get a new workspace from empty to genuinely useful.",
        "sections": [
            (
                "Days one and two",
                "Connect one service you care about, not ten. Install the agent, confirm data "
                "arrives, and build a single dashboard that answers a question someone "
                "actually asked in the last sprint.",
            ),
            (
                "Days three to seven",
                "Invite the team, add a second source, and create one alert that would have "
                "caught your last incident. Then schedule a fifteen-minute review to delete what "
                "nobody looked at.",
            ),
        ],
    },
    {
        "slug": "sso-and-scim-setup",
        "title": "Setting up SSO and SCIM provisioning",
        "category": "guides",
        "tags": ["security", "enterprise", "onboarding"],
        "intro": "Connect your identity provider and let it manage who has access, automatically.",
        "sections": [
            (
                "Single sign-on",
                "Create a SAML application in your identity provider, paste the metadata URL "
                "into workspace settings and test with a single user before enforcing SSO for "
                "everyone.",
            ),
            (
                "Provisioning with SCIM",
                "Generate a SCIM token, map groups to Northwind roles and let your provider "
                "create and remove users. Offboarding then happens in one place, the same day.",
            ),
        ],
    },
    {
        "slug": "alerting-that-doesnt-page-you-at-3am",
        "title": "Alerting that doesn't page you at 3am for nothing",
        "category": "guides",
        "tags": ["devops", "analytics"],
        "intro": "Alert on symptoms, route by severity, and review every page you receive.",
        "sections": [
            (
                "Symptoms over causes",
                "Page on what users feel: error rate, latency at the 99th percentile, failed "
                "checkouts. CPU at 90% is a dashboard, not a page.",
            ),
            (
                "A weekly alert review",
                "Every page gets a label: actionable, noisy or duplicate. Anything noisy twice "
                "in a month is tuned or deleted. Teams that do this halve their pages within a "
                "quarter.",
            ),
        ],
        "quote": "If an alert doesn't need a human right now, it shouldn't wake one up.",
    },
    {
        "slug": "cost-control-for-log-ingest",
        "title": "Keeping log ingest costs under control",
        "category": "guides",
        "tags": ["pricing", "devops", "analytics"],
        "intro": "Sampling, routing and retention tiers: where the savings really are.",
        "sections": [
            (
                "Find the noisy sources",
                "The usage explorer ranks sources by volume. In most workspaces three services "
                "produce over half the logs, and debug logging left on in production is the "
                "usual culprit.",
            ),
            (
                "Tier your retention",
                "Keep fifteen days hot for investigation and archive the rest to cheap storage "
                "that you can rehydrate on demand. Audit logs can go straight to the archive.",
            ),
        ],
    },
    {
        "slug": "building-product-analytics-dashboards",
        "title": "Building product analytics dashboards your team will use",
        "category": "guides",
        "tags": ["analytics", "startup"],
        "intro": "Start with a decision you need to make, then work backwards to the chart.",
        "sections": [
            (
                "One question per dashboard",
                "A dashboard called 'Activation' that answers 'did this week's signups reach "
                "their first report?' gets opened. A dashboard called 'Metrics' does not.",
            ),
            (
                "Funnels and cohorts",
                "Use funnels to find where people stop, and cohorts to see whether a change "
                "helped the people who arrived after it. Annotate releases so the chart tells "
                "the story.",
            ),
        ],
    },
    {
        "slug": "detecting-anomalies-with-ai",
        "title": "Detecting anomalies with machine learning, sensibly",
        "category": "guides",
        "tags": ["ai", "devops", "analytics"],
        "intro": "Seasonality-aware baselines catch what static thresholds miss, if you tune them.",
        "sections": [
            (
                "How the baselines work",
                "Each metric gets a model of its daily and weekly rhythm. An anomaly is a value "
                "outside the expected band for that hour, not just a large number.",
            ),
            (
                "Tuning sensitivity",
                "Start in notify-only mode for two weeks and label what fires. Then raise the "
                "sensitivity on metrics where misses hurt and lower it where noise does.",
            ),
        ],
    },
    {
        "slug": "securing-api-keys",
        "title": "Securing API keys and ingest tokens",
        "category": "guides",
        "tags": ["security", "devops"],
        "intro": (
            "Scope them narrowly, rotate them regularly and never commit them to a repository."
        ),
        "sections": [
            (
                "Least privilege",
                "Ingest tokens can only write. Query keys should be read-only and scoped to the "
                "datasets a service needs. Admin keys belong in a vault, not in CI variables.",
            ),
            (
                "Rotation without downtime",
                "Create the new key, deploy it alongside the old one, watch the usage graph "
                "move across and only then revoke the old key.",
            ),
        ],
    },
    {
        "slug": "ci-cd-pipeline-observability",
        "title": "Observability for your CI/CD pipeline",
        "category": "guides",
        "tags": ["devops", "onboarding"],
        "intro": "Slow builds are an incident that happens a hundred times a day.",
        "sections": [
            (
                "Trace your builds",
                "Send each pipeline run as a trace with one span per step. The slowest steps "
                "and the flakiest tests become obvious within a day of data.",
            ),
            (
                "Deployment markers",
                "Annotate every deploy on your service dashboards. When a graph changes shape "
                "you will know which change to look at first.",
            ),
        ],
    },
    {
        "slug": "case-study-finbank-compliance",
        "title": "How FinBank met its audit deadline with a single log platform",
        "category": "case-studies",
        "tags": ["security", "enterprise", "analytics"],
        "intro": (
            "Replacing four logging tools with one helped a regulated bank pass its audit early."
        ),
        "sections": [
            (
                "The challenge",
                "FinBank's auditors wanted a year of access logs, searchable, with proof that "
                "they had not been altered. The logs lived in four systems with four retention "
                "policies.",
            ),
            (
                "The result",
                "Within eight weeks all sources flowed into immutable storage in the Frankfurt "
                "region. The audit evidence pack now takes an afternoon instead of a month.",
            ),
        ],
        "quote": (
            "Our auditors asked for the evidence and we sent a link. "
            "That had never happened before."
        ),
    },
    {
        "slug": "case-study-shoply-black-friday",
        "title": "Shoply's Black Friday, with no surprises",
        "category": "case-studies",
        "tags": ["devops", "startup", "analytics"],
        "intro": (
            "A fast-growing store scaled tenfold for a weekend and saw every bottleneck coming."
        ),
        "sections": [
            (
                "Load testing with real dashboards",
                "Shoply replayed last year's traffic at three times the volume and watched the "
                "same dashboards they would use on the day. Two database indexes and one cache "
                "later, the checkout held.",
            ),
            (
                "On the day",
                "Anomaly alerts flagged a payment provider slowdown eleven minutes before "
                "customers noticed, and traffic was switched to the backup provider.",
            ),
        ],
    },
    {
        "slug": "case-study-medisync-ai-triage",
        "title": "MediSync cut alert fatigue by 60% with AI triage",
        "category": "case-studies",
        "tags": ["ai", "enterprise", "security"],
        "intro": "A healthcare platform let machine learning group related alerts into incidents.",
        "sections": [
            (
                "Too many pages",
                "MediSync's on-call engineers received over two hundred alerts a week, most of "
                "them symptoms of the same few problems.",
            ),
            (
                "Grouping into incidents",
                "AI triage now groups correlated alerts into a single incident with a suggested "
                "cause. Pages fell by 60% and median time to resolve by a third.",
            ),
        ],
    },
    {
        "slug": "case-study-launchpad-onboarding",
        "title": "LaunchPad onboarded 40 engineers in a month",
        "category": "case-studies",
        "tags": ["onboarding", "startup"],
        "intro": (
            "A scale-up doubled its engineering team and kept everyone on the same dashboards."
        ),
        "sections": [
            (
                "Templates for every team",
                "LaunchPad built one dashboard template per service type. New services got "
                "monitoring on their first deploy, without a ticket.",
            ),
            (
                "Learning by doing",
                "New engineers shadowed one on-call shift in their first fortnight, using the "
                "same runbooks linked from every alert.",
            ),
        ],
    },
    {
        "slug": "case-study-globex-cost-savings",
        "title": "Globex saved 35% on observability spend",
        "category": "case-studies",
        "tags": ["pricing", "enterprise", "devops"],
        "intro": (
            "Usage-based pricing and retention tiers turned a growing bill into a shrinking one."
        ),
        "sections": [
            (
                "Where the money went",
                "Half of Globex's spend was debug logs kept for ninety days that nobody queried "
                "after the first week.",
            ),
            (
                "What they changed",
                "Sampling at the agent, fifteen-day hot retention and a cold archive brought "
                "the bill down by a third while keeping every log auditors might ask for.",
            ),
        ],
    },
    {
        "slug": "opinion-security-is-a-product-feature",
        "title": "Security is a product feature, not a checkbox",
        "category": "opinion",
        "tags": ["security", "enterprise"],
        "intro": "Buyers can tell the difference between a compliance badge and a secure product.",
        "sections": [
            (
                "Badges are table stakes",
                "Certifications open the door, but security reviews are increasingly run by "
                "engineers who read the architecture, not the logo wall.",
            ),
            (
                "Make it visible",
                "Audit logs, SSO on every plan and clear data residency are features users "
                "touch every day. Treat them with the same care as the dashboard.",
            ),
        ],
    },
    {
        "slug": "opinion-ai-will-not-replace-on-call",
        "title": "AI won't replace your on-call engineer",
        "category": "opinion",
        "tags": ["ai", "devops"],
        "intro": "It will make them faster, if we design the tools around their judgement.",
        "sections": [
            (
                "Context, not conclusions",
                "The best use of AI during an incident is gathering context: recent deploys, "
                "similar past incidents, the runbook. Deciding what to do stays human.",
            ),
            (
                "Trust is earned",
                "Every suggestion should show its evidence. An assistant that is confidently "
                "wrong once at 3am will be ignored for the rest of the year.",
            ),
        ],
    },
    {
        "slug": "opinion-pricing-pages-should-be-honest",
        "title": "Pricing pages should answer the question 'what will I pay?'",
        "category": "opinion",
        "tags": ["pricing", "startup"],
        "intro": "'Contact sales' on every tier tells buyers you don't know either.",
        "sections": [
            (
                "Show the number",
                "Publish list prices and a calculator. Buyers who need a discount will still "
                "talk to sales; everyone else will thank you for saving them a call.",
            ),
            (
                "Predictability beats cheapness",
                "Teams accept a fair price. What they resent is the surprise invoice. Caps, "
                "alerts and budgets matter more than the per-gigabyte rate.",
            ),
        ],
    },
    {
        "slug": "opinion-startups-should-instrument-early",
        "title": "Startups should instrument from day one",
        "category": "opinion",
        "tags": ["startup", "analytics", "onboarding"],
        "intro": "The cheapest time to add telemetry is before you have customers to lose.",
        "sections": [
            (
                "You will need the history",
                "The week you find product-market fit is the week you wish you had six months "
                "of usage data to compare against.",
            ),
            (
                "Small is fine",
                "A handful of events and one error tracker are enough. Good habits scale; "
                "retrofitting telemetry into a grown codebase does not.",
            ),
        ],
    },
    {
        "slug": "opinion-enterprise-buyers-want-self-serve",
        "title": "Enterprise buyers want self-serve too",
        "category": "opinion",
        "tags": ["enterprise", "onboarding", "pricing"],
        "intro": (
            "The engineers evaluating your product would rather try it than sit through a demo."
        ),
        "sections": [
            (
                "Let them in",
                "A trial workspace with sample data lets an evaluator prove the product works "
                "for them before procurement ever hears the name.",
            ),
            (
                "Then support the paperwork",
                "Security questionnaires, DPAs and invoicing terms are where enterprise deals "
                "stall. Publish the answers and the templates.",
            ),
        ],
    },
]

PRODUCTS: list[dict] = [
    {
        "slug": "starter-plan",
        "title": "Starter plan",
        "sku": "NW-SW-STARTER",
        "price": "29.00",
        "category": "software",
        "tags": ["startup", "pricing"],
        "description": "Everything a small team needs: 20 GB monthly ingest, 15-day retention, "
        "unlimited seats and email support.",
    },
    {
        "slug": "team-plan",
        "title": "Team plan",
        "sku": "NW-SW-TEAM",
        "price": "149.00",
        "category": "software",
        "tags": ["startup", "devops", "analytics"],
        "description": "For growing engineering teams: 200 GB monthly ingest, anomaly detection, "
        "the Kubernetes integration and chat support.",
    },
    {
        "slug": "enterprise-plan",
        "title": "Enterprise plan",
        "sku": "NW-SW-ENT",
        "price": "1490.00",
        "category": "software",
        "tags": ["enterprise", "security"],
        "description": "SSO and SCIM, audit logs, customer-managed keys, data residency, a 99.95% "
        "SLA and a named customer success manager.",
    },
    {
        "slug": "ai-assistant-add-on",
        "title": "AI assistant add-on",
        "sku": "NW-SW-AI",
        "price": "49.00",
        "category": "software",
        "tags": ["ai", "analytics"],
        "description": "Natural-language queries, incident summaries and AI alert triage for "
        "every user in the workspace.",
    },
    {
        "slug": "security-analytics-add-on",
        "title": "Security analytics add-on",
        "sku": "NW-SW-SEC",
        "price": "399.00",
        "category": "software",
        "tags": ["security", "enterprise", "analytics"],
        "description": "Detection rules for cloud audit logs, threat intelligence enrichment and "
        "a one-year immutable archive.",
    },
    {
        "slug": "edge-collector-appliance",
        "title": "Edge collector appliance",
        "sku": "NW-HW-EDGE",
        "price": "899.00",
        "category": "hardware",
        "tags": ["enterprise", "devops", "security"],
        "description": "A rack-mounted collector for on-premises networks: buffers up to 2 TB, "
        "encrypts in transit and forwards when the link is up.",
    },
    {
        "slug": "hardware-security-key-pack",
        "title": "Hardware security key (5-pack)",
        "sku": "NW-HW-KEY5",
        "price": "199.00",
        "category": "hardware",
        "tags": ["security", "onboarding"],
        "description": "FIDO2 keys pre-registered for your workspace, so the whole team can move "
        "to phishing-resistant sign-in in an afternoon.",
    },
    {
        "slug": "developer-sensor-kit",
        "title": "IoT sensor developer kit",
        "sku": "NW-HW-IOTKIT",
        "price": "149.00",
        "category": "hardware",
        "tags": ["devops", "analytics", "startup"],
        "description": "Three sensors, a gateway and sample dashboards for prototyping device "
        "telemetry pipelines.",
    },
    {
        "slug": "onboarding-jumpstart",
        "title": "Onboarding jumpstart",
        "sku": "NW-SV-JUMP",
        "price": "2500.00",
        "category": "services",
        "tags": ["onboarding", "enterprise"],
        "description": "Two weeks with a solutions engineer: integrations, dashboards for your "
        "top services and alerting tuned to your on-call rota.",
    },
    {
        "slug": "security-architecture-review",
        "title": "Security architecture review",
        "sku": "NW-SV-SECREV",
        "price": "4800.00",
        "category": "services",
        "tags": ["security", "enterprise"],
        "description": "A written review of your logging and detection coverage against your "
        "threat model, with a prioritised remediation plan.",
    },
    {
        "slug": "devops-observability-course",
        "title": "Observability for DevOps (online course)",
        "sku": "NW-TR-DEVOPS",
        "price": "299.00",
        "category": "training",
        "tags": ["devops", "onboarding"],
        "description": "Six self-paced modules on metrics, logs and traces, with labs on a real "
        "Kubernetes cluster and a certificate of completion.",
    },
    {
        "slug": "applied-ai-for-operations-workshop",
        "title": "Applied AI for operations (workshop)",
        "sku": "NW-TR-AIOPS",
        "price": "690.00",
        "category": "training",
        "tags": ["ai", "devops", "analytics"],
        "description": "A one-day live workshop on anomaly detection, alert triage and using "
        "language models safely in incident response.",
    },
]


def _views(tag: str, n: int, days: int = 30) -> dict:
    return {
        "type": "event_count",
        "params": {
            "event": "page_view",
            "dimension": f"tag:{tag}",
            "op": ">=",
            "value": n,
            "within": {"amount": days, "unit": "days"},
        },
    }


# (slug, name, priority, description, rules): what an editor would write for this site.
SEGMENTS = [
    (
        "security-buyers",
        "Security-minded buyers",
        30,
        "Read security or enterprise content repeatedly this month.",
        {"any": [_views("security", 3), _views("enterprise", 3)]},
    ),
    (
        "startup-founders",
        "Startup founders",
        20,
        "Care about pricing and the startup programme, not yet customers.",
        {
            "all": [
                {"any": [_views("startup", 2), _views("pricing", 2)]},
                {
                    "not": {
                        "type": "event_count",
                        "params": {"event": "purchase", "op": ">=", "value": 1},
                    }
                },
            ]
        },
    ),
    (
        "ai-curious",
        "AI curious",
        10,
        "Three or more AI articles in the last 30 days.",
        _views("ai", 3),
    ),
    (
        "big-spenders",
        "Big spenders",
        40,
        "Bought for 500 or more in the last 30 days.",
        {
            "type": "value_sum",
            "params": {
                "event": "purchase",
                "op": ">=",
                "value": 500,
                "within": {"amount": 30, "unit": "days"},
            },
        },
    ),
    (
        "likely-buyers",
        "Likely buyers",
        35,
        "The conversion model gives them 40 or more out of 100 (filled once models are trained).",
        {"type": "score", "params": {"name": "conversion", "op": "gte", "value": 40}},
    ),
    (
        "newcomers",
        "Newcomers",
        0,
        "First visit.",
        {"type": "returning", "params": {"value": False}},
    ),
    (
        "mobile-now",
        "On a phone right now",
        5,
        "Checked per request: the device of this request.",
        {"type": "device", "params": {"in": ["mobile"]}},
    ),
    (
        "night-owls",
        "Night owls",
        1,
        "Browsing between 22:00 and 06:00 in their own time zone.",
        {"type": "time_of_day", "params": {"from": "22:00", "to": "06:00"}},
    ),
]


# --------------------------------------------------------------------------------------------
# Personalized content: what each seeded segment sees
# --------------------------------------------------------------------------------------------
#
# Content is a list of (block type, value) pairs of the plugin's VariantContentBlock: heading,
# paragraph (rich text), call_to_action ({text, link, style}). Variants are tried in order and
# the first whose segments match wins, so the most specific audience comes first. "newcomers"
# and "night-owls" get no variant of their own: a first-time visitor without consent is a
# newcomer, and they should see the default content.


def _content(heading: str, paragraph: str, *ctas: tuple[str, str, str]) -> list[tuple[str, object]]:
    """A heading, one paragraph and call-to-action buttons given as (text, link, style)."""
    blocks: list[tuple[str, object]] = [("heading", heading), ("paragraph", f"<p>{paragraph}</p>")]
    blocks += [("call_to_action", {"text": t, "link": link, "style": s}) for t, link, s in ctas]
    return blocks


def _variant(name: str, segments: list[str], content: list, match: str = "any") -> dict:
    return {"name": name, "segments": segments, "match": match, "content": content}


# Personalized snippets, shown by ``{% personalized_snippet "slug" %}`` in the templates.
PERSONALIZED_CONTENT: list[dict] = [
    {
        "slug": "welcome-banner",
        "name": "Welcome banner",
        "description": "The banner above every page of the site (templates/base.html).",
        "variants": [
            _variant(
                "Customers",
                ["big-spenders"],
                _content(
                    "Thanks for building with Northwind",
                    "As a customer you can add the AI assistant to every seat in your workspace, "
                    "and your first month is on us.",
                    ("Add the AI assistant", "/products/ai-assistant-add-on/", "primary"),
                ),
            ),
            _variant(
                "Security reviewers",
                ["security-buyers"],
                _content(
                    "Security review coming up?",
                    "Our SOC 2 Type II report, data residency in Frankfurt and customer-managed "
                    "keys are ready for your questionnaire.",
                    ("Get the SOC 2 report", "/articles/soc2-type-ii-report-available/", "primary"),
                    ("Enterprise plan", "/products/enterprise-plan/", "secondary"),
                ),
            ),
            _variant(
                "Founders",
                ["startup-founders"],
                _content(
                    "A year of the Team plan, free for startups",
                    "Companies under three years old with less than five million in funding can "
                    "apply to the Northwind startup programme.",
                    ("Apply to the programme", "/articles/startup-programme-2025/", "primary"),
                ),
            ),
            _variant(
                "AI readers",
                ["ai-curious"],
                _content(
                    "Ask your telemetry a question",
                    "The Northwind AI assistant turns plain-language questions into queries you "
                    "can read, edit and run.",
                    (
                        "Meet the AI assistant",
                        "/articles/introducing-northwind-ai-assistant/",
                        "primary",
                    ),
                ),
            ),
            _variant(
                "On a phone",
                ["mobile-now"],
                _content(
                    "Five minutes on your phone, a better first week",
                    "Our onboarding checklist fits on one screen: seven small steps from an empty "
                    "workspace to a dashboard your team will use.",
                    ("Read the checklist", "/articles/onboarding-checklist-first-week/", "primary"),
                ),
            ),
        ],
        "fallback": _content(
            "Observability without the per-seat bill",
            "Unlimited seats on every plan, usage-based pricing and a free tier of 5 GB a month.",
            ("Compare plans", "/products/?category=software", "primary"),
            ("Read the guides", "/articles/?category=guides", "secondary"),
        ),
    },
    {
        "slug": "pricing-cta",
        "name": "Pricing call to action",
        "description": "Below the price on every product page (templates/demo/product_page.html).",
        "variants": [
            _variant(
                "Customers",
                ["big-spenders"],
                _content(
                    "Adding to your plan?",
                    "Customers on an annual contract get add-ons at their contracted discount. "
                    "Your customer success manager can put this on your next invoice.",
                    ("Email your account team", "mailto:success@example.com", "primary"),
                ),
            ),
            _variant(
                "Security reviewers",
                ["security-buyers"],
                _content(
                    "Need it through a security review?",
                    "Get our SOC 2 Type II report and a completed standard questionnaire before "
                    "you talk to sales, or have our team review your architecture.",
                    ("Get the SOC 2 report", "/articles/soc2-type-ii-report-available/", "primary"),
                    (
                        "Security architecture review",
                        "/products/security-architecture-review/",
                        "secondary",
                    ),
                ),
            ),
            _variant(
                "Founders",
                ["startup-founders"],
                _content(
                    "Startup? Don't pay list price",
                    "The startup programme includes twelve months of the Team plan and 50 GB of "
                    "monthly ingest at no cost.",
                    ("Apply to the programme", "/articles/startup-programme-2025/", "primary"),
                    ("Starter plan", "/products/starter-plan/", "secondary"),
                ),
            ),
            _variant(
                "On a phone",
                ["mobile-now"],
                _content(
                    "Pricing in one line",
                    "Free up to 5 GB a month, then from €29. Unlimited seats on every plan.",
                    ("Compare plans", "/products/?category=software", "primary"),
                ),
            ),
        ],
        "fallback": _content(
            "Try it free for 14 days",
            "No credit card, unlimited seats, and your data stays yours. Cancel any time.",
            ("Start with the Starter plan", "/products/starter-plan/", "primary"),
            ("Enterprise plan", "/products/enterprise-plan/", "secondary"),
        ),
    },
]

# ``personalized`` blocks added to page bodies, by page slug ("home" is the home page). The home
# page's block follows its introduction; an article's closes the article.
PERSONALIZED_BLOCKS: dict[str, dict] = {
    "home": {
        "variants": [
            _variant(
                "Security reviewers",
                ["security-buyers"],
                _content(
                    "Start with access control",
                    "Connect your identity provider, let SCIM manage who has access, and keep "
                    "every change in an immutable audit log. Most teams finish in an afternoon.",
                    ("Set up SSO and SCIM", "/articles/sso-and-scim-setup/", "primary"),
                ),
            ),
            _variant(
                "Founders",
                ["startup-founders"],
                _content(
                    "Start small, grow without a price shock",
                    "The Starter plan covers 20 GB of monthly ingest for €29. When you outgrow "
                    "it you pay for data, never for the people looking at it.",
                    ("See the Starter plan", "/products/starter-plan/", "primary"),
                ),
            ),
            _variant(
                "AI readers",
                ["ai-curious"],
                _content(
                    "Start with fewer, better alerts",
                    "AI triage groups related alerts into one incident with a suggested cause. "
                    "MediSync cut its pages by 60% in a quarter.",
                    (
                        "Read the MediSync story",
                        "/articles/case-study-medisync-ai-triage/",
                        "primary",
                    ),
                ),
            ),
        ],
        "fallback": _content(
            "Start with one service",
            "Connect the service you care about most, build one dashboard that answers a real "
            "question, and add the rest when that one earns its keep.",
            (
                "Your first week, step by step",
                "/articles/onboarding-checklist-first-week/",
                "primary",
            ),
        ),
    },
    "announcing-usage-based-pricing": {
        "variants": [
            _variant(
                "Customers",
                ["big-spenders"],
                _content(
                    "What this means for your contract",
                    "Your annual contract keeps its terms until renewal. Ask your customer "
                    "success manager for a usage forecast under the new model first.",
                    ("Keep ingest costs down", "/articles/cost-control-for-log-ingest/", "primary"),
                ),
            ),
            _variant(
                "Founders",
                ["startup-founders"],
                _content(
                    "Early-stage? It gets better",
                    "On top of usage-based pricing, the startup programme gives eligible "
                    "companies twelve months of the Team plan free.",
                    ("Apply to the programme", "/articles/startup-programme-2025/", "primary"),
                ),
            ),
        ],
        "fallback": _content(
            "What would you pay?",
            "Most teams we modelled pay between 10% and 30% less. Compare the plans, or read how "
            "Globex cut its bill by a third.",
            ("Compare plans", "/products/?category=software", "primary"),
            ("The Globex story", "/articles/case-study-globex-cost-savings/", "secondary"),
        ),
    },
    "soc2-type-ii-report-available": {
        "variants": [
            _variant(
                "Security reviewers",
                ["security-buyers"],
                _content(
                    "Going through vendor review?",
                    "Our security engineers will review your logging and detection coverage "
                    "against your threat model and write up a prioritised plan.",
                    (
                        "Book an architecture review",
                        "/products/security-architecture-review/",
                        "primary",
                    ),
                ),
            ),
            _variant(
                "Founders",
                ["startup-founders"],
                _content(
                    "Selling to enterprises yourself?",
                    "Your first security questionnaire is coming. Read why security belongs in "
                    "the product, not on a checklist.",
                    (
                        "Security is a product feature",
                        "/articles/opinion-security-is-a-product-feature/",
                        "primary",
                    ),
                ),
            ),
        ],
        "fallback": _content(
            "Security you can switch on today",
            "SSO and SCIM provisioning are included in every plan. Setting them up takes less "
            "than an hour.",
            ("Set up SSO and SCIM", "/articles/sso-and-scim-setup/", "primary"),
        ),
    },
    "introducing-northwind-ai-assistant": {
        "variants": [
            _variant(
                "Customers",
                ["big-spenders"],
                _content(
                    "Try it in your workspace",
                    "The AI assistant add-on covers every user in the workspace, and customers "
                    "get the first month free.",
                    ("AI assistant add-on", "/products/ai-assistant-add-on/", "primary"),
                ),
            ),
            _variant(
                "AI readers",
                ["ai-curious"],
                _content(
                    "Go deeper in a day",
                    "Our live workshop covers anomaly detection, alert triage and using language "
                    "models safely in incident response.",
                    (
                        "Applied AI for operations",
                        "/products/applied-ai-for-operations-workshop/",
                        "primary",
                    ),
                ),
            ),
        ],
        "fallback": _content(
            "Where AI helps, and where it doesn't",
            "Gathering context during an incident, yes. Deciding what to do, no. Our take on AI "
            "for on-call teams.",
            (
                "AI won't replace your on-call engineer",
                "/articles/opinion-ai-will-not-replace-on-call/",
                "primary",
            ),
        ),
    },
}
