"""Conditions on the request being served: evaluated per request, in memory, never stored."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings

from .base import REQUEST, Condition, ConditionError, EvalContext, choice, param, regex
from .fields import field as param_field
from .fields import one_of, zone

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _zone(name: str):
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class RequestCondition(Condition):
    kind = REQUEST

    def matches(self, ctx: EvalContext) -> bool:
        if ctx.request is None:
            return False  # no request (bulk counts): the caller treats it as "may match"
        return self.check(ctx)

    def check(self, ctx: EvalContext) -> bool:
        raise NotImplementedError


class _OneOf(RequestCondition):
    """The request's attribute is one of a list (options, when declared, are checked by the
    base class from ``fields``)."""

    attribute = ""

    def __init__(self, params):
        super().__init__(params)
        values = param(params, "in", (list,))
        if not values or any(not isinstance(v, str) or not v for v in values):
            raise ConditionError("params.in", "A non-empty list of strings.")
        self.values = {v.lower() for v in values}

    def check(self, ctx: EvalContext) -> bool:
        return getattr(ctx.request, self.attribute, "").lower() in self.values


class Device(_OneOf):
    type = "device"
    label = "Device type"
    attribute = "device_type"
    fields = [
        param_field("in", "choices", "Devices", options=["desktop", "mobile", "tablet", "other"])
    ]


class OperatingSystem(_OneOf):
    type = "os"
    label = "Operating system"
    attribute = "os"
    fields = one_of("Operating systems", "iOS, Android")


class Browser(_OneOf):
    type = "browser"
    label = "Browser"
    attribute = "browser"
    fields = one_of("Browsers", "Chrome, Safari")


class Country(_OneOf):
    type = "country"
    label = "Country (from the CDN)"
    attribute = "country"
    fields = one_of("Countries", "DE, AT, CH")


class Region(_OneOf):
    type = "region"
    label = "Region (from the CDN)"
    attribute = "region"
    fields = one_of("Regions", "BY, NW")


class Language(RequestCondition):
    type = "language"
    label = "Language"
    description = "Primary language of the browser, e.g. 'de' matches 'de-AT'."
    fields = one_of("Languages", "de, en-GB")

    def __init__(self, params):
        super().__init__(params)
        values = param(params, "in", (list,))
        if not values or any(not isinstance(v, str) or not v for v in values):
            raise ConditionError("params.in", "A non-empty list of language codes.")
        self.values = {v.lower() for v in values}

    def check(self, ctx: EvalContext) -> bool:
        language = ctx.request.language.lower()
        return language in self.values or language.split("-")[0] in self.values


def _local_now(ctx: EvalContext, zone_param: str) -> datetime:
    zone = _zone(zone_param) if zone_param != "visitor" else None
    if zone is None:
        zone = _zone(ctx.timezone) or _zone(settings.TIME_ZONE) or zoneinfo.ZoneInfo("UTC")
    return ctx.now.astimezone(zone)


def _zone_param(params) -> str:
    name = param(params, "timezone", (str,), required=False, default="visitor")
    if name != "visitor" and _zone(name) is None:
        raise ConditionError("params.timezone", "Unknown time zone (use an IANA name).")
    return name


class TimeOfDay(RequestCondition):
    type = "time_of_day"
    label = "Local time of day"
    description = (
        "From-to in the visitor's time zone where known (tracker.js's pz_tz cookie, the API's "
        "timezone), else the site's TIME_ZONE; or a fixed zone. 22:00-06:00 spans midnight."
    )
    fields = [param_field("from", "time", "From"), param_field("to", "time", "To"), zone()]

    def __init__(self, params):
        super().__init__(params)
        self.start = self._time(params, "from")
        self.end = self._time(params, "to")
        self.zone = _zone_param(params)

    @staticmethod
    def _time(params, name) -> time:
        raw = param(params, name, (str,))
        try:
            return time.fromisoformat(raw)
        except ValueError:
            raise ConditionError(f"params.{name}", "Must be a time, HH:MM.") from None

    def check(self, ctx: EvalContext) -> bool:
        now = _local_now(ctx, self.zone).time()
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end  # across midnight


class DayOfWeek(RequestCondition):
    type = "day_of_week"
    label = "Day of week"
    description = (
        "The day in the visitor's time zone where known (tracker.js's pz_tz cookie, the API's "
        "timezone), else the site's TIME_ZONE; or a fixed zone."
    )
    fields = [param_field("in", "choices", "Days", options=DAYS), zone()]

    def __init__(self, params):
        super().__init__(params)
        days = param(params, "in", (list,))
        if not days:
            raise ConditionError("params.in", "Name at least one day.")
        self.days = set(days)
        self.zone = _zone_param(params)

    def check(self, ctx: EvalContext) -> bool:
        return DAYS[_local_now(ctx, self.zone).weekday()] in self.days


class DateRange(RequestCondition):
    type = "date_range"
    label = "Date range"
    description = "Between two moments (ISO 8601 with offset), e.g. a campaign period."
    fields = [
        param_field(
            "from", "text", "From", required=False, placeholder="2025-11-28T00:00:00+01:00"
        ),
        param_field("to", "text", "Until", required=False, placeholder="2025-12-01T00:00:00+01:00"),
    ]

    def __init__(self, params):
        super().__init__(params)
        from django.utils.dateparse import parse_datetime

        self.bounds = {}
        for name in ("from", "to"):
            raw = param(params, name, (str,), required=False)
            if raw is None:
                continue
            parsed = parse_datetime(raw)
            if parsed is None or parsed.tzinfo is None:
                raise ConditionError(f"params.{name}", "Must be an ISO 8601 date-time with offset.")
            self.bounds[name] = parsed
        if not self.bounds:
            raise ConditionError("params", "Give 'from', 'to' or both.")

    def matches(self, ctx: EvalContext) -> bool:  # needs only the clock, not a request
        start, end = self.bounds.get("from"), self.bounds.get("to")
        return (start is None or ctx.now >= start) and (end is None or ctx.now < end)


class Referrer(RequestCondition):
    type = "referrer"
    label = "Referrer"
    description = "The page the visitor came from: a domain (and its subdomains) or a regex."
    fields = [
        param_field(
            "match",
            "select",
            "Match",
            required=False,
            options=["domain", "regex"],
            default="domain",
        ),
        param_field("value", "text", "Referrer", placeholder="google.com"),
    ]

    def __init__(self, params):
        super().__init__(params)
        self.mode = choice(params, "match", self.options("match"), default="domain")
        if self.mode == "domain":
            self.domain = param(params, "value", (str,)).lower().lstrip(".")
        else:
            self.pattern = regex(params, "value")

    def check(self, ctx: EvalContext) -> bool:
        referrer = ctx.request.referrer
        if not referrer:
            return False
        if self.mode == "regex":
            return self.pattern.search(referrer) is not None
        host = (urlsplit(referrer).hostname or "").lower()
        return host == self.domain or host.endswith("." + self.domain)


class QueryParameter(RequestCondition):
    """A parameter of the page's URL (UTM tags...): present, or its value equals, contains or
    starts with a text, optionally ignoring case. Without ``match`` a value is compared exactly
    and case-sensitively, as rules saved before the options were."""

    type = "query_param"
    label = "Query or UTM parameter"
    description = "A URL parameter: present, or equal to / containing / starting with a text."
    fields = [
        param_field("name", "text", "Parameter", placeholder="utm_campaign"),
        param_field(
            "match",
            "select",
            "Match",
            required=False,
            options=["equals", "contains", "starts_with"],
            default="equals",
        ),
        param_field("value", "text", "Value", required=False, placeholder="(any value)"),
        param_field(
            "ignore_case",
            "bool",
            "Case",
            required=False,
            true_label="Ignore case",
            false_label="Match case",
        ),
    ]

    def __init__(self, params):
        super().__init__(params)
        self.name = param(params, "name", (str,))
        self.match = choice(params, "match", self.options("match"), default="equals")
        # A text test needs a text; "equals" without one keeps meaning "present".
        self.value = param(params, "value", (str,), required=self.match != "equals")
        self.ignore_case = param(params, "ignore_case", (bool,), required=False, default=False)
        if self.value is not None and self.ignore_case:
            self.value = self.value.casefold()

    def check(self, ctx: EvalContext) -> bool:
        query = dict(parse_qsl(urlsplit(ctx.request.url).query, keep_blank_values=True))
        if self.name not in query:
            return False
        if self.value is None:
            return True
        actual = query[self.name].casefold() if self.ignore_case else query[self.name]
        if self.match == "contains":
            return self.value in actual
        if self.match == "starts_with":
            return actual.startswith(self.value)
        return actual == self.value


class LoggedIn(RequestCondition):
    type = "logged_in"
    label = "Logged in"
    fields = [
        param_field("value", "bool", "Logged in", true_label="Logged in", false_label="Anonymous")
    ]

    def __init__(self, params):
        super().__init__(params)
        self.value = param(params, "value", (bool,))

    def matches(self, ctx: EvalContext) -> bool:
        return ctx.is_authenticated == self.value


class UserGroup(RequestCondition):
    type = "user_group"
    label = "User in group"
    fields = one_of("Groups", "Customers, Staff")

    def __init__(self, params):
        super().__init__(params)
        self.groups = param(params, "in", (list,))
        if not self.groups or any(not isinstance(g, str) for g in self.groups):
            raise ConditionError("params.in", "A non-empty list of group names.")

    def matches(self, ctx: EvalContext) -> bool:
        return bool(ctx.user_groups & set(self.groups))


REQUEST_CONDITIONS = [
    Device,
    OperatingSystem,
    Browser,
    Country,
    Region,
    Language,
    TimeOfDay,
    DayOfWeek,
    DateRange,
    Referrer,
    QueryParameter,
    LoggedIn,
    UserGroup,
]
