"""Campaigns: the list, the send flow and the live dashboard."""
