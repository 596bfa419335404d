"""Widgets shared by several screens: the navigation rail, page frames, cards and empty states."""
