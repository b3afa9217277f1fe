"""Fixtures shared by every test package: the shipped model templates."""

from __future__ import annotations

import pytest

from leadsync.config.templates import resolve_model
from leadsync.scoring.model import ScoringModel


@pytest.fixture(scope="session")
def b2b() -> ScoringModel:
    return resolve_model("b2b-saas")


@pytest.fixture(scope="session")
def b2c() -> ScoringModel:
    return resolve_model("b2c-ecommerce")


@pytest.fixture(scope="session")
def weighted() -> ScoringModel:
    return resolve_model("weighted-sme")


@pytest.fixture(scope="session")
def lifecycle() -> ScoringModel:
    return resolve_model("lifecycle-phases")
