"""Recommender models behind one interface (:class:`Recommender`)."""

from recpilot.models.base import Histories, Recommender, RecommenderConfig
from recpilot.models.popularity import PopularityRecommender
from recpilot.models.registry import MODELS, ModelSpec, available_models, build_model, model_class

__all__ = [
    "MODELS",
    "Histories",
    "ModelSpec",
    "PopularityRecommender",
    "Recommender",
    "RecommenderConfig",
    "available_models",
    "build_model",
    "model_class",
]
