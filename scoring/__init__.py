"""The scoring engine: pure functions from leads and a model to explained scores.

No network, no database, no clock: ``as_of`` is always an argument.
"""

from leadsync.scoring.engine import Reason, ScoreResult, score
from leadsync.scoring.lead import Event, Lead, parse_lead
from leadsync.scoring.loader import load_model, parse_model
from leadsync.scoring.model import ScoringModel

__all__ = [
    "Event",
    "Lead",
    "Reason",
    "ScoreResult",
    "ScoringModel",
    "load_model",
    "parse_lead",
    "parse_model",
    "score",
]
