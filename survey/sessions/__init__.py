"""现场测评 sessions (issue #14): services.py (setup, state, live count, tally), routes.py (the pages)."""
