"""Django finds models here; each is defined in the module of its layer."""

from .consent.models import ConsentChange, ConsentRecord
from .events.models import Event
from .privacy.models import PrivacyAuditEntry
from .profiles.models import ProfileCounter, VisitorAlias, VisitorProfile
from .scoring.models import ModelVersion, Persona
from .segments.models import Segment, SegmentMembership, SegmentSizeHistory
from .variants.models import Impression, PersonalizedContent

__all__ = [
    "ConsentChange",
    "ConsentRecord",
    "Event",
    "Impression",
    "ModelVersion",
    "Persona",
    "PersonalizedContent",
    "PrivacyAuditEntry",
    "ProfileCounter",
    "Segment",
    "SegmentMembership",
    "SegmentSizeHistory",
    "VisitorAlias",
    "VisitorProfile",
]
