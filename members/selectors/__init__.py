"""Reads for members, one module per area, mirroring ``members.services``."""
