"""Local HubSpot and Salesforce servers for tests, the demo and benchmarks.

Each CRM's sandbox is a package of its own (``hubspot/``, ``salesforce/``); what they
share stays here: the generated people (``data.py``), fault injection and request
counters (``faults.py``) and the throwaway TLS authority (``tls.py``).
"""
