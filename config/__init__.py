"""The settings schema, the shipped model templates and example data."""
