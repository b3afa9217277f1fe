"""Orchestration, state, scheduling and the ``leadsync`` command line."""
