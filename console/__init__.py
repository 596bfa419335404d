"""Herald's console: the PySide6 window. It talks to ``core`` only through services and typed results."""
