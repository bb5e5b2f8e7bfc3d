"""The HTTP interface: the API (``filiere serve``), API keys and webhooks."""
