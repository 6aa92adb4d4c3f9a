"""The admin REST API (``/admin/...``, OpenAPI at ``/admin/openapi.json``) and, later, the web console."""
