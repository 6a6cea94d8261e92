"""REST service over the hygiene pipeline (FastAPI). Not built yet: see the REST service issue.

Kept as an empty package so the layering is visible: `service` imports `hygiene`, never the reverse.
"""
