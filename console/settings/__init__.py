"""Settings: provider profiles, the workspace database and the SDK key."""
