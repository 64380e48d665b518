"""Bridges to other tools' own interfaces (`agenthpo.integrations.optuna`). Each imports its tool only
when it is imported itself."""
