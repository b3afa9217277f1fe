"""CRM adapters (HubSpot, Salesforce) and the sandbox CRMs the tests and demo run on.

Importing this package registers the built-in connectors by name (see ``base.py``).
"""

from leadsync.connectors import hubspot, salesforce  # noqa: F401 - register "hubspot", "salesforce"
