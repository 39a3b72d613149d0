"""Security: the encrypted secrets vault, the tamper-evident audit trail and the masking
functions for personal data (LGPD)."""
