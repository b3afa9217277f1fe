"""The Salesforce connector: Leads and Contacts of one org over REST, Bulk API 2.0 and SOAP.

How Tasks, Events and campaign responses become canonical events is in ``MAPPING.md``
beside this file. Importing this package registers the connector as ``salesforce``.
"""

from leadsync.connectors.salesforce.connector import SalesforceConnector, open_salesforce

__all__ = ["SalesforceConnector", "open_salesforce"]
