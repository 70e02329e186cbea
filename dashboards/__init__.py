"""searchlab's dashboard panels: one module per kind of panel or per method.

Each public module here is a panel (see :mod:`searchlab.dashboard` for the interface); modules
whose names start with ``_`` are shared helpers. To add a method's panel, add a file.
"""
