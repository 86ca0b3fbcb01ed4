"""Writers for coupons, one module per area: coupons (campaigns, claims, redemptions, voids)
and flash_deals (grab, pay, cancel, refund), with flash_deal_gate, the Redis gate in front of
a deal's stock. Import from the module: ``from coupons.services.coupons import ...``."""
