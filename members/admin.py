from members import legacy_admin  # noqa: F401  (legacy cards, tags, targeted issues)
