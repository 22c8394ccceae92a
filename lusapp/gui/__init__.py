"""PySide6 GUI (the only package, with lusapp/cli.py, that imports Qt). Entry point: ``lusapp.gui.app.run_gui``."""
