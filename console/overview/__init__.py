"""The Overview screen: what is in the workspace and how devices reach it."""
