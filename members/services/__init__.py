"""Writers for members, one module per area: accounts (login, profile, phone), legacy cards,
tags, notifications. Import from the module: ``from members.services.accounts import ...``."""
