"""fastdata's policy pack: policies in `policies.py`, the `PolicyPack(...)` call alone in `__main__.py`."""
