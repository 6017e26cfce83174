"""Reporting: what the ops manager's Performance page and its exports read (`performance`), from the
daily roll-ups that `rollups` keeps. It reads the domain core and nothing of the engine; the engine
reads a carrier's track record through a selector (dispatch.selectors.track_record), never from here
(an import-linter contract keeps the two independent)."""
