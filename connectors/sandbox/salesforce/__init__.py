"""A local Salesforce org over HTTPS; what it emulates and why: ``README.md`` beside this file."""
