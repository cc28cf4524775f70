"""The supervision register (督查登记) and its pages: survey/register/services.py; its basis of
escalation rules (verified cases of a kind): survey/register/escalation.py."""
