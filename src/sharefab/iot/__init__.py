"""Telemetry: MQTT subscriber, HTTP ingest, metering, idle detection."""
