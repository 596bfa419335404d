"""The composer: push content and the exact platform payloads built from it."""
