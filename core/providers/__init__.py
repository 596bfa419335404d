"""Push providers: one small interface (``base.PushProvider``), three implementations (FCM, APNs, Web Push)."""
