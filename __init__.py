"""leadsync: lead scoring that lives in the CRM you already use.

The packages below this one follow the design card:

- ``leadsync.scoring``   the pure engine: leads and a model in, scores out (no I/O, no clock)
- ``leadsync.connectors`` CRM adapters and the sandbox CRMs
- ``leadsync.sync``      orchestration, state, scheduler and the ``leadsync`` command
- ``leadsync.config``    settings schema, shipped model templates and examples
- ``leadsync.errors``    the one exception tree every package raises from
"""

__version__ = "0.1.0"
