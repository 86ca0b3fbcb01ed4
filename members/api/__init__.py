"""The member endpoints, one module per area; routes in ``members.urls``."""
