"""The supervision register (督查登记) and its pages: survey/register/services.py."""
