"""CRM adapters and the sandbox CRMs the tests and demo run on.

The contract every connector meets is in ``base.py``; each CRM is a package beside it
(``hubspot/``, ``salesforce/``), imported by name the first time an account needs it,
and the sandbox CRMs live in ``sandbox/``. A third CRM is one more package here.
"""
