"""The results blueprint: review, sign-off, publication, consequences, rectification, exports."""
