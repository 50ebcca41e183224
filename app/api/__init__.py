"""HTTP routes (FastAPI routers mounted on NiceGUI's app by main.py)."""
