"""A local HubSpot portal over HTTP; what it emulates and why: ``README.md`` beside this file."""
