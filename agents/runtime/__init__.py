"""The run runtime: dispatch to an executor (Celery or in-process), claim, the agent loop and its context
window, LLM calls, tool rules, run events, and the run's end (finish, waiting, the next run)."""
