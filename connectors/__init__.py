"""CRM adapters (HubSpot, Salesforce) and the sandbox CRMs the tests and demo run on.

Importing this package registers the built-in connectors by name (see ``base.py``).
"""

from leadsync.connectors import hubspot  # noqa: F401 - registers "hubspot"
