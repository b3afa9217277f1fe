"""CRM adapters (HubSpot, Salesforce) and the sandbox CRMs the tests and demo run on."""
