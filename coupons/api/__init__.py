"""The coupon and flash-deal endpoints, one module per area; routes in ``coupons.urls``."""
