"""Campaigns: defining one (from a file, until the composer and segments screens land), its audience, its list."""
