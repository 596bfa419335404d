"""Herald's device simulator: virtual Android, iOS and web devices behind the real push protocols.

It never imports Qt, ``console``, ``core.sending``, ``core.providers`` or ``core.persistence``: it only
receives HTTP requests (FCM HTTP v1, APNs over HTTP/2, Web Push) and reports to Herald over HTTP, like a
phone. From ``core`` it uses only the shared value types in ``core.domain``.
"""
