"""Herald's core: domain, persistence, collector and (later) sending, with no Qt anywhere.

Everything the console and the command line do goes through the public services exported from the
sub-packages; nothing here imports PySide6, shiboken6, pyqtgraph, ``console`` or ``simulator``.
"""
