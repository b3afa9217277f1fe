"""The HubSpot connector: private-app, Service Key or OAuth access to one portal.

How contacts and their engagement become canonical leads is in ``MAPPING.md``
beside this file. Importing this package registers the connector as ``hubspot``.
"""

from leadsync.connectors.hubspot.connector import HubSpotConnector, open_hubspot

__all__ = ["HubSpotConnector", "open_hubspot"]
