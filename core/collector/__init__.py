"""The SDK ingest API: devices (simulated or real) register and report events to Herald over HTTP."""

from core.collector.ingest import DeviceRegistered, IngestResult, IngestService, Rejection

__all__ = ["DeviceRegistered", "IngestResult", "IngestService", "Rejection"]
