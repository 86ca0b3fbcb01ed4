"""Reads for coupons, one module per area, mirroring ``coupons.services``."""
