"""Django finds models here; each is defined in the module of its layer."""

from .consent.models import ConsentChange, ConsentRecord
from .events.models import Event
from .experiments.models import Arm, Conversion, Experiment, ExperimentLogEntry, Exposure, Goal
from .privacy.models import PrivacyAuditEntry
from .profiles.models import ProfileCounter, VisitorAlias, VisitorProfile
from .recommendations.models import (
    Interaction,
    RecommendationImpression,
    RecommenderVersion,
    SimilarItems,
    VisitorRecommendations,
)
from .scoring.models import ModelVersion, Persona
from .segments.models import Segment, SegmentMembership, SegmentSizeHistory
from .variants.models import Impression, PersonalizedContent

__all__ = [
    "Arm",
    "Conversion",
    "Experiment",
    "ExperimentLogEntry",
    "Exposure",
    "Goal",
    "ConsentChange",
    "ConsentRecord",
    "Event",
    "Impression",
    "Interaction",
    "ModelVersion",
    "Persona",
    "PersonalizedContent",
    "PrivacyAuditEntry",
    "ProfileCounter",
    "RecommendationImpression",
    "RecommenderVersion",
    "Segment",
    "SegmentMembership",
    "SegmentSizeHistory",
    "SimilarItems",
    "VisitorAlias",
    "VisitorProfile",
    "VisitorRecommendations",
]
