"""The API's routers: ``/v1`` (recommendations, sessions, feedback, profiles) and health/metrics."""
