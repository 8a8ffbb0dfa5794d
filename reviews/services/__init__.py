"""Application services: the only code that changes workflow state, the edit log and files."""
